"""Approvals given in the web console: the proof is the signed-in person, attested by the server.

`vvrun serve` records an `approval_signed` event with `via: "web"`, the person's name as
`principal`, the action's digest and an attestation: an HMAC over (run, step, digest,
principal) with a key derived from the store's audit key. The engine recomputes it, so a row
written without that key (or one relabelled to another person, run, step or action) proves
nothing. A web principal is the same person as the SSH principal of the same name in
allowed_signers, and is in the groups that name's lines give (`docs/approvals.md`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from vvrun.identity.approval import ActionDigest, ProvedApproval, SignedApproval
from vvrun.identity.errors import ApprovalRefused
from vvrun.identity.signers import GROUP_PREFIX, AllowedSigners
from vvrun.identity.verify import Proof

VIA = "web"
_PURPOSE = b"vvrun web approval v1"


def _key(audit_key: bytes) -> bytes:
    # a key of its own, so that an attestation is never also a valid MAC of anything else
    return hmac.new(audit_key, _PURPOSE, hashlib.sha256).digest()


def attest(audit_key: bytes, *, run_id: str, step_id: str, digest: str, principal: str) -> str:
    """The server's attestation that `principal`, signed in, approved this action."""
    body = json.dumps({"run_id": run_id, "step_id": step_id, "digest": digest,
                       "principal": principal}, sort_keys=True, separators=(",", ":"))
    return hmac.new(_key(audit_key), body.encode(), hashlib.sha256).hexdigest()


def web_record(audit_key: bytes, *, run_id: str, step_id: str, digest: str,
               principal: str) -> dict[str, Any]:
    """The event data the server appends (kind `approval_signed`)."""
    return {"step_id": step_id, "action_hash": digest, "principal": principal,
            "fingerprint": fingerprint(principal), "signature": "", "digest": digest,
            "via": VIA, "attestation": attest(audit_key, run_id=run_id, step_id=step_id,
                                              digest=digest, principal=principal)}


def fingerprint(principal: str) -> str:
    """What stands for a key: one per web person, so two people never share one."""
    return f"web:{principal}"


def is_web(data: Mapping[str, Any]) -> bool:
    return data.get("via") == VIA


def verify_web(data: Mapping[str, Any], run_id: str, current: ActionDigest, audit_key: bytes,
               signers: AllowedSigners | None) -> ProvedApproval:
    """A web approval of the action as rendered now, or ApprovalRefused."""
    principal = str(data.get("principal") or "")
    step_id = str(data.get("step_id") or "")
    if not principal or str(data.get("digest") or "") != current.hex:
        raise ApprovalRefused(f"the web approval by {principal or 'someone'} is of another "
                              "action or execution")
    good = attest(audit_key, run_id=run_id, step_id=step_id, digest=current.hex,
                  principal=principal)
    if not hmac.compare_digest(good, str(data.get("attestation") or "")):
        raise ApprovalRefused(f"the web approval recorded for {principal} is not attested by "
                              "a server holding the audit key: it was forged or altered")
    record = SignedApproval(principal, fingerprint(principal), "", current.hex)
    return ProvedApproval(record, Proof(principal, fingerprint(principal),
                                        groups_of(principal, signers)))


def groups_of(principal: str, signers: AllowedSigners | None) -> frozenset[str]:
    """The groups allowed_signers gives the lines that name `principal`."""
    if signers is None:
        return frozenset()
    return frozenset(p[len(GROUP_PREFIX):] for line in signers.lines
                     if principal in line.principals
                     for p in line.principals if p.startswith(GROUP_PREFIX))
