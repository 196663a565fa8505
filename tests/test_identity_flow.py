"""`vvrun approve`'s signing flow with real keys: show, sign, prove, refuse a repeat."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.identity_keys import fingerprint_of, make_key, pub_text, write_signers
from vvrun.errors import Aborted
from vvrun.identity import signers
from vvrun.identity.approval import check_approvers, verify_approval
from vvrun.identity.errors import ApprovalRefused
from vvrun.identity.flow import PendingAction, approve_action
from vvrun.identity.schema import Approvers
from vvrun.identity.sign import resolve_key

PENDING = PendingAction("r7", "flush", 1, "redis", "FLUSHDB", "redis://cache:6379/0", ("x",))


@pytest.fixture
def environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[dict[str, Path], signers.AllowedSigners]:
    keys = {n: make_key(tmp_path, n) for n in ("alice", "bob", "carol")}
    allowed = signers.load(write_signers(
        tmp_path / "allowed_signers", f"alice@x,group:dba {pub_text(keys['alice'])}",
        f"bob@x,group:dba {pub_text(keys['bob'])}", f"carol@x {pub_text(keys['carol'])}"))
    return keys, allowed


def _run(key: Path, existing: list, approvers: Approvers, allowed: signers.AllowedSigners,
         environ: dict[str, str], answer: bool = True, shown: list | None = None):
    def confirm(text: str) -> bool:
        (shown if shown is not None else []).append(text)
        return answer
    return approve_action(PENDING, existing=existing, approvers=approvers,
                          key=resolve_key(key, environ, key.parent), signers=allowed,
                          environ=environ, confirm=confirm)


def test_two_approvals_in_turn_make_the_step_pass(setup, environ) -> None:
    keys, allowed = setup
    shown: list[str] = []
    first = _run(keys["alice"], [], Approvers(2, "dba"), allowed, environ, shown=shown)
    assert (first.principal, first.fingerprint) == ("alice@x", fingerprint_of(keys["alice"]))
    assert shown[0].splitlines() == [
        "run r7, step 'flush' (redis), attempt 1", "on redis://cache:6379/0", "    FLUSHDB",
        "parameters: $1 = 'x'", f"action sha256:{PENDING.digest.hex}"]
    second = _run(keys["bob"], [first], Approvers(2, "dba"), allowed, environ)
    proved = [verify_approval(r, PENDING.digest, allowed, environ) for r in (first, second)]
    assert [p.principal for p in check_approvers(proved, 2, "dba")] == ["alice@x", "bob@x"]


def test_the_same_key_cannot_approve_again(setup, environ) -> None:
    keys, allowed = setup
    first = _run(keys["alice"], [], Approvers(2), allowed, environ)
    with pytest.raises(ApprovalRefused, match="approved twice; the second approval must be "
                       "made with a different key"):
        _run(keys["alice"], [first], Approvers(2), allowed, environ)


def test_someone_outside_the_group_is_refused_before_anything_is_recorded(setup,
                                                                          environ) -> None:
    keys, allowed = setup
    first = _run(keys["alice"], [], Approvers(2, "dba"), allowed, environ)
    with pytest.raises(ApprovalRefused, match=r"carol@x .* is not in group 'dba'"):
        _run(keys["carol"], [first], Approvers(2, "dba"), allowed, environ)


def test_a_group_nobody_is_in_is_named(setup, environ) -> None:
    keys, allowed = setup
    with pytest.raises(ApprovalRefused, match=r"group 'sre', and no key in .* is in it"):
        _run(keys["alice"], [], Approvers(2, "sre"), allowed, environ)


def test_saying_no_signs_nothing(setup, environ) -> None:
    keys, allowed = setup
    with pytest.raises(Aborted, match="nothing was signed"):
        _run(keys["alice"], [], Approvers(2), allowed, environ, answer=False)
