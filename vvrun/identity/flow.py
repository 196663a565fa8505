"""What `vvrun approve RUN STEP` (and a first operator's signed confirmation) does, on plain
values: show the exact action, sign its digest, prove who signed, refuse a second approval by
the same key or person or by someone outside the group. The caller records what it returns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vvrun.errors import Aborted
from vvrun.identity.approval import (
    ActionDigest,
    ProvedApproval,
    SignedApproval,
    check_approvers,
    verify_approval,
)
from vvrun.identity.errors import ApprovalRefused
from vvrun.identity.schema import Approvers
from vvrun.identity.sign import SigningKey, sign
from vvrun.identity.signers import AllowedSigners
from vvrun.identity.verify import verify
from vvrun.text.literals import sql_literal


@dataclass(frozen=True)
class PendingAction:
    """A step's rendered action as the run recorded it (masked): what is shown and hashed."""

    run_id: str
    step_id: str
    attempt: int
    step_type: str
    body: Any
    target: str | None = None
    params: tuple[Any, ...] = field(default_factory=tuple)

    @property
    def digest(self) -> ActionDigest:
        return ActionDigest.of(run_id=self.run_id, step_id=self.step_id, attempt=self.attempt,
                               step_type=self.step_type, body=self.body, target=self.target,
                               params=self.params)

    def text(self) -> str:
        """Every field the digest covers, so what the approver reads is what they sign."""
        body = self.body if isinstance(self.body, str) else json.dumps(
            self.body, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        lines = [f"run {self.run_id}, step '{self.step_id}' ({self.step_type}), "
                 f"attempt {self.attempt}"]
        if self.target:
            lines.append(f"on {self.target}")
        lines.extend(f"    {line}" for line in body.splitlines() or [""])
        if self.params:
            lines.append("parameters: " + ", ".join(
                f"${i} = {sql_literal(p)}" for i, p in enumerate(self.params, 1)))
        lines.append(f"action sha256:{self.digest.hex}")
        return "\n".join(lines)


def approve_action(pending: PendingAction, *, existing: Sequence[SignedApproval],
                   approvers: Approvers, key: SigningKey, signers: AllowedSigners,
                   environ: Mapping[str, str], confirm: Callable[[str], bool],
                   proved: Sequence[ProvedApproval] = ()) -> SignedApproval:
    """Show the action, sign it when the operator says yes, and return the record to store.

    `existing`: SSH-signed approvals already recorded for this step; `proved`: approvals
    already proved another way (in the web console), which count the same. `confirm(text)`
    asks the operator (raising Paused when nobody can answer). Nothing is signed before the
    operator says yes.
    """
    digest = pending.digest
    if approvers.group is not None and approvers.group not in signers.groups():
        raise ApprovalRefused(
            f"step '{pending.step_id}' needs approvers of group {approvers.group!r}, and no key "
            f"in {signers.path} is in it",
            hint=f"add `group:{approvers.group}` to the principals of its members' lines")
    earlier = [*proved, *(_still_valid(r, digest, signers, environ) for r in existing)]
    if not confirm(pending.text()):
        raise Aborted(f"you did not approve step '{pending.step_id}' of run {pending.run_id}; "
                      "nothing was signed")
    signature = sign(digest.message(), key, environ)
    proof = verify(digest.message(), signature, signers, environ)  # who we are, proved
    record = SignedApproval(proof.principal, proof.fingerprint, signature, digest.hex)
    mine = ProvedApproval(record, proof)
    counted = check_approvers([p for p in earlier if p is not None], 0, approvers.group)
    # Refuse now, rather than let an approval that does not count sit in the trail.
    check_approvers([*counted, mine], len(counted) + 1, approvers.group)
    return record


def _still_valid(record: SignedApproval, digest: ActionDigest, signers: AllowedSigners,
                 environ: Mapping[str, str]) -> ProvedApproval | None:
    """An earlier approval of this very action, or None for one made over another."""
    try:
        return verify_approval(record, digest, signers, environ)
    except ApprovalRefused:
        return None
