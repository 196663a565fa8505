"""The bounds of one plan: its total text, and how many `for_each` items it lists.

Each render is bounded (`language/templates/budget.py`, 1 MiB); a runbook of many steps that
each render a megabyte would still make a plan of gigabytes, so the plan counts as it goes and
stops at `MAX_PLAN_CHARS` with a message naming the step where it did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from vvrun.errors import Location, RunbookError

MAX_PLAN_CHARS = 2 * 1024 * 1024  # the plan file stays well under its own read limit
MAX_ITEMS_SHOWN = 20  # `for_each` items listed in a plan; the rest are counted
MAX_ITEM_CHARS = 80


class PlanTooLarge(RunbookError):
    """The plan's text went over `MAX_PLAN_CHARS`."""


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_chars(k) + _chars(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sum(_chars(v) for v in value)
    return 0


class PlanBudget:
    """Shared by a plan and the plans of the runbooks it calls."""

    def __init__(self, limit: int = MAX_PLAN_CHARS):
        self.limit, self.used = limit, 0

    def add(self, step: Any, where: Location | None) -> None:
        self.used += _chars(step.to_dict())
        if self.used > self.limit:
            raise PlanTooLarge(
                f"the plan is larger than {self.limit // (1024 * 1024)} MiB of text by step "
                f"'{step.id}'", where=where,
                hint="templates that render long texts (or long values given to them) make "
                "plans nobody can review: shorten them, or plan fewer steps at once")


def items_shown(expression: str, items: Iterable[Any], show: Callable[[Any], str]) -> str:
    """`inputs.hosts (3 items: db1, db2, db3)`; past `MAX_ITEMS_SHOWN`, `… and N more`."""
    values = list(items) if not isinstance(items, str | bytes) else [items]
    shown = []
    for value in values[:MAX_ITEMS_SHOWN]:
        text = show(value)
        shown.append(text if len(text) <= MAX_ITEM_CHARS else text[: MAX_ITEM_CHARS - 1] + "…")
    more = len(values) - len(shown)
    count = f"{len(values)} item" + ("" if len(values) == 1 else "s")
    listing = ", ".join(shown) + (f" … and {more} more" if more else "")
    return f"{expression} ({count}: {listing})" if values else f"{expression} (no items)"
