"""Signing with real ed25519 keys (files and ssh-agent) and verifying with ssh-keygen."""

from __future__ import annotations

import base64
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.identity_keys import (
    fingerprint_of,
    make_key,
    pub_text,
    ssh_add,
    ssh_agent,
    write_signers,
)
from vvrun.identity import signers
from vvrun.identity.errors import ApprovalRefused, IdentitySetupError
from vvrun.identity.sign import SigningKey, resolve_key, sign
from vvrun.identity.verify import SignatureMismatch, verify

MESSAGE = b"vvrun approval v1 sha256:" + b"ab" * 32 + b"\n"


@pytest.fixture
def environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}


@pytest.fixture
def alice(tmp_path: Path) -> Path:
    return make_key(tmp_path, "alice")


def _signers(tmp_path: Path, *lines: str) -> signers.AllowedSigners:
    return signers.load(write_signers(tmp_path / ".vvrun" / "allowed_signers", *lines))


def test_a_signature_proves_its_principal_and_key(tmp_path: Path, alice: Path,
                                                  environ: dict[str, str]) -> None:
    allowed = _signers(tmp_path, f'alice@x namespaces="vvrun" {pub_text(alice)}')
    signature = sign(MESSAGE, resolve_key(alice, environ, tmp_path), environ)
    assert signature.startswith("-----BEGIN SSH SIGNATURE-----")
    proof = verify(MESSAGE, signature, allowed, environ)
    assert (proof.principal, proof.fingerprint) == ("alice@x", fingerprint_of(alice))
    assert proof.groups == frozenset()


def test_key_comes_from_option_then_environment_then_home(tmp_path: Path, alice: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    default = make_key(home / ".ssh", "id_ed25519")
    other = make_key(tmp_path, "other")
    env = {"VVRUN_SIGNING_KEY": str(other)}
    assert resolve_key(alice, env, home).path == alice
    assert resolve_key(None, env, home).path == other
    assert resolve_key(None, {}, home) == SigningKey(default, in_agent=False)


def test_a_missing_key_file_is_a_clear_refusal(tmp_path: Path) -> None:
    with pytest.raises(IdentitySetupError) as info:
        resolve_key(None, {}, tmp_path)
    text = info.value.format()
    assert f"signing key {tmp_path}/.ssh/id_ed25519 (the default) not found" in text
    assert "--key PATH or $VVRUN_SIGNING_KEY" in text
    with pytest.raises(IdentitySetupError, match=r"gone \(\$VVRUN_SIGNING_KEY\) not found"):
        resolve_key(None, {"VVRUN_SIGNING_KEY": str(tmp_path / "gone")}, tmp_path)


def test_a_key_not_in_allowed_signers_is_unknown(tmp_path: Path, alice: Path,
                                                 environ: dict[str, str]) -> None:
    mallory = make_key(tmp_path, "mallory")
    allowed = _signers(tmp_path, f"alice@x {pub_text(alice)}")
    signature = sign(MESSAGE, resolve_key(mallory, environ, tmp_path), environ)
    with pytest.raises(ApprovalRefused) as info:
        verify(MESSAGE, signature, allowed, environ)
    assert info.value.message == (f"unknown key {fingerprint_of(mallory)} — add it to "
                                  f"{tmp_path}/.vvrun/allowed_signers")


def test_a_signature_in_another_namespace_is_refused(tmp_path: Path, alice: Path,
                                                     environ: dict[str, str]) -> None:
    allowed = _signers(tmp_path, f"alice@x {pub_text(alice)}")
    # The attack: reuse a signature the operator made for git (a signed commit or tag).
    (tmp_path / "m").write_bytes(MESSAGE)
    subprocess.run(["ssh-keygen", "-Y", "sign", "-n", "git", "-f", str(alice),
                    str(tmp_path / "m")], check=True, capture_output=True, timeout=30)
    signature = (tmp_path / "m.sig").read_text()
    with pytest.raises(ApprovalRefused, match="made for namespace 'git', not 'vvrun'"):
        verify(MESSAGE, signature, allowed, environ)


def test_a_key_allowed_only_for_git_may_not_approve(tmp_path: Path, alice: Path,
                                                    environ: dict[str, str]) -> None:
    allowed = _signers(tmp_path, f'alice@x namespaces="git" {pub_text(alice)}')
    signature = sign(MESSAGE, resolve_key(alice, environ, tmp_path), environ)
    with pytest.raises(SignatureMismatch) as info:
        verify(MESSAGE, signature, allowed, environ)
    assert "may not sign vvrun approvals" in info.value.message
    assert 'namespaces="vvrun"' in info.value.format()


def test_a_tampered_signature_is_refused(tmp_path: Path, alice: Path,
                                         environ: dict[str, str]) -> None:
    allowed = _signers(tmp_path, f"alice@x {pub_text(alice)}")
    signature = sign(MESSAGE, resolve_key(alice, environ, tmp_path), environ)
    lines = signature.strip().splitlines()
    raw = bytearray(base64.b64decode("".join(lines[1:-1])))
    raw[-5] ^= 0x01  # one bit of the ed25519 signature itself
    body = base64.b64encode(bytes(raw)).decode()
    forged = "\n".join([lines[0], *(body[i:i + 70] for i in range(0, len(body), 70)),
                        lines[-1]])
    with pytest.raises(SignatureMismatch, match="does not hold over this action"):
        verify(MESSAGE, forged, allowed, environ)
    with pytest.raises(ApprovalRefused, match="cannot be read; it was altered"):
        verify(MESSAGE, signature.replace(lines[1], "!" + lines[1][1:]), allowed, environ)
    with pytest.raises(ApprovalRefused, match="not an SSH signature"):
        verify(MESSAGE, "alice@x says yes", allowed, environ)


def test_other_bytes_do_not_verify(tmp_path: Path, alice: Path,
                                   environ: dict[str, str]) -> None:
    allowed = _signers(tmp_path, f"alice@x {pub_text(alice)}")
    signature = sign(MESSAGE, resolve_key(alice, environ, tmp_path), environ)
    with pytest.raises(SignatureMismatch):
        verify(MESSAGE.replace(b"ab", b"cd"), signature, allowed, environ)


def test_a_key_listed_only_under_a_pattern_names_nobody(tmp_path: Path, alice: Path,
                                                        environ: dict[str, str]) -> None:
    allowed = _signers(tmp_path, f"*@x,group:dba {pub_text(alice)}")
    signature = sign(MESSAGE, resolve_key(alice, environ, tmp_path), environ)
    with pytest.raises(ApprovalRefused, match=r"under no person's name \(only \*@x, group:dba\)"):
        verify(MESSAGE, signature, allowed, environ)


def test_groups_are_proved_with_the_line_that_names_them(tmp_path: Path, alice: Path,
                                                         environ: dict[str, str]) -> None:
    allowed = _signers(tmp_path, f"alice@x,group:dba {pub_text(alice)}",
                       f'alice@x,group:ops namespaces="git" {pub_text(alice)}',
                       f"* {pub_text(make_key(tmp_path, 'bob'))}")
    signature = sign(MESSAGE, resolve_key(alice, environ, tmp_path), environ)
    # group:ops is on a line that does not allow vvrun signatures: not proved.
    assert verify(MESSAGE, signature, allowed, environ).groups == frozenset({"dba"})


def test_a_passphrase_key_without_agent_fails_at_once_without_prompting(
        tmp_path: Path, environ: dict[str, str]) -> None:
    locked = make_key(tmp_path, "locked", passphrase="correct horse")
    key = resolve_key(locked, environ, tmp_path)
    assert key.encrypted
    started = time.monotonic()
    with pytest.raises(IdentitySetupError) as info:
        sign(MESSAGE, key, environ, timeout=20)
    assert time.monotonic() - started < 15  # failed, did not sit at a prompt until the timeout
    assert "protected by a passphrase and is not in ssh-agent" in info.value.message
    assert f"ssh-add {locked}" in info.value.format()


def test_a_public_key_signs_through_a_real_ssh_agent(tmp_path: Path, alice: Path) -> None:
    allowed = _signers(tmp_path, f"alice@x {pub_text(alice)}")
    with ssh_agent(tmp_path) as env:
        ssh_add(alice, env)
        alice.unlink()  # only the agent holds the private half now
        key = resolve_key(f"{alice}.pub", env, tmp_path)
        assert key.in_agent
        signature = sign(MESSAGE, key, env)
        proof = verify(MESSAGE, signature, allowed, env)
    assert (proof.principal, proof.fingerprint) == ("alice@x", fingerprint_of(alice))


def test_a_passphrase_key_in_the_agent_signs_by_its_file(tmp_path: Path) -> None:
    locked = make_key(tmp_path, "locked", passphrase="correct horse")
    allowed = _signers(tmp_path, f"carol@x {pub_text(locked)}")
    with ssh_agent(tmp_path) as env:
        # ssh-add reads the passphrase only through askpass without a terminal.
        askpass = tmp_path / "askpass"
        askpass.write_text("#!/bin/sh\necho 'correct horse'\n")
        askpass.chmod(0o700)
        subprocess.run(["ssh-add", "-q", str(locked)], check=True, capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=30, start_new_session=True,
                       env={**env, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force",
                            "DISPLAY": ":0"})
        signature = sign(MESSAGE, resolve_key(locked, env, tmp_path), env)
        assert verify(MESSAGE, signature, allowed, env).principal == "carol@x"


def test_a_public_key_the_agent_does_not_hold_is_refused(tmp_path: Path, alice: Path) -> None:
    with ssh_agent(tmp_path) as env, pytest.raises(IdentitySetupError,
                                                   match="is not in ssh-agent"):
        sign(MESSAGE, resolve_key(f"{alice}.pub", env, tmp_path), env)


def test_a_public_key_without_any_agent_is_refused(tmp_path: Path, alice: Path,
                                                   environ: dict[str, str]) -> None:
    with pytest.raises(IdentitySetupError, match="no agent is running here"):
        resolve_key(f"{alice}.pub", environ, tmp_path)


def test_without_ssh_keygen_the_message_says_what_to_install(tmp_path: Path, alice: Path,
                                                             environ: dict[str, str]) -> None:
    with pytest.raises(IdentitySetupError, match="ssh-keygen not found on PATH"):
        sign(MESSAGE, resolve_key(alice, environ, tmp_path), {**environ, "PATH": str(tmp_path)})
