"""Approvals as attacks: forged records, reused signatures, one person twice, outsiders."""

from __future__ import annotations

import dataclasses
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest

from tests.identity_keys import fingerprint_of, make_key, pub_text, write_signers
from vvrun.identity import signers
from vvrun.identity.approval import (
    ActionDigest,
    ProvedApproval,
    SignedApproval,
    canonical,
    check_approvers,
    verify_approval,
)
from vvrun.identity.errors import ApprovalRefused
from vvrun.identity.sign import resolve_key, sign

ACTION = {"run_id": "r1", "step_id": "drop_old", "attempt": 1, "step_type": "sql",
          "body": "DELETE FROM orders WHERE created < $1", "target": "postgresql://app@db/app",
          "params": ["2020-01-01"]}


@pytest.fixture
def environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    return {name: make_key(tmp_path, name) for name in ("alice", "alice2", "bob", "carol",
                                                        "mallory")}


@pytest.fixture
def allowed(tmp_path: Path, keys: dict[str, Path]) -> signers.AllowedSigners:
    return signers.load(write_signers(
        tmp_path / ".vvrun" / "allowed_signers",
        f"alice@x,group:dba {pub_text(keys['alice'])}",
        f"alice@x,group:dba {pub_text(keys['alice2'])}",  # alice's second laptop
        f"bob@x,group:dba {pub_text(keys['bob'])}",
        f"carol@x {pub_text(keys['carol'])}"))


def _approve(key: Path, digest: ActionDigest, allowed: signers.AllowedSigners,
             environ: dict[str, str]) -> SignedApproval:
    signature = sign(digest.message(), resolve_key(key, environ, key.parent), environ)
    fp = fingerprint_of(key)
    line = next(line for line in allowed.lines if line.fingerprint == fp)
    return SignedApproval(line.principals[0], fp, signature, digest.hex)


def _prove(records: list[SignedApproval], digest: ActionDigest,
           allowed: signers.AllowedSigners, environ: dict[str, str]) -> list[ProvedApproval]:
    return [verify_approval(r, digest, allowed, environ) for r in records]


def test_digest_binds_every_part_of_the_action() -> None:
    base = ActionDigest.of(**ACTION)
    assert base == ActionDigest.of(**ACTION)
    assert len(base.hex) == 64
    for key, other in [("run_id", "r2"), ("step_id", "x"), ("attempt", 2), ("step_type", "shell"),
                       ("body", "DELETE FROM orders"), ("target", None), ("params", ["2021"])]:
        assert ActionDigest.of(**{**ACTION, key: other}) != base, key
    assert canonical(**{**ACTION, "params": [1]}) != canonical(**{**ACTION,
                                                                  "params": [Decimal(1)]})
    assert base.message() == f"vvrun approval v1 sha256:{base.hex}\n".encode()


def test_two_people_with_two_keys_approve(keys: dict[str, Path], allowed: signers.AllowedSigners,
                                          environ: dict[str, str]) -> None:
    digest = ActionDigest.of(**ACTION)
    records = [_approve(keys["alice"], digest, allowed, environ),
               _approve(keys["bob"], digest, allowed, environ)]
    stored = [SignedApproval.from_dict(r.to_dict()) for r in records]  # through the store
    counted = check_approvers(_prove(stored, digest, allowed, environ), 2, "dba")
    assert [c.principal for c in counted] == ["alice@x", "bob@x"]
    assert counted[1].fingerprint == fingerprint_of(keys["bob"])


def test_the_same_key_twice_is_one_approval(keys: dict[str, Path],
                                            allowed: signers.AllowedSigners,
                                            environ: dict[str, str]) -> None:
    digest = ActionDigest.of(**ACTION)
    records = [_approve(keys["alice"], digest, allowed, environ) for _ in range(2)]
    with pytest.raises(ApprovalRefused) as info:
        check_approvers(_prove(records, digest, allowed, environ), 2)
    assert "needs 2 approvals by different people, has 1: alice@x" in info.value.message
    assert (f"not counted: key {fingerprint_of(keys['alice'])} approved twice; the second "
            "approval must be made with a different key") in info.value.message


def test_one_person_with_two_keys_is_one_approval(keys: dict[str, Path],
                                                  allowed: signers.AllowedSigners,
                                                  environ: dict[str, str]) -> None:
    digest = ActionDigest.of(**ACTION)
    records = [_approve(keys["alice"], digest, allowed, environ),
               _approve(keys["alice2"], digest, allowed, environ)]
    with pytest.raises(ApprovalRefused, match="alice@x approved twice, with two keys"):
        check_approvers(_prove(records, digest, allowed, environ), 2)


def test_an_approver_outside_the_group_does_not_count(keys: dict[str, Path],
                                                      allowed: signers.AllowedSigners,
                                                      environ: dict[str, str]) -> None:
    digest = ActionDigest.of(**ACTION)
    records = [_approve(keys["alice"], digest, allowed, environ),
               _approve(keys["carol"], digest, allowed, environ)]
    proved = _prove(records, digest, allowed, environ)
    assert len(check_approvers(proved, 2)) == 2  # without a group, carol counts
    with pytest.raises(ApprovalRefused) as info:
        check_approvers(proved, 2, "dba")
    assert "of group 'dba', has 1" in info.value.message
    assert "carol@x (key SHA256:" in info.value.message
    assert "is not in group 'dba'" in info.value.message


def test_a_signature_over_another_action_is_refused(keys: dict[str, Path],
                                                    allowed: signers.AllowedSigners,
                                                    environ: dict[str, str]) -> None:
    # The attack: bob approved a harmless action; the record is replayed for a destructive one.
    harmless = ActionDigest.of(**{**ACTION, "body": "SELECT 1"})
    record = _approve(keys["bob"], harmless, allowed, environ)
    current = ActionDigest.of(**ACTION)
    with pytest.raises(ApprovalRefused) as info:
        verify_approval(record, current, allowed, environ)
    assert info.value.message.startswith("the action changed since bob@x (key SHA256:")
    assert f"now {current.hex[:12]}" in info.value.message
    # The same replay with the record's digest rewritten to the current one.
    forged = dataclasses.replace(record, digest=current.hex)
    with pytest.raises(ApprovalRefused, match="does not hold over this action"):
        verify_approval(forged, current, allowed, environ)


def test_a_retry_needs_its_own_approval(keys: dict[str, Path], allowed: signers.AllowedSigners,
                                        environ: dict[str, str]) -> None:
    record = _approve(keys["bob"], ActionDigest.of(**ACTION), allowed, environ)
    with pytest.raises(ApprovalRefused, match="the action changed since bob@x"):
        verify_approval(record, ActionDigest.of(**{**ACTION, "attempt": 2}), allowed, environ)


def test_a_forged_principal_in_the_record_is_refused(keys: dict[str, Path],
                                                     allowed: signers.AllowedSigners,
                                                     environ: dict[str, str]) -> None:
    # The attack: alice signs twice and edits the second record to say bob.
    digest = ActionDigest.of(**ACTION)
    mine = _approve(keys["alice"], digest, allowed, environ)
    forged = dataclasses.replace(mine, principal="bob@x",
                                 fingerprint=fingerprint_of(keys["bob"]))
    with pytest.raises(ApprovalRefused) as info:
        verify_approval(forged, digest, allowed, environ)
    assert "says bob@x" in info.value.message
    assert f"signature is by alice@x (key {fingerprint_of(keys['alice'])})" in (
        info.value.message)
    assert "the record was altered" in info.value.message


def test_a_record_signed_by_an_unlisted_key_is_refused(keys: dict[str, Path],
                                                       allowed: signers.AllowedSigners,
                                                       environ: dict[str, str]) -> None:
    digest = ActionDigest.of(**ACTION)
    signature = sign(digest.message(), resolve_key(keys["mallory"], environ, "/"), environ)
    record = SignedApproval("bob@x", fingerprint_of(keys["bob"]), signature, digest.hex)
    with pytest.raises(ApprovalRefused,
                       match=re.escape(f"unknown key {fingerprint_of(keys['mallory'])} — add it")):
        verify_approval(record, digest, allowed, environ)


def test_a_record_with_a_stripped_digest_still_needs_a_matching_signature(
        keys: dict[str, Path], allowed: signers.AllowedSigners,
        environ: dict[str, str]) -> None:
    old = _approve(keys["bob"], ActionDigest.of(**{**ACTION, "body": "SELECT 1"}), allowed,
                   environ)
    with pytest.raises(ApprovalRefused, match="does not hold over this action"):
        verify_approval(dataclasses.replace(old, digest=""), ActionDigest.of(**ACTION),
                        allowed, environ)
