"""Markdown for people: plans as pull-request comments (`vvrun plan --format markdown`) and
runbooks as documents (`vvrun docs`).

GitHub-flavoured: tables, fenced blocks, `> [!WARNING]` alerts. Deterministic: the same input
gives the same bytes, so a committed document can be checked for staleness. Every piece of
runbook text goes through `vvrun.ui.markdown_text`, so none can change the document around it.
"""

from __future__ import annotations

from collections.abc import Sequence

from vvrun.language.model import Runbook, Step
from vvrun.plan.diff import PlanDiff
from vvrun.plan.model import Plan, PlannedStep
from vvrun.plan.render import fallback, show_value
from vvrun.text.controls import visible
from vvrun.text.durations import format_duration
from vvrun.ui.markdown_text import (
    alert,
    block,
    cell,
    code,
    comment_text,
    fence,
    inline,
    prose,
    quote,
)
from vvrun.ui.plan_text import approvers_text, unified

COMMENT_MARKER = "<!-- vvrun-plan -->"


def _language(lang: str) -> str:
    return {"text": "", "markdown": "markdown"}.get(lang, lang)


# -- plans -----------------------------------------------------------------------------------


def render_plans_markdown(plans: Sequence[Plan], diffs: Sequence[PlanDiff | None] = ()) -> str:
    out = [COMMENT_MARKER, "## vvrun plan", ""]
    out += ["| Runbook | Steps | Danger | Confirmations | Manual | Locks |",
            "|---|---:|---:|---:|---:|---|"]
    for plan in plans:
        locks = ", ".join(code(k) for k in plan.locks)
        out.append(
            f"| {code(plan.name)} {cell(inline(plan.title))} | {len(plan.steps)} | "
            f"{_bold_if(plan.danger_steps)} | {plan.confirmations} | {plan.manual_steps} | "
            f"{cell(locks)} |"
        )
    out.append("")
    out.append("Nothing was connected to, run or written to make this plan. Values only a run "
               "can know are shown as ⟨placeholders⟩; secrets as ⟨secret⟩; environment values "
               "as ⟨env.NAME⟩.")
    for i, plan in enumerate(plans):
        diff = diffs[i] if i < len(diffs) else None
        out += ["", "---", ""]
        out += _plan_section(plan, diff)
    # the pieces are made visible one by one; this is for the renderer's own text
    return visible("\n".join(out).rstrip("\n") + "\n")


def _bold_if(n: int) -> str:
    return f"**{n}**" if n else "0"


def _plan_section(plan: Plan, diff: PlanDiff | None) -> list[str]:
    out = [f"### {code(plan.name)} — {inline(plan.title)}", "", f"File: {code(plan.path)}", ""]
    if plan.description:
        out += [*quote(plan.description), ""]
    if diff is not None:
        out += _diff_section(diff)
    if plan.warnings:
        out += [*alert("WARNING", [inline(w) for w in plan.warnings]), ""]
    if plan.inputs:
        out += ["| Input | Value | Source |", "|---|---|---|"]
        out += [f"| {code(i.name)} | {cell(code(i.display))} | {cell(inline(i.source))}"
                f"{' (secret)' if i.secret else ''} |" for i in plan.inputs]
        out.append("")
    if plan.connections:
        out += ["| Connection | Kind | Target |", "|---|---|---|"]
        out += [f"| {code(c.name)} | {cell(inline(c.kind))} | {cell(code(c.target))} |"
                for c in plan.connections]
        out.append("")
    out += [f"Locks: {', '.join(code(k) for k in plan.locks)}", ""]
    for step in plan.steps:
        out += plan_step_markdown(step)
    if plan.notifications:
        out += ["#### On run events (rendered here, sent only by a run)", ""]
        for note in plan.notifications:
            out += [f"{code(note.event)}{' (required)' if note.required else ''}:", "",
                    *fence(note.body, "text"), ""]
    return out


def _diff_section(diff: PlanDiff) -> list[str]:
    out = [f"#### Changes from {code(diff.old.path)}", ""]
    if diff.empty:
        return [*out, "No change in what the runbook does.", ""]
    out += [f"- {cell(inline(h))}" for h in diff.header]
    out += [f"- **added** step {s.number}. {code(s.id)} — {inline(s.title)}" for s in diff.added]
    out += [f"- **removed** step {code(s.id)} — {inline(s.title)}" for s in diff.removed]
    out += [f"- **changed** step {new.number}. {code(new.id)} — {inline(new.title)}"
            for _, new in diff.changed]
    out += [f"- **moved** step {code(new.id)}: {old.number} → {new.number}"
            for old, new in diff.moved]
    out.append("")
    for old, new in diff.changed:
        out += [f"Step {code(new.id)}, before → after:", "", *fence("\n".join(unified(old, new)),
                                                                  "diff"), ""]
    return out


def plan_step_markdown(step: PlannedStep) -> list[str]:
    badges = []
    if step.danger:
        badges.append("⚠️ **danger**")
    if step.type == "confirm":
        badges.append("❓ **confirm**")
    if step.type == "manual":
        badges.append("✋ **manual**")
    if step.will_run is False:
        badges.append("⏭️ skipped")
    head = f"#### {step.number}. {code(step.id)} — {inline(step.title)}"
    out = [head + (" · " + " · ".join(badges) if badges else ""), ""]
    meta = [code(step.type)]
    if step.target:
        meta.append(f"on {code(step.target)}")
    if step.timeout:
        meta.append(f"timeout {inline(step.timeout)}")
    if step.idempotent:
        meta.append("idempotent")
    if step.tags:
        meta.append("tags " + ", ".join(code(t) for t in step.tags))
    out += [" · ".join(meta), ""]
    if step.description:
        out += [*quote(step.description), ""]
    if step.when:
        out += [f"**When** {code(step.when)} — {inline(step.condition)}", ""]
    if step.for_each:
        out += [f"**For each** item of {code(step.for_each)}", ""]
    cautions = []
    if step.danger:
        cautions.append("**Danger**: the operator must confirm this exact action before it runs.")
    if step.type_to_confirm:
        cautions.append(f"The operator must type {code(step.type_to_confirm)} to go on.")
    if step.approvers > 1 or step.approvers_group:
        cautions.append(f"Needs **{inline(approvers_text(step))}**, each signing with an SSH "
                        f"key (another operator runs {code(f'vvrun approve RUN {step.id}')}).")
    if cautions:
        out += [*alert("CAUTION", cautions), ""]
    out += _step_action(step)
    extras = [f"- {inline(n)}" for n in step.notes]
    if step.retry:
        extras.append(f"- retry: {inline(step.retry)}")
    if step.watch:
        extras.append(f"- watch: every {inline(step.watch)}")
    extras += [f"- expect: {code(e)}" for e in step.expect]
    extras += [f"- output {code(k)}: {code(v)}" for k, v in step.outputs]
    if step.on_failure != "abort":
        extras.append(f"- on failure: {code(step.on_failure)}")
    if extras:
        out += [*extras, ""]
    if step.warnings:
        out += [*alert("WARNING", [inline(w) for w in step.warnings]), ""]
    return out


def _step_action(step: PlannedStep) -> list[str]:
    out: list[str] = []
    if step.type == "confirm":
        out += [f"Asks: **{prose(step.confirm_prompt)}**", ""]
        if step.on_no and step.on_no != "abort":
            out += [f"A no: {inline(step.on_no)}.", ""]
        return out
    if step.type == "manual":
        out += [block(step.instructions or ""), ""]
        if step.checklist:
            out += [*(f"- [ ] {inline(item)}" for item in step.checklist), ""]
        out += _record_lines(step.record)
        if step.verify:
            out += ["Then checks:", "", *fence(step.verify), ""]
        return out
    out += [*fence(step.body or step.summary, _language(step.language)), ""]
    if step.params:
        out += ["| Parameter | Value |", "|---|---|"]
        out += [f"| `${i}` | {cell(code(p))} |" for i, p in enumerate(step.params, 1)]
        out.append("")
    return out


def _record_lines(record: Sequence) -> list[str]:
    if not record:
        return []
    out = ["The operator records:", ""]
    for f in record:
        line = f"- {code(f.name)}"
        if f.description:
            line += f" — {inline(f.description)}"
        if getattr(f, "choices_from", None):  # a runbook's field: choices from data
            line += f" (one of {code('⟨' + f.choices_from + '⟩')})"
        elif f.choices:
            line += " (one of " + ", ".join(code(c) for c in f.choices) + ")"
        if f.pattern:
            line += f" (matching {code(f.pattern)})"
        if f.optional:
            line += " (optional)"
        out.append(line)
    return [*out, ""]


# -- documents (`vvrun docs`) ----------------------------------------------------------------


def render_runbook_doc(runbook: Runbook, source: str) -> str:
    """A runbook as a document for people: what it is for, its inputs, and every step with the
    commands as written. `source` is the runbook's path as the reader should see it."""
    out = [f"<!-- Generated by `vvrun docs` from {comment_text(source)}. Do not edit by hand: "
           "edit the runbook and run `vvrun docs` again. -->", "", f"# {inline(runbook.title)}",
           ""]
    meta = [code(runbook.name), f"source {code(source)}"]
    if runbook.tags:
        meta.append("tags " + ", ".join(code(t) for t in runbook.tags))
    out += [" · ".join(meta), ""]
    if runbook.description:
        out += [block(runbook.description.strip()), ""]
    danger = sum(1 for s in runbook.steps if s.danger)
    out += [f"{len(runbook.steps)} steps"
            + (f", {danger} of them dangerous (each asks for confirmation)" if danger else "")
            + ".", ""]
    out += ["Run it:", "", *fence(f"vvrun plan {source}    # what it would do; touches "
                                  f"nothing\nvvrun {source}", "bash"), ""]
    out += _doc_inputs(runbook) + _doc_connections(runbook)
    locks = [runbook.name, *runbook.locks]
    out += ["## Locks", "", "One run at a time per lock: "
            + ", ".join(code(k) for k in locks) + ".", ""]
    out += ["## Steps", ""]
    out += _doc_steps(runbook.steps, runbook, "")
    # the pieces are made visible one by one; this is for the renderer's own text
    return visible("\n".join(out).rstrip("\n") + "\n")


def _doc_steps(steps: Sequence[Step], runbook: Runbook, prefix: str) -> list[str]:
    """Steps in order; a group's steps follow it, numbered `2.1`, `2.2`…"""
    out: list[str] = []
    for n, step in enumerate(steps, 1):
        number = f"{prefix}{n}"
        out += _doc_step(number, step, runbook)
        if step.type == "group":
            out += _doc_steps(step.spec.steps, runbook, f"{number}.")
    return out


def _doc_inputs(runbook: Runbook) -> list[str]:
    if not runbook.inputs:
        return []
    out = ["## Inputs", "", "| Name | Type | Default | Description |", "|---|---|---|---|"]
    for inp in runbook.inputs.values():
        if inp.has_default and inp.default == "":
            default = "empty"  # `` `  ` `` renders as a blank cell
        elif inp.has_default:
            default = code(inp.default if isinstance(inp.default, str)
                           else show_value(inp.default))
        elif inp.env:
            default = "—"
        else:
            default = "**required**"
        notes = (["<br>".join(inline(line) for line in inp.description.strip().split("\n"))]
                 if inp.description else [])
        if inp.env:
            notes.append(f"from {code('$' + inp.env)} when not given")
        if inp.secret:
            notes.append("**secret**: masked, never stored")
        if inp.pattern:
            notes.append(f"must match {code(inp.pattern)}")
        if inp.choices:
            notes.append("one of " + ", ".join(code(str(c)) for c in inp.choices))
        out.append(f"| {code(inp.name)} | {inline(inp.type)} | {cell(default)} | "
                   f"{cell('<br>'.join(notes))} |")
    return [*out, ""]


def _doc_connections(runbook: Runbook) -> list[str]:
    if not runbook.connections:
        return []
    out = ["## Connections", "", "| Name | Kind | Target |", "|---|---|---|"]
    for c in runbook.connections.values():
        target = c.settings.get("url") or c.settings.get("base_url") or ""
        out.append(f"| {code(c.name)} | {cell(inline(c.kind))} | {cell(code(str(target)))} |")
    return [*out, ""]


def _doc_step(number: int | str, step: Step, runbook: Runbook) -> list[str]:
    if step.type == "group":
        out = [f"### {number}. {inline(step.title or step.id)}", "", " · ".join(
            [code(step.id), code("group")]), "", inline(step.spec.summary(step.for_each)) + ".",
            ""]
        if step.description:
            out += [block(step.description.strip()), ""]
        if step.when:
            out += [f"**Only when** {code(step.when)}", ""]
        return out + [f"- output {code(k)} = {code(v)}" for k, v in step.outputs.items()] + [""]
    desc = fallback(step.type, step.spec, None, runbook.connections)
    title = step.title or desc.summary
    badges = []
    if step.danger:
        badges.append("⚠️ **danger**")
    if step.type == "manual":
        badges.append("✋ **manual**")
    out = [f"### {number}. {inline(title)}" + (" · " + " · ".join(badges) if badges else ""), ""]
    meta = [code(step.id), code(step.type)]
    if step.timeout:
        meta.append(f"timeout {format_duration(step.timeout.seconds)}")
    if step.tags:
        meta.append("tags " + ", ".join(code(t) for t in step.tags))
    out += [" · ".join(meta), ""]
    if step.description:
        out += [block(step.description.strip()), ""]
    if step.when:
        out += [f"**Only when** {code(step.when)}", ""]
    if step.for_each:
        out += [f"**For each** item of {code(step.for_each)}", ""]
    cautions = []
    if step.danger and step.for_each and step.type != "group":
        cautions.append("**Danger**: vvrun shows the exact action of every item and asks "
                        + ("before each one runs." if step.confirm_each
                           else "once, for all of them, as one table."))
    elif step.danger:
        cautions.append("**Danger**: vvrun shows the exact action and asks before it runs.")
    spec = step.spec
    if step.type == "confirm" and spec.type_to_confirm:
        cautions.append(f"The operator must type {code(spec.type_to_confirm)} to go on.")
    if step.approvers > 1 or step.approvers_group:
        cautions.append(f"Needs **{inline(approvers_text(step))}** "
                        f"({code(f'vvrun approve RUN {step.id}')}).")
    if cautions:
        out += [*alert("CAUTION", cautions), ""]
    if step.type == "confirm":
        out += [f"Asks: **{prose(spec.prompt.strip())}**", ""]
        if spec.on_no != "abort":
            out += ["A no lets the run go on.", ""]
    elif step.type == "manual":
        out += [block(spec.instructions.strip()), ""]
        if spec.checklist:
            out += [*(f"- [ ] {inline(item)}" for item in spec.checklist), ""]
        out += _record_lines(spec.record)
        if spec.verify is not None:
            check = fallback(spec.verify.type, spec.verify.spec, None, runbook.connections)
            out += ["Then vvrun checks:", "",
                    *fence(check.body or check.summary, _language(check.language)), ""]
            out += [*(f"- expect {code(e)}" for e in spec.verify.expect), ""]
    else:
        out += [*fence(desc.body or desc.summary, _language(desc.language)), ""]
        if desc.notes:
            out += [*(f"- {inline(n)}" for n in desc.notes), ""]
    extras = [f"- expect {code(e)}" for e in step.expect]
    extras += [f"- output {code(k)} = {code(v)}" for k, v in step.outputs.items()]
    if step.retry is not None and (step.retry.attempts > 1 or step.retry.until):
        extras.append(f"- retried up to {step.retry.attempts} times, "
                      f"{format_duration(step.retry.delay.seconds)} apart"
                      + (f", until {code(step.retry.until)}" if step.retry.until else ""))
    if step.on_failure != "abort":
        extras.append(f"- on failure: {code(step.on_failure)}")
    if extras:
        out += [*extras, ""]
    return out
