"""What a proved approval is bound to and where a run records it: the action as shown and
signed (masked), which execution of the step it is, and the audit events that carry approvals
(`approval_signed`) and requests for them (`approval_requested`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from vvrun.engine.context import describe_dict
from vvrun.engine.session import RunSession
from vvrun.identity import flow, signers
from vvrun.identity.approval import ActionDigest, ProvedApproval, SignedApproval
from vvrun.identity.attested import is_web, verify_web
from vvrun.identity.errors import ApprovalRefused, IdentitySetupError
from vvrun.language.model import Step
from vvrun.steps.base import Description

SIGNED = "approval_signed"
REQUESTED = "approval_requested"
#: outcomes that end one execution of a step; the next one needs approvals of its own
_ENDS = frozenset({"succeeded", "failed", "interrupted"})


def execution(run: RunSession, key: str) -> int:
    """Which execution of this step is about to happen (1 for the first): what an approval
    is bound to, so that approving one run of a step does not approve the next."""
    ended = sum(1 for e in run.store.events(run.run_id)
                if e.get("kind") == "step_ended" and (e.get("data") or {}).get("step_id") == key
                and (e.get("data") or {}).get("status") in _ENDS)
    prev = run.ledger.get(key)
    # a crash leaves no `step_ended`: an entry still in flight is an execution that happened
    in_flight = prev is not None and prev.status.value in ("running", "uncertain")
    return ended + int(in_flight) + 1


def pending_action(run: RunSession, step: Step, key: str, desc: Description) -> flow.PendingAction:
    """The action as shown and signed: masked, so a signature never binds a secret's value."""
    shown = describe_dict(desc, run.masker)
    summary, body = shown["summary"] or "", shown["body"] or ""
    text = summary if not body else body if body == summary or not summary else (
        f"{summary}\n{body}")
    return flow.PendingAction(run.run_id, key, execution(run, key), step.type, text,
                              shown["target"], tuple(shown["params"] or ()))


def records(events: list[dict[str, Any]], key: str) -> list[SignedApproval]:
    """The SSH-signed approvals a trail holds for a step (claims, until verified)."""
    return [SignedApproval.from_dict(e.get("data") or {}) for e in events
            if e.get("kind") == SIGNED and (e.get("data") or {}).get("step_id") == key
            and not is_web(e.get("data") or {})]


def web_records(events: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The approvals given in the web console for a step (claims, until verified)."""
    return [dict(e.get("data") or {}) for e in events
            if e.get("kind") == SIGNED and (e.get("data") or {}).get("step_id") == key
            and is_web(e.get("data") or {})]


def proved_web(events: list[dict[str, Any]], run_id: str, key: str, digest: ActionDigest,
               audit_key: bytes, allowed: signers.AllowedSigners | None
               ) -> list[ProvedApproval]:
    """The web approvals of this very action whose attestation the audit key proves; the
    others (another action or execution, forged, altered) count for nothing."""
    out = []
    for data in web_records(events, key):
        try:
            out.append(verify_web(data, run_id, digest, audit_key, allowed))
        except ApprovalRefused:
            continue
    return out


def keygen_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """What ssh-keygen gets: where programs and the agent are, nothing else."""
    return {k: environ[k] for k in ("PATH", "HOME", "SSH_AUTH_SOCK") if environ.get(k)}


def allowed_signers(run: RunSession) -> signers.AllowedSigners:
    folder = os.path.dirname(os.path.abspath(run.opts.path or run.runbook.path))
    return signers.load(signers.find(run.opts.allowed_signers, run.opts.environ, folder))


def allowed_signers_or_none(run: RunSession) -> tuple[signers.AllowedSigners | None,
                                                      IdentitySetupError | None]:
    """The allowed signers, or why there are none: web approvals count without the file."""
    try:
        return allowed_signers(run), None
    except IdentitySetupError as exc:
        return None, exc


def request(run: RunSession, step: Step, key: str, pending: flow.PendingAction) -> None:
    """What `vvrun approve` shows and signs: the action exactly as the run rendered it."""
    run.audit(REQUESTED, {
        "step_id": key, "attempt": pending.attempt, "type": pending.step_type,
        "body": pending.body, "target": pending.target, "params": list(pending.params),
        "action_hash": pending.digest.hex,
        "approvers": {"count": step.approvers, "group": step.approvers_group}})
