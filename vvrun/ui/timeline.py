"""One run told as text: the step table, the audit trail, and the incident timeline in Markdown
for the post-mortem (who did what when, approvals, acknowledgements, what was typed).

Pure functions of what the store returned (already masked); the caller masks again on output.
Times are UTC, so a timeline pasted into a post-mortem reads the same everywhere.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vvrun.results import StepResult
from vvrun.state import RunRecord
from vvrun.text.durations import format_duration
from vvrun.ui import markdown_text as md

#: event kinds the timeline highlights as human decisions
DECISIONS = ("confirmed", "approved", "approval_signed", "acknowledged", "answered",
             "declined", "aborted", "lock_broken", "unlocked", "runbook_change_allowed")


def utc(ts: float | None, *, date: bool = True) -> str:
    if ts is None:
        return "-"
    fmt = "%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S"
    return time.strftime(fmt, time.gmtime(ts)) + ("Z" if date else "")


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str,
                                                           ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tick(text: str) -> str:
    return f"`{text}`"


def describe_event(event: Mapping[str, Any], *, markdown: bool = False) -> str:
    """One line saying what happened, in words where the kind is known.

    With `markdown`, every recorded value (a step's error, a reason, a name the operator
    typed) goes through `inline` and every identifier through `code`: the record holds what
    steps printed and people typed, and none of it may change the timeline it is shown in.
    """
    c: Callable[[str], str] = md.code if markdown else _tick
    t: Callable[[str], str] = md.inline if markdown else str
    kind = str(event.get("kind", "?"))
    d: Mapping[str, Any] = event.get("data") or {}
    step = f"step {c(str(d['step_id']))}" if d.get("step_id") else ""
    action = f" (action {t(str(d['action_hash'])[:12])})" if d.get("action_hash") else ""
    if kind == "run_started":
        how = "resumed" if d.get("resumed") else "started"
        return f"run {how}" + (f": {t(str(d['runbook']))}" if d.get("runbook") else "")
    if kind == "run_ended":
        return f"run ended: {t(str(d.get('status', '?')))}" + (
            f" — {t(_short(d['error']))}" if d.get("error") else "")
    if kind == "step_started":
        return f"{step} started" + (f" (attempt {t(str(d['attempt']))})"
                                    if d.get("attempt", 1) not in (None, 1) else "")
    if kind == "step_ended":
        return f"{step} {t(str(d.get('status', 'ended')))}" + (
            f" — {t(_short(d['error']))}" if d.get("error") else "")
    if kind == "step_skipped":
        return f"{step} skipped" + (f": {t(_short(d['reason']))}" if d.get("reason") else "")
    if kind == "confirmed":
        by = f" by {t(str(d['by']))}" if d.get("by") else ""
        return f"{step} confirmed{by}{action}"
    if kind == "approved":
        return f"{step} approved (second operator){action}"
    if kind == "approval_signed" and d.get("via") == "web":  # attested by the server
        return f"{step} approved in the web console by {t(str(d.get('principal')))}{action}"
    if kind == "approval_signed":  # the record's claim; resume verifies the signature
        return (f"{step} approval signed as {t(str(d.get('principal')))} "
                f"(key {t(str(d.get('fingerprint')))}){action}")
    if kind == "approval_requested":
        wanted = d.get("approvers") or {}
        group = f" of group {t(str(wanted['group']))}" if wanted.get("group") else ""
        return (f"{step} waits for {t(str(wanted.get('count', '?')))} signed approvals"
                f"{group}{action}")
    if kind == "acknowledged":
        fields = d.get("fields") or {}
        typed = "; ".join(f"{t(str(k))} = {t(_short(v, 60))}" for k, v in fields.items())
        return f"{step} acknowledged" + (f": {typed}" if typed else "")
    if kind == "runbook_change_allowed":
        what = "; ".join(str(x) for x in d.get("changes") or ())
        return (f"changed runbook accepted (--allow-changed) by {t(str(d.get('by', '?')))}"
                + (f": {t(_short(what))}" if what else ""))
    if kind == "lock_broken":
        return (f"lock {c(str(d.get('key')))} broken (held by {t(str(d.get('holder_operator')))}"
                f" on {t(str(d.get('holder_host')))}, pid {t(str(d.get('holder_pid')))}): "
                f"{t(_short(d.get('why', '')))}")
    if kind == "lock_taken_over":
        if d.get("from_pid") == 0:
            return f"lock {c(str(d.get('key')))} taken back from the paused run"
        return (f"lock {c(str(d.get('key')))} taken over from pid {t(str(d.get('from_pid')))} "
                f"on {t(str(d.get('from_host')))}, which was gone")
    rest = ", ".join(f"{t(str(k))}={t(_short(v, 40))}" for k, v in d.items() if k != "step_id")
    return " ".join(x for x in (t(kind.replace("_", " ")), step, rest and f"({rest})") if x)


def ordered_steps(results: Mapping[str, StepResult]) -> list[StepResult]:
    return sorted(results.values(), key=lambda r: (r.started_at or float("inf"), r.step_id))


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header).rstrip(),
            *(fmt.format(*(str(c) for c in r)).rstrip() for r in rows)]


def runs_table(runs: Sequence[RunRecord]) -> str:
    rows = [(r.id, r.runbook, r.status, r.operator, utc(r.started_at), utc(r.updated_at))
            for r in runs]
    return "\n".join(_table(rows, ("ID", "RUNBOOK", "STATUS", "OPERATOR", "STARTED",
                                   "UPDATED")))


def run_text(run: RunRecord, results: Mapping[str, StepResult]) -> str:
    lines = [
        f"run {run.id}: {run.runbook} — {run.status}",
        f"  file      {run.path}",
        f"  operator  {run.operator} on {run.host} (pid {run.pid})",
        f"  started   {utc(run.started_at)}",
        f"  updated   {utc(run.updated_at)}",
    ]
    if run.locks:
        lines.append(f"  locks     {', '.join(run.locks)}")
    if run.inputs:
        lines.append("  inputs    " + ", ".join(f"{k}={_short(v, 40)}"
                                                for k, v in run.inputs.items()))
    if run.error:
        lines.append("  error     " + run.error.replace("\n", "\n            "))
    steps = ordered_steps(results)
    lines.append("")
    if not steps:
        lines.append("no step has started")
        return "\n".join(lines)
    rows = [(s.step_id, s.status.value, str(s.attempts or ""), format_duration(s.duration),
             _short(s.error or _result_excerpt(s), 60)) for s in steps]
    lines += _table(rows, ("STEP", "STATUS", "TRIES", "TIME", "RESULT / ERROR"))
    return "\n".join(lines)


def _result_excerpt(step: StepResult) -> str:
    r = step.result
    for key in ("status", "value", "rowcount", "exit_code", "confirmed", "fields"):
        if key in r and r[key] not in (None, "", {}):
            return f"{key}: {_short(r[key], 50)}"
    return ""


def events_text(events: Sequence[Mapping[str, Any]], problems: Sequence[str]) -> str:
    lines = [f"{e['n']:>4}  {utc(e['ts'])}  {e['operator']:<20}  {describe_event(e)}"
             for e in events]
    lines.append("")
    lines.append(chain_verdict(events, problems))
    lines += [f"  - {p}" for p in problems]
    return "\n".join(lines)


def chain_verdict(events: Sequence[Mapping[str, Any]], problems: Sequence[str]) -> str:
    if problems:
        return (f"audit trail: does NOT verify — {len(problems)} problem(s) in "
                f"{len(events)} events; it was edited after it was written")
    return f"audit trail: {len(events)} events, hash chain verifies"


def markdown(run: RunRecord, results: Mapping[str, StepResult],
             events: Sequence[Mapping[str, Any]], problems: Sequence[str]) -> str:
    """The incident timeline for a post-mortem.

    Everything in it but the renderer's own words was recorded from the world: what steps
    printed, errors, names and notes people typed, even the runbook's name and path. Each goes
    through `vvrun.ui.markdown_text`, so an `<!--` or an open fence in one step's output cannot
    hide the entries after it, and a control or bidi character is shown as its escape.
    """
    c, t = md.code, md.inline
    out = [
        f"# Incident timeline: {t(run.runbook)} (run {t(run.id)})",
        "",
        f"- **Runbook:** {c(run.runbook)} from {c(run.path)} "
        f"(sha256 {c(run.source_hash[:12])})",
        f"- **Operator:** {t(run.operator)} on {t(run.host)}",
        f"- **Started:** {utc(run.started_at)} · **last update:** {utc(run.updated_at)}",
        f"- **Outcome:** {t(run.status)}" + (f" — {t(run.error)}" if run.error else ""),
    ]
    if run.inputs:
        out.append("- **Inputs:** " + ", ".join(f"{c(str(k))} = {c(_short(v, 60))}"
                                                for k, v in run.inputs.items()))
    people = sorted({str(e["operator"]) for e in events})
    if people:
        out.append(f"- **People:** {', '.join(t(p) for p in people)}")
    out += ["", "## Timeline (UTC)", ""]
    if events:
        out += ["| time | who | what |", "|---|---|---|"]
        out += [f"| {utc(e['ts'])} | {md.cell(t(str(e['operator'])))} | "
                f"{md.cell(describe_event(e, markdown=True))} |" for e in events]
    else:
        out.append("_No events were recorded._")
    decisions = [e for e in events if e["kind"] in DECISIONS]
    if decisions:
        out += ["", "## Decisions, approvals and acknowledgements", ""]
        for e in decisions:
            out.append(f"- {utc(e['ts'])} — **{t(str(e['operator']))}**: "
                       f"{describe_event(e, markdown=True)}")
            notes = (e.get("data") or {}).get("notes")
            if notes:  # a quotation inside the list item, whatever Markdown the note holds
                out += [f"  {line}" for line in md.quote(str(notes))]
    steps = ordered_steps(results)
    out += ["", "## Steps", ""]
    if steps:
        out += ["| step | status | attempts | started | duration | result / error |",
                "|---|---|---|---|---|---|"]
        out += [f"| {md.cell(c(s.step_id))} | {s.status.value} | {s.attempts or ''} | "
                f"{utc(s.started_at, date=False)} | {format_duration(s.duration)} | "
                f"{md.cell(t(_short(s.error or _result_excerpt(s), 80)))} |" for s in steps]
    else:
        out.append("_No step has started._")
    out += ["", "## Audit trail", "", chain_verdict(events, problems) + "."]
    out += [f"- {t(p)}" for p in problems]
    return "\n".join(out) + "\n"
