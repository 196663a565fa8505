"""Verify a signature against allowed_signers; the signer's name comes from here, never from
a record: `ssh-keygen -Y find-principals` names the key's principal, `ssh-keygen -Y verify`
proves it signed these bytes in namespace `vvrun`."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vvrun.identity import NAMESPACE, keygen, sshsig
from vvrun.identity.errors import ApprovalRefused
from vvrun.identity.signers import GROUP_PREFIX, AllowedSigners

_PATTERN = set("*?!")


@dataclass(frozen=True)
class Proof:
    """Who signed: the principal ssh-keygen verified, the key, and the groups it proved."""

    principal: str
    fingerprint: str
    groups: frozenset[str]


class SignatureMismatch(ApprovalRefused):
    """A known key, but the signature does not hold over these bytes."""


def verify(message: bytes, signature: str, signers: AllowedSigners,
           environ: Mapping[str, str], *, timeout: float = 10.0) -> Proof:
    """Prove who signed `message`; ApprovalRefused says why not."""
    envelope = sshsig.parse(signature)
    fp = envelope.fingerprint
    if envelope.namespace != NAMESPACE:
        raise ApprovalRefused(
            f"the signature by key {fp} was made for namespace {envelope.namespace!r}, not "
            f"{NAMESPACE!r}: it is not a vvrun approval",
            hint=f"sign with `ssh-keygen -Y sign -n {NAMESPACE}` (what `vvrun approve` does)")
    if envelope.is_certificate:
        raise ApprovalRefused(f"the signature was made with an SSH certificate ({fp}); vvrun "
                              "approvals take a plain key listed in allowed_signers",
                              hint=f"add the key itself to {signers.path}")
    lines = signers.lines_for(envelope.public_key)
    if not lines:
        raise ApprovalRefused(f"unknown key {fp} — add it to {signers.path}",
                              hint="a line `you@example.com ssh-ed25519 AAAA…`, reviewed like "
                              "any change to the runbooks")
    with tempfile.TemporaryDirectory(prefix="vvrun-verify-") as tmp:
        sig = Path(tmp) / "approval.sig"
        sig.write_text(signature, encoding="ascii")
        found = keygen.run(["-Y", "find-principals", "-s", str(sig), "-f", str(signers.path)],
                           environ, timeout=timeout)
        named = [p for out in found.stdout.split() for p in out.split(",") if p]
        persons = [p for p in named if not p.startswith(GROUP_PREFIX) and not _PATTERN & set(p)]
        if not found.ok or not persons:
            at = ", ".join(f"{signers.path}:{line.line}" for line in lines)
            raise ApprovalRefused(
                f"key {fp} is listed ({at}) but under no person's name"
                + (f" (only {', '.join(named)})" if named else ""),
                hint="give its line a principal such as alice@example.com; patterns and "
                "group: principals do not name a person")
        principal = persons[0]
        _prove(message, sig, signers, principal, fp, environ, timeout)
        groups = set()
        for group in sorted({g for line in lines for g in line.groups}):
            try:
                _prove(message, sig, signers, GROUP_PREFIX + group, fp, environ, timeout)
            except SignatureMismatch:
                continue  # the group's line does not allow this use (namespace, dates)
            groups.add(group)
    return Proof(principal, fp, frozenset(groups))


def _prove(message: bytes, sig: Path, signers: AllowedSigners, principal: str, fp: str,
           environ: Mapping[str, str], timeout: float) -> None:
    done = keygen.run(["-Y", "verify", "-f", str(signers.path), "-I", principal, "-n", NAMESPACE,
                       "-s", str(sig)], environ, stdin=message, timeout=timeout)
    if done.ok:
        return
    why = " ".join(line for line in done.stderr.strip().splitlines()
                   if "Could not verify" not in line) or "the signature does not match"
    if "namespace" in why:
        raise SignatureMismatch(
            f"key {fp} ({principal}) may not sign vvrun approvals: {why}",
            hint=f'its line in {signers.path} needs namespaces="{NAMESPACE}" (or no namespaces=)')
    raise SignatureMismatch(f"the signature by {principal} (key {fp}) does not hold over this "
                            f"action: {why}",
                            hint="approve again with `vvrun approve RUN STEP`")
