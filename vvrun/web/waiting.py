"""What a paused run waits for, read from its audit trail: a first approval (a danger or
confirm step), a second approver (`approvers: 2`), an acknowledgement (a manual step), or
something only a terminal can settle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

APPROVE, SECOND, ACK, OTHER = "approve", "second", "ack", "other"


@dataclass(frozen=True)
class Waiting:
    run_id: str
    runbook: str
    started_by: str
    step_id: str
    kind: str  # approve | second | ack | other
    action: Mapping[str, Any]  # the step_started event's data: the rendered action, masked
    digest: str
    message: str = ""
    confirmed_by: str | None = None
    approvers: int = 1
    word: str | None = None  # a confirm step's type_to_confirm
    fields: Sequence[Any] = field(default_factory=tuple)  # a manual step's record fields
    proved: bool = False  # `approvers: 2` or a group: answered by a server-attested approval
    approved: tuple[str, ...] = ()  # who approved this action so far (claims; shown)

    def may_answer(self, user: str | None) -> tuple[bool, str]:
        """Whether `user` may give the answer this step waits for, and why not."""
        if not user:
            return False, "sign in to answer"
        if self.kind == SECOND and user in (self.started_by, self.confirmed_by,
                                            *self.approved):
            return False, ("the second approval must come from someone other than who "
                           f"started the run ({self.started_by}) and who approved first "
                           f"({self.confirmed_by})")
        if self.kind == OTHER:
            return False, "this pause is settled at a terminal (`vvrun resume`)"
        return True, ""


def action_digest(action: Mapping[str, Any]) -> str:
    """The hash an approval is bound to, from the recorded (masked) action: the engine's
    own `action_hash` over the same fields."""
    from vvrun.engine.context import action_hash
    from vvrun.secrets import Masker
    from vvrun.steps.base import Description

    desc = Description(summary=str(action.get("summary") or ""),
                       body=str(action.get("body") or ""),
                       target=action.get("target"), params=tuple(action.get("params") or ()))
    return action_hash(desc, Masker())


def _last(events: Sequence[Mapping[str, Any]], kind: str, step_id: str,
          digest: str | None = None) -> Mapping[str, Any] | None:
    found = None
    for e in events:
        data = e.get("data") or {}
        if e.get("kind") == kind and data.get("step_id") == step_id and (
                digest is None or data.get("action_hash") == digest):
            found = e
    return found


def waiting_for(run: Any, events: Sequence[Mapping[str, Any]], step: Any | None
                ) -> Waiting | None:
    """What `run` (paused) waits for; `step` is the model's step, when the runbook loads."""
    if run.status != "paused":
        return None
    paused = next((e for e in reversed(events) if e.get("kind") == "step_ended"
                   and (e.get("data") or {}).get("status") == "paused"), None)
    if paused is None:
        return None
    key = paused["data"]["step_id"]
    started = _last(events, "step_started", key)
    action = dict((started or {}).get("data") or {})
    digest = action_digest(action)
    base = {"run_id": run.id, "runbook": run.runbook, "started_by": run.operator,
            "step_id": key, "action": action, "digest": digest,
            "message": str(paused["data"].get("error") or ""),
            "approvers": getattr(step, "approvers", 1)}
    kind = action.get("type")
    requested = _last(events, "approval_requested", key)
    if requested is not None and (kind in (None, "confirm") or action.get("danger")):
        return _proved(events, requested, base, step)
    if kind == "manual":
        return Waiting(kind=ACK, fields=tuple(getattr(step.spec, "record", ()) if step else ()),
                       **base)
    if kind == "confirm" or action.get("danger"):
        confirmed = _last(events, "confirmed", key, digest)
        word = getattr(getattr(step, "spec", None), "type_to_confirm", None)
        if confirmed is None:
            return Waiting(kind=APPROVE, word=word, **base)
        by = (confirmed.get("data") or {}).get("by") or confirmed.get("operator")
        return Waiting(kind=SECOND, confirmed_by=by, **base)
    return Waiting(kind=OTHER, **base)


def _proved(events: Sequence[Mapping[str, Any]], requested: Mapping[str, Any],
            base: dict[str, Any], step: Any | None) -> Waiting:
    """A step that needs proved approvals: the action and digest it asked for, and who
    approved that very action so far (SSH-signed or in this console)."""
    asked = requested.get("data") or {}
    digest = str(asked.get("action_hash") or "")
    who = tuple(dict.fromkeys(
        str((e.get("data") or {}).get("principal") or "") for e in events
        if e.get("kind") == "approval_signed"
        and (e.get("data") or {}).get("step_id") == base["step_id"]
        and (e.get("data") or {}).get("action_hash") == digest))
    base = {**base, "digest": digest,
            "approvers": int((asked.get("approvers") or {}).get("count") or 2),
            "action": base["action"] or {"body": asked.get("body"),
                                         "target": asked.get("target")}}
    word = getattr(getattr(step, "spec", None), "type_to_confirm", None)
    if not who:
        return Waiting(kind=APPROVE, word=word, proved=True, **base)
    return Waiting(kind=SECOND, confirmed_by=who[0], approved=who, proved=True, **base)
