"""Plans as plain terminal text (`vvrun plan --format text`, `vvrun run --dry-run`).

No colour and no terminal tricks: the output is diffable and byte-identical for the same input.
`step_lines` is also the text that `--base` diffs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vvrun.plan.diff import PlanDiff
from vvrun.plan.model import Plan, PlannedStep

INDENT = "     "


def _indent(text: str, prefix: str = INDENT) -> list[str]:
    return [(prefix + line).rstrip() for line in text.splitlines()] or [prefix.rstrip()]


def counted(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def approvers_text(step: Any) -> str:
    """`2 approvers`, `2 approvers (group dba)`: a step's or planned step's `approvers:`."""
    n = step.approvers
    group = f" (group {step.approvers_group})" if step.approvers_group else ""
    return f"{n} approver{'s' if n != 1 else ''}{group}"


def flags(step: PlannedStep) -> list[str]:
    """Short words for what a reviewer must notice about a step."""
    out = []
    if step.danger:
        out.append("DANGER")
    if step.type == "confirm" or step.danger:
        out.append("asks to confirm" + (f" (type '{step.type_to_confirm}')"
                                        if step.type_to_confirm else ""))
    if step.approvers > 1 or step.approvers_group:
        out.append(approvers_text(step))
    if step.type == "manual":
        out.append("manual")
    if step.will_run is False:
        out.append("skipped")
    return out


def step_lines(step: PlannedStep, *, numbered: bool = True) -> list[str]:
    head = f"{step.number:>2}. " if numbered else ""
    marks = flags(step)
    lines = [f"{head}{step.id} [{step.type}] {step.title}"
             + (f"  !! {', '.join(marks)}" if marks else "")]
    if step.description:
        lines += _indent(step.description)
    if step.when:
        lines.append(f"{INDENT}when: {step.when}  → {step.condition}")
    if step.for_each:
        lines.append(f"{INDENT}for each item of: {step.for_each}")
        if step.items:
            lines += [f"{INDENT}  {line}" for line in loop_table(step).splitlines()]
    if step.target:
        lines.append(f"{INDENT}target: {step.target}")
    if step.type == "confirm":
        lines.append(f"{INDENT}asks: {step.confirm_prompt}")
        if step.type_to_confirm:
            lines.append(f"{INDENT}the operator must type: {step.type_to_confirm}")
        if step.on_no and step.on_no != "abort":
            lines.append(f"{INDENT}on no: {step.on_no}")
    elif step.type == "manual":
        lines += _indent(step.instructions or "")
        lines += [f"{INDENT}[ ] {item}" for item in step.checklist]
        for f in step.record:
            extra = f" — {f.description}" if f.description else ""
            if f.choices:
                extra += f" (one of: {', '.join(f.choices)})"
            if f.pattern:
                extra += f" (matching {f.pattern})"
            if f.optional:
                extra += " (optional)"
            lines.append(f"{INDENT}record: {f.name}{extra}")
        if step.verify:
            lines.append(f"{INDENT}then checks:")
            lines += _indent(step.verify, INDENT + "  ")
    else:
        lines += _indent(step.body or step.summary)
    for i, p in enumerate(step.params, 1):
        lines.append(f"{INDENT}${i} = {p}")
    lines += [f"{INDENT}{n}" for n in step.notes]
    if step.danger and step.for_each and step.type != "group":
        lines.append(f"{INDENT}danger: the operator confirms "
                     + ("each item's exact action before it runs" if step.confirm_each
                        else "every item's exact action once, as one table, before any runs"))
    elif step.danger:
        lines.append(f"{INDENT}danger: the operator confirms this exact action before it runs")
    if step.approvers > 1 or step.approvers_group:
        lines.append(f"{INDENT}needs {approvers_text(step)}, each signing with an SSH key "
                     f"(`vvrun approve RUN {step.id}`)")
    for label, value in (("timeout", step.timeout), ("retry", step.retry),
                         ("watch", step.watch)):
        if value:
            lines.append(f"{INDENT}{label}: {value}")
    lines += [f"{INDENT}expect: {e}" for e in step.expect]
    lines += [f"{INDENT}output {k}: {v}" for k, v in step.outputs]
    if step.on_failure != "abort":
        lines.append(f"{INDENT}on failure: {step.on_failure}")
    lines += [f"{INDENT}warning: {w}" for w in step.warnings]
    return lines


def plan_lines(plan: Plan) -> list[str]:
    lines = [f"Plan: {plan.name} — {plan.title}", f"  file: {plan.path}"]
    if plan.description:
        lines += _indent(plan.description.strip(), "  ")
    if plan.inputs:
        lines.append("  inputs:")
        lines += [f"    {i.name} = {i.display} ({i.source})" for i in plan.inputs]
    if plan.connections:
        lines.append("  connections:")
        lines += [f"    {c.name} ({c.kind}): {c.target}" for c in plan.connections]
    lines.append(f"  locks: {', '.join(plan.locks)}")
    lines.append(f"  {counted(len(plan.steps), 'step')} · {plan.danger_steps} danger · "
                 f"{counted(plan.confirmations, 'confirmation')} · "
                 f"{plan.manual_steps} manual")
    lines += [f"  warning: {w}" for w in plan.warnings]
    lines.append("")
    for step in plan.steps:
        lines += step_lines(step)
        lines.append("")
    if plan.notifications:
        lines.append("On run events (rendered here, sent only by a run):")
        for note in plan.notifications:
            required = " (required)" if note.required else ""
            lines.append(f"  {note.event}{required}:")
            lines += _indent(note.body, "    ")
        lines.append("")
    return lines


def diff_lines(diff: PlanDiff) -> list[str]:
    """What changed between two versions of a runbook, for a reviewer."""
    lines = [f"Changes: {diff.old.path} → {diff.new.path}"]
    if diff.empty:
        return [*lines, "  no change in what the runbook does", ""]
    lines += [f"  {h}" for h in diff.header]
    lines += [f"  + added   {s.number}. {s.id}: {s.title}" for s in diff.added]
    lines += [f"  - removed {s.id}: {s.title}" for s in diff.removed]
    lines += [f"  ~ changed {new.number}. {new.id}: {new.title}" for _, new in diff.changed]
    lines += [f"  ↕ moved   {old.id}: {old.number} → {new.number}" for old, new in diff.moved]
    for old, new in diff.changed:
        lines.append("")
        lines += unified(old, new)
    lines.append("")
    return lines


def unified(old: PlannedStep, new: PlannedStep) -> list[str]:
    import difflib  # only for `plan --diff`

    return list(difflib.unified_diff(
        step_lines(old, numbered=False), step_lines(new, numbered=False),
        fromfile=f"{old.id} (before)", tofile=f"{new.id} (after)", lineterm="", n=3,
    ))


def render_text(plans: Sequence[Plan], diffs: Sequence[PlanDiff | None] = ()) -> str:
    out: list[str] = []
    for i, plan in enumerate(plans):
        diff = diffs[i] if i < len(diffs) else None
        if diff is not None:
            out += diff_lines(diff)
        out += plan_lines(plan)
    return "\n".join(out).rstrip("\n") + "\n"


def loop_table(step: Any) -> str:
    """A planned dangerous loop's items as the table the run will ask about."""
    from vvrun.ui.items import items_table

    rows = [(str(d["item"]), d) for d in step.items if "item" in d]
    more = sum(int(d.get("more", 0)) for d in step.items)
    return items_table(step.id, rows) + (f"\n… and {more} more items" if more else "")
