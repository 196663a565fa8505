"""What a plan shows of a `for_each` step's items and of a manual step's fields, when it can
render them: a dangerous loop's table of every rendered item (what the operator will approve
once), and choices from an expression (⟨…⟩ while they need a value only a run knows)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from vvrun.errors import VvrunError
from vvrun.language.model import Step
from vvrun.language.templates import DependsOn, Templater
from vvrun.plan.model import RecordInfo
from vvrun.plan.render import describe_step
from vvrun.steps.base import Connection

if TYPE_CHECKING:
    from vvrun.steps.manual import RecordField

MAX_ITEMS = 200  # a plan lists at most this many items; the run shows them all


def loop_items(step: Step, tpl: Templater, conns: Mapping[str, Connection],
               mask: Callable[[str], str]) -> tuple[dict[str, Any], ...]:
    """A dangerous loop's items, each rendered (`{item, summary, body, params, target}`,
    masked), when the plan knows them (`inputs.replicas`); none when the list needs a run
    (`steps.find.result.rows`): the plan then shows the loop's expression. At most
    MAX_ITEMS are rendered; the last entry then says how many more (`{"more": n}`)."""
    if not step.for_each or not step.danger or step.type in ("group", "runbook"):
        return ()
    try:
        items = tpl.expr(step.for_each)
    except (DependsOn, VvrunError):
        return ()
    if isinstance(items, Mapping):
        items = [{"key": k, "value": v} for k, v in items.items()]
    if not isinstance(items, list | tuple) or "⟨" in repr(items):
        return ()
    rows: list[dict[str, Any]] = []
    for i, item in enumerate(items[:MAX_ITEMS]):
        itpl = tpl.child(item=item, loop={"index": i + 1, "index0": i, "length": len(items),
                                          "first": i == 0, "last": i == len(items) - 1})
        desc, _, _ = describe_step(step.type, step.spec, itpl, conns)
        rows.append({
            "item": f"{step.id}[{i}]", "summary": mask(desc.summary),
            "body": mask(desc.body or ""),
            "target": mask(str(desc.target)) if desc.target else None,
            "params": [mask(p) if isinstance(p, str) else p for p in desc.params]})
    if len(items) > MAX_ITEMS:
        rows.append({"more": len(items) - MAX_ITEMS})
    return tuple(rows)


def record_info(f: RecordField, tpl: Templater, mask: Callable[[str], str]) -> RecordInfo:
    """A manual field as a plan shows it: choices from an expression rendered when the plan
    can, else the expression as ⟨…⟩."""
    from vvrun.steps.manual import record_choices  # a runbook with fields has manual steps

    choices: tuple[str, ...] = f.choices
    if f.choices_from is not None:
        try:
            choices = record_choices(f, tpl)
        except (DependsOn, VvrunError):
            choices = (f"⟨{f.choices_from}⟩",)
        if any("⟨" in c for c in choices):
            choices = (f"⟨{f.choices_from}⟩",)
    return RecordInfo(f.name, mask(f.description), tuple(mask(c) for c in choices), f.pattern,
                      f.optional)
