"""Proved approvals inside a run (`approvers: 2`, `{count, group}`): the operator's own
confirmation is an SSH signature over the exact rendered action, and the step runs only when
enough different people's signatures verify, now, against the allowed signers file.

Nothing stored is believed: every `approval_signed` event is checked again on every resume,
over the action as it renders now — an SSH signature by ssh-keygen, an approval given in the web
console by its attestation (`vvrun.identity.attested`) — so a forged or altered row, an approval
of another action or execution, or a key since removed from allowed_signers does not count.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from vvrun.engine import pending as recorded
from vvrun.engine.session import RunSession
from vvrun.errors import Aborted, Paused, UsageError
from vvrun.identity import flow, signers
from vvrun.identity.approval import ProvedApproval, SignedApproval, check_approvers, verify_approval
from vvrun.identity.errors import ApprovalRefused, IdentitySetupError
from vvrun.identity.schema import Approvers
from vvrun.identity.sign import resolve_key
from vvrun.language.model import Step
from vvrun.steps.base import Description


def approve_proved(run: RunSession, step: Step, key: str, action: Any,
                   desc: Description) -> dict[str, Any] | None:
    """Settle a step that needs proved approvals: sign the operator's confirmation when
    nobody has approved this action yet, then count SSH-signed and web-attested approvals
    together (different people: different principals). Returns a confirm step's result (None
    for a danger step); raises Paused, with what is missing, when the approvals do not suffice."""
    pending = recorded.pending_action(run, step, key, desc)
    allowed, no_signers = recorded.allowed_signers_or_none(run)
    environ = recorded.keygen_environ(run.opts.environ)
    approvers = Approvers(step.approvers, step.approvers_group)
    proved = _proved(run, key, pending, allowed, environ)
    if not proved:
        try:
            if allowed is None:
                raise no_signers or IdentitySetupError("no allowed signers file")
            record = _sign_first(run, step, key, action, pending, approvers, allowed, environ)
        except (Paused, IdentitySetupError) as exc:
            if isinstance(exc, IdentitySetupError) and run.opts.yes:
                raise  # told to sign here, and it cannot be done: say why
            # nobody here can sign: the step waits for approvals given elsewhere
            recorded.request(run, step, key, pending)
            if isinstance(exc, Paused):
                raise
            raise Paused(f"this step waits for approvals, and none can be signed here: "
                         f"{exc.message}", where=step.where.with_step(key),
                         hint=f"approve it in the web console (`vvrun serve`), or with "
                         f"`vvrun approve {run.run_id} {key}` and your own key; then "
                         f"`vvrun resume {run.run_id}`") from None
        if record is None:
            return {"confirmed": False}  # a confirm step answered no, with `on_no: continue`
        proved = _proved(run, key, pending, allowed, environ)
    try:
        check_approvers(proved, step.approvers, step.approvers_group)
    except ApprovalRefused as exc:
        recorded.request(run, step, key, pending)
        raise Paused(f"this step waits for approvals: {exc.message}",
                     where=step.where.with_step(key),
                     hint=f"another approver runs `vvrun approve {run.run_id} {key}` with their "
                     f"own key (or approves in the web console), then `vvrun resume "
                     f"{run.run_id}` continues the run") from None
    return {"confirmed": True} if step.type == "confirm" else None


def _proved(run: RunSession, key: str, pending: flow.PendingAction,
            allowed: signers.AllowedSigners | None, environ: Mapping[str, str]
            ) -> list[ProvedApproval]:
    out = []
    events = run.store.events(run.run_id)
    for record in recorded.records(events, key) if allowed is not None else ():
        try:
            out.append(verify_approval(record, pending.digest, allowed, environ))
        except ApprovalRefused:
            continue  # another action or execution, altered, or a key no longer allowed
    return out + recorded.proved_web(events, run.run_id, key, pending.digest,
                                     run.store.audit_key, allowed)


def _sign_first(run: RunSession, step: Step, key: str, action: Any,
                pending: flow.PendingAction, approvers: Approvers,
                allowed: signers.AllowedSigners, environ: Mapping[str, str]
                ) -> SignedApproval | None:
    where = step.where.with_step(key)
    home = run.opts.environ.get("HOME") or os.path.expanduser("~")
    signing_key = resolve_key(run.opts.signing_key, run.opts.environ, home)
    word = getattr(action, "type_to_confirm", None)
    answers: list[bool] = []

    def ask(text: str) -> bool:
        if run.opts.yes:
            given = run.opts.confirm_word
            if word is not None and given != word:
                if given is not None:
                    raise UsageError(f"--confirm-word {given!r} is not the word step '{key}' "
                                     "asks for", where=where,
                                     hint="read the step's prompt (`vvrun plan`) and give it")
                raise Paused(f"step '{key}' asks to type {word!r}, and --yes alone does not "
                             "answer it", where=where,
                             hint=f"resume with `--yes --confirm-word {word}`")
            answers.append(True)
            return True
        prompt = getattr(action, "prompt", None) or f"Sign and run dangerous step '{key}'?"
        try:
            yes = (run.prompter.type_word(prompt, word, detail=text) if word is not None
                   else run.prompter.confirm(prompt, default=False, detail=text))
        except Paused as exc:
            raise Paused(f"step '{key}' waits for the operator's signed confirmation, and "
                         "there is no terminal to ask", where=where,
                         hint=f"resume at a terminal with `vvrun resume {run.run_id}`, or with "
                         f"`vvrun resume {run.run_id} --yes` to confirm and sign it") from exc
        answers.append(bool(yes))
        return bool(yes)

    try:
        record = flow.approve_action(pending, existing=(), approvers=approvers, key=signing_key,
                                     signers=allowed, environ=environ, confirm=ask)
    except Aborted as exc:
        if answers == [False] and getattr(action, "on_no", "abort") == "continue":
            return None
        exc.where = where
        raise
    run.audit(recorded.SIGNED, {"step_id": key, "action_hash": pending.digest.hex,
                                **record.to_dict(), "attempt": pending.attempt,
                                "by": run.opts.operator})
    return record
