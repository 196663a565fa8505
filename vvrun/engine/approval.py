"""Asking before acting: danger steps, confirm steps, acknowledgements, and what to do with
a step that was in flight when a run stopped. Steps that need proved approvals (`approvers: 2`,
a group) are settled by `vvrun.engine.signed`.

An approval is bound to the hash of the rendered action: a resume that renders the same action
does not ask again; one that renders something different does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vvrun.engine.options import UncertainStep, ack_prompter_for
from vvrun.engine.recording import BETWEEN, CANCELLED, STOPPED
from vvrun.engine.session import RunSession
from vvrun.engine.signed import approve_proved
from vvrun.errors import Aborted, Paused, UsageError
from vvrun.language.model import Step
from vvrun.results import StepResult
from vvrun.steps.base import Description
from vvrun.text.literals import sql_literal


def _events(run: RunSession, kind: str, key: str) -> list[dict[str, Any]]:
    return [e for e in run.store.events(run.run_id)
            if e.get("kind") == kind and (e.get("data") or {}).get("step_id") == key]


#: a yes given before the step failed was used up by the execution that failed: the next one
#: asks again (an approval is bound to an attempt). An interrupted or crashed execution is
#: settled by `settle_uncertain` (the operator, `--rerun` or `idempotent` decide), not here.
_ENDS = frozenset({"failed"})


def _confirmed_before(run: RunSession, key: str, digest: str) -> bool:
    """A yes to this very action that no execution of the step has used up yet."""
    confirmed = False
    for e in run.store.events(run.run_id):
        data = e.get("data") or {}
        if data.get("step_id") != key:
            continue
        if e.get("kind") == "confirmed":
            confirmed = confirmed or data.get("action_hash") == digest
        elif e.get("kind") == "step_ended" and data.get("status") in _ENDS:
            confirmed = False
    return confirmed


def record_confirmed(run: RunSession, key: str, digest: str, *, via: str) -> None:
    run.audit("confirmed", {"step_id": key, "action_hash": digest,
                               "by": run.opts.operator, "via": via})


def approve(run: RunSession, step: Step, key: str, action: Any, desc: Description,
            digest: str) -> dict[str, Any] | None:
    """Ask for whatever this step needs before it runs.

    Returns a confirm step's result when it is answered here (`--yes`, or answered before a
    resume) and None when the step itself should ask (a confirm at a terminal) or needs no
    answer. Raises Aborted on a no, Paused when nobody can answer.
    """
    if (step.approvers > 1 or step.approvers_group) and (step.type == "confirm" or step.danger):
        return approve_proved(run, step, key, action, desc)
    if step.type == "confirm":
        return _confirm_step(run, step, key, action, digest)
    if not step.danger:
        return None
    if not _confirmed_before(run, key, digest):
        if run.opts.yes:
            record_confirmed(run, key, digest, via="--yes")
        else:
            question = f"Run dangerous step '{key}'?"
            try:
                detail = run.masker.mask(_detail(desc))
                yes = run.prompter.confirm(question, default=False, detail=detail)
            except Paused as exc:
                raise Paused(
                    "this step is marked danger and waits for a confirmation, and there is no "
                    "terminal to ask", where=step.where.with_step(key),
                    hint=f"resume at a terminal with `vvrun resume {run.run_id}`, or with "
                    f"`vvrun resume {run.run_id} --yes` to confirm it") from exc
            if not yes:
                raise Aborted(f"the operator answered no to dangerous step '{key}'; the run "
                              "stops here", where=step.where.with_step(key),
                              hint="nothing of this step ran; start again when it is time")
            record_confirmed(run, key, digest, via="prompt")
    return None


def _confirm_step(run: RunSession, step: Step, key: str, action: Any,
                  digest: str) -> dict[str, Any] | None:
    word = getattr(action, "type_to_confirm", None)
    if _confirmed_before(run, key, digest):
        return {"confirmed": True}
    if run.opts.yes:
        if word is None:
            record_confirmed(run, key, digest, via="--yes")
            return {"confirmed": True}
        given = run.opts.confirm_word
        if given is not None and given != word:
            raise UsageError(f"--confirm-word {given!r} is not the word step '{key}' asks for",
                             where=step.where.with_step(key),
                             hint="read the step's prompt (`vvrun plan`) and give its word")
        if given == word:
            record_confirmed(run, key, digest, via="--yes --confirm-word")
            return {"confirmed": True}
    return None  # the step asks the operator itself


def second_approver(run: RunSession, step: Step, key: str, digest: str) -> None:
    """Nothing left to do after a confirm step's own prompt: a step that needs more than one
    approver is settled, signatures and all, in `approve` before it is asked."""


def acknowledged(run: RunSession, key: str) -> dict[str, Any] | None:
    """A manual step's result when it was acknowledged before the run stopped."""
    events = _events(run, "acknowledged", key)
    if not events:
        return None
    data = events[-1]["data"]
    return {"acknowledged": True, "checklist": list(data.get("checklist") or []),
            "fields": dict(data.get("fields") or {}), "notes": data.get("notes") or ""}


def record_acknowledged(run: RunSession, key: str, result: Mapping[str, Any]) -> None:
    acked = ack_prompter_for(run.opts, key.split("[", 1)[0], key) is not None
    via = "--ack" if acked else "prompt"
    run.audit("acknowledged", {
        "step_id": key, "by": run.opts.operator, "via": via,
        "fields": dict(result.get("fields") or {}),
        "checklist": list(result.get("checklist") or []), "notes": result.get("notes") or ""})


def settle_uncertain(run: RunSession, step: Step, key: str, prev: StepResult,
                     action: Any) -> bool:
    """A step left running (or interrupted) by the last process: True to run it again,
    False to take it as done. Raises when nobody can decide, and — before anything is asked
    or decided — while the interrupted run's copy of the step still runs."""
    from vvrun.engine.stray import refuse_if_running

    where = step.where.with_step(key)
    looked = refuse_if_running(run, step, key, action, where)
    if key in run.opts.mark_done or step.id in run.opts.mark_done:
        run.audit("uncertain_settled", {"step_id": key, "by": run.opts.operator,
                                           "decision": "done", "via": "--mark-done"})
        return False
    safe = _safe_because(step, prev, action)
    told = key in run.opts.rerun or step.id in run.opts.rerun
    if not (safe or told):
        message, detail = _what_is_known(key, prev, looked)
        hint = (f"{'check whether it took effect' if detail is None else detail}, then "
                f"`vvrun resume {run.run_id} --rerun {key}` to run it again or "
                f"`vvrun resume {run.run_id} --mark-done {key}` to go on without it (or "
                "resume at a terminal to be asked)")
        if run.opts.yes:
            raise UncertainStep(message, where=where, hint=hint)
        try:
            again = run.prompter.confirm(f"{message}. Run it again?", default=False,
                                         detail=detail or "")
            if not again:
                if not run.prompter.confirm(f"Take step '{key}' as done and go on?",
                                               default=False):
                    raise Aborted(f"the operator chose neither to re-run nor to skip step "
                                  f"'{key}'", where=where, hint=hint)
                run.audit("uncertain_settled", {"step_id": key, "by": run.opts.operator,
                                                   "decision": "done", "via": "prompt"})
                return False
        except Paused as exc:
            raise Paused(message, where=where, hint=hint) from exc
    run.audit("uncertain_settled", {"step_id": key, "by": run.opts.operator,
                                       "decision": "rerun",
                                       "via": "--rerun" if told else safe or "prompt"})
    return True


def _safe_because(step: Step, prev: StepResult, action: Any) -> str | None:
    """Why the step may run again without asking, as the audit trail records it; None when
    the operator must decide. What vvrun knows of this execution comes first."""
    if prev.status.value == "interrupted":
        if prev.result.get(CANCELLED):
            return "cancelled-before-effect"
        if prev.result.get(BETWEEN):
            return "between-attempts"
        if step.type == "sql" and getattr(action, "transaction", False):
            return "rolled-back"  # an interrupted transaction never commits
    if step.idempotent:
        return "idempotent"
    if step.type in ("confirm", "manual"):
        return "asks-only"  # its only effect is the asking
    return None


def _what_is_known(key: str, prev: StepResult, looked: str) -> tuple[str, str | None]:
    """The question's facts: what the step said as it stopped, or that vvrun cannot know."""
    stopped = prev.result.get(STOPPED)
    if prev.status.value == "interrupted" and isinstance(stopped, dict):
        return (f"step '{key}' was in flight when {stopped.get('by') or 'a signal'} stopped "
                f"the run: {stopped.get('said')}; nothing of it is still running",
                str(stopped.get("hint") or "what it did stands"))
    known = f" ({looked})" if looked else ""
    return (f"step '{key}' was in flight when the run stopped; vvrun cannot know whether "
            f"it took effect{known}", None)


def _detail(desc: Description) -> str:
    lines = [desc.summary]
    if desc.body and desc.body != desc.summary:
        lines.append(desc.body)
    if desc.params:
        lines.append("parameters: " + ", ".join(
            f"${i} = {sql_literal(p)}" for i, p in enumerate(desc.params, 1)))
    if desc.target:
        lines.append(f"on {desc.target}")
    return "\n".join(lines)
