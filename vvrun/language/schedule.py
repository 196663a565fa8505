"""`schedule:` — when `vvrun serve` starts a runbook by itself: its schema, its model value and
the check that the cron expression parses and the time zone exists (`vvrun validate`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_CRON = {"type": "string", "minLength": 1,
         "description": "Five cron fields: minute hour day-of-month month day-of-week.",
         "examples": ["0 9 * * *", "30 7 * * 1-5"]}

SCHEMA: Mapping[str, Any] = {
    "description": "When `vvrun serve` starts this runbook by itself: a cron expression (in "
    "UTC), or `{cron, timezone}`. A scheduled run is unattended: a `danger` step pauses for "
    "an approval, never auto-approves, and the runbook's notifiers are told.",
    "examples": ["0 9 * * *", {"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}],
    "oneOf": [
        _CRON,
        {"type": "object", "additionalProperties": False, "required": ["cron"],
         "properties": {
             "cron": _CRON,
             "timezone": {"type": "string", "minLength": 1, "default": "UTC",
                          "description": "An IANA time zone the cron fields are read in.",
                          "examples": ["Europe/Paris"]}}},
    ],
}


@dataclass(frozen=True)
class Schedule:
    """When `vvrun serve` starts this runbook by itself: a cron expression and its zone."""

    cron: str
    timezone: str = "UTC"


def parse(value: Any) -> Schedule | None:
    """The model value of a (schema-valid) `schedule:`; None when there is none."""
    if isinstance(value, str):
        return Schedule(value)
    if isinstance(value, Mapping) and isinstance(value.get("cron"), str):
        return Schedule(value["cron"], str(value.get("timezone") or "UTC"))
    return None


def problems(schedule: Schedule) -> list[tuple[str, str, str]]:
    """What is wrong with a schedule: (which key, what, what to do)."""
    found = []
    bad = cron_problem(schedule.cron)
    if bad:
        found.append(("cron", f"'{schedule.cron}' is not a cron expression: {bad}",
                      "five fields: minute hour day-of-month month day-of-week, e.g. "
                      "`0 9 * * 1-5`"))
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        found.append(("timezone", f"no time zone named '{schedule.timezone}'",
                      "an IANA name such as `UTC` or `Europe/Paris`"))
    return found


# The five fields as croniter reads them. Checked here rather than by importing croniter:
# its import runs `file` in a subprocess (platform.architecture), which validate and plan
# must not do.
_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
           ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                             "oct", "nov", "dec")),
           ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")))


def cron_problem(cron: str) -> str | None:
    """Why `cron` is not a five-field cron expression, or None."""
    parts = cron.split()
    if len(parts) != 5:
        return f"{len(parts)} fields, not 5"
    for text, (name, low, high, names) in zip(parts, _FIELDS, strict=True):
        for item in text.split(","):
            if not _item_ok(item.lower(), low, high, names):
                return f"the {name} field '{text}' (values {low}-{high})"
    return None


def _item_ok(item: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    base, slash, step = item.partition("/")
    if slash and not (step.isdigit() and int(step) > 0):
        return False
    if base == "*":
        return True
    ends = base.split("-")
    if len(ends) > 2:
        return False
    values = []
    for end in ends:
        if end in names:
            values.append(names.index(end) + (1 if low == 1 else 0))
        elif end.isdigit():
            values.append(int(end))
        else:
            return False
    return all(low <= v <= high for v in values)
