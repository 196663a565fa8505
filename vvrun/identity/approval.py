"""What an approval is bound to, what is recorded, and whether the approvers suffice.

An approval is an SSH signature over `ActionDigest.message()`: the sha256 of a canonical JSON
of the exact rendered action, for one run, step and attempt. The store keeps `SignedApproval`
records; only `verify_approval` turns one into a `ProvedApproval`, taking the signer's name and
key from ssh-keygen, so an edited record proves nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vvrun.identity.errors import ApprovalRefused
from vvrun.identity.signers import AllowedSigners
from vvrun.identity.verify import Proof, SignatureMismatch, verify

_VERSION = 1


@dataclass(frozen=True)
class ActionDigest:
    """sha256 (hex) of one rendered action; what a signature covers."""

    hex: str

    @classmethod
    def of(cls, *, run_id: str, step_id: str, attempt: int, step_type: str, body: Any,
           target: str | None, params: Sequence[Any] = ()) -> ActionDigest:
        return cls(hashlib.sha256(canonical(
            run_id=run_id, step_id=step_id, attempt=attempt, step_type=step_type, body=body,
            target=target, params=params)).hexdigest())

    def message(self) -> bytes:
        """The bytes that are signed: a purpose line, so the signature means nothing else."""
        return f"vvrun approval v{_VERSION} sha256:{self.hex}\n".encode("ascii")


def canonical(*, run_id: str, step_id: str, attempt: int, step_type: str, body: Any,
              target: str | None, params: Sequence[Any] = ()) -> bytes:
    """The canonical JSON an ActionDigest hashes: sorted keys, no spaces, UTF-8; a value
    that is not JSON is tagged with its type so that 1 and Decimal('1') differ."""
    payload = {"v": _VERSION, "run_id": run_id, "step_id": step_id, "attempt": attempt,
               "type": step_type, "body": body, "target": target, "params": list(params)}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=_tagged).encode("utf-8")


def _tagged(value: Any) -> dict[str, str]:
    return {"$type": type(value).__name__, "value": str(value)}


@dataclass(frozen=True)
class SignedApproval:
    """An approval as the store keeps it. Its principal and fingerprint are claims until
    `verify_approval` checks them against the signature."""

    principal: str
    fingerprint: str
    signature: str
    digest: str

    def to_dict(self) -> dict[str, str]:
        return {"principal": self.principal, "fingerprint": self.fingerprint,
                "signature": self.signature, "digest": self.digest}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignedApproval:
        return cls(*(str(data.get(k) or "") for k in ("principal", "fingerprint",
                                                       "signature", "digest")))


@dataclass(frozen=True)
class ProvedApproval:
    """A record whose signature ssh-keygen verified over the current action."""

    record: SignedApproval
    proof: Proof

    @property
    def principal(self) -> str:
        return self.proof.principal

    @property
    def fingerprint(self) -> str:
        return self.proof.fingerprint


def verify_approval(record: SignedApproval, current: ActionDigest, signers: AllowedSigners,
                    environ: Mapping[str, str]) -> ProvedApproval:
    """Check a stored approval against the action as rendered now."""
    try:
        proof = verify(current.message(), record.signature, signers, environ)
    except SignatureMismatch:
        if record.digest and record.digest != current.hex:
            try:
                then = verify(ActionDigest(record.digest).message(), record.signature,
                              signers, environ)
            except ApprovalRefused:
                raise ApprovalRefused(
                    f"the approval recorded for {record.principal or 'someone'} does not hold: "
                    "its signature matches neither this action nor the one it names",
                    hint="the record was altered; approve again with `vvrun approve RUN STEP`"
                ) from None
            raise ApprovalRefused(
                f"the action changed since {then.principal} (key {then.fingerprint}) approved "
                f"it (approved {record.digest[:12]}, now {current.hex[:12]})",
                hint="show what changed with `vvrun show RUN`, then approve the new action "
                "with `vvrun approve RUN STEP`") from None
        raise
    if (record.principal, record.fingerprint, record.digest) != (
            proof.principal, proof.fingerprint, current.hex):
        raise ApprovalRefused(
            f"the approval record says {record.principal} (key {record.fingerprint or '?'}), "
            f"but its signature is by {proof.principal} (key {proof.fingerprint}): the record "
            "was altered", hint="approve again with `vvrun approve RUN STEP`")
    return ProvedApproval(record, proof)


def check_approvers(approvals: Sequence[ProvedApproval], required: int,
                    group: str | None = None) -> tuple[ProvedApproval, ...]:
    """The approvals that count: different keys, different people, in `group` when named.
    ApprovalRefused, with what did not count and why, when fewer than `required` do."""
    counted: list[ProvedApproval] = []
    why_not: list[str] = []
    for one in approvals:
        name = f"{one.principal} (key {one.fingerprint})"
        if group is not None and group not in one.proof.groups:
            why_not.append(f"{name} is not in group {group!r}")
        elif any(c.fingerprint == one.fingerprint for c in counted):
            why_not.append(f"key {one.fingerprint} approved twice; the second approval must be "
                           "made with a different key")
        elif any(c.principal == one.principal for c in counted):
            why_not.append(f"{one.principal} approved twice, with two keys; the second "
                           "approval must come from someone else")
        else:
            counted.append(one)
    if len(counted) >= required:
        return tuple(counted)
    who = ", ".join(f"{c.principal} (key {c.fingerprint})" for c in counted) or "nobody"
    of = f" of group {group!r}" if group else ""
    raise ApprovalRefused(
        f"needs {required} approvals by different people{of}, has {len(counted)}: {who}"
        + "".join(f"; not counted: {w}" for w in why_not),
        hint="another approver runs `vvrun approve RUN STEP` with their own key")
