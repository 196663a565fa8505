"""Sign bytes with the operator's SSH key: `ssh-keygen -Y sign -n vvrun -f KEY`.

The key is `--key PATH`, else `$VVRUN_SIGNING_KEY`, else `~/.ssh/id_ed25519`: a private key
file, or a `.pub` whose private half is in ssh-agent. vvrun never asks for a passphrase: a
protected key must be in the agent.
"""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vvrun.errors import VvrunError
from vvrun.identity import NAMESPACE, keygen
from vvrun.identity.errors import ApprovalRefused, IdentitySetupError
from vvrun.identity.sshsig import read_string

ENV = "VVRUN_SIGNING_KEY"
_HINT = "give a key with --key PATH or $VVRUN_SIGNING_KEY (create one: ssh-keygen -t ed25519)"


@dataclass(frozen=True)
class SigningKey:
    """A key to sign with; `in_agent` when the path is a `.pub` and the agent holds the key."""

    path: Path
    in_agent: bool
    encrypted: bool = False


def resolve_key(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str],
                home: str | os.PathLike[str]) -> SigningKey:
    """The signing key the options and environment name, checked to exist."""
    if explicit:
        path, how = Path(explicit).expanduser(), "--key"
    elif environ.get(ENV):
        path, how = Path(environ[ENV]).expanduser(), f"${ENV}"
    else:
        path, how = Path(home) / ".ssh" / "id_ed25519", "the default"
    if not path.is_file():
        raise IdentitySetupError(f"signing key {path} ({how}) not found", hint=_HINT)
    if path.suffix == ".pub":
        if not environ.get("SSH_AUTH_SOCK"):
            raise IdentitySetupError(
                f"signing key {path} is a public key, so its private half must be in ssh-agent, "
                "and no agent is running here (SSH_AUTH_SOCK is not set)",
                hint="start one (`eval $(ssh-agent)`), `ssh-add` the key, or give the private "
                "key file with --key")
        return SigningKey(path, in_agent=True)
    return SigningKey(path, in_agent=False, encrypted=_encrypted(path))


def sign(message: bytes, key: SigningKey, environ: Mapping[str, str], *,
         timeout: float = 60.0) -> str:
    """The armored SSH signature of `message` in namespace `vvrun`."""
    with tempfile.TemporaryDirectory(prefix="vvrun-sign-") as tmp:
        data = Path(tmp) / "action"
        data.write_bytes(message)
        args = ["-Y", "sign", "-n", NAMESPACE, "-f", str(key.path)]
        done = keygen.run([*args[:2], "-U", *args[2:], str(data)] if key.in_agent
                          else [*args, str(data)], environ, timeout=timeout)
        if not done.ok and key.in_agent and "usage:" in done.stderr:
            # ssh-keygen before 8.9 has no -U for -Y sign; it still finds the key in the agent.
            done = keygen.run([*args, str(data)], environ, timeout=timeout)
        if not done.ok:
            raise _refusal(key, done.stderr)
        return (Path(tmp) / "action.sig").read_text(encoding="ascii")


def _refusal(key: SigningKey, stderr: str) -> VvrunError:
    text = stderr.lower()
    if "passphrase" in text or key.encrypted:
        return IdentitySetupError(
            f"signing key {key.path} is protected by a passphrase and is not in ssh-agent; "
            "vvrun never asks for a passphrase",
            hint=f"add it to your agent (`ssh-add {key.path}`), then try again")
    if "find key in agent" in text:
        return IdentitySetupError(f"the key of {key.path} is not in ssh-agent",
                                  hint="`ssh-add` its private key, or give it with --key")
    if "agent" in text:
        return IdentitySetupError(f"cannot reach ssh-agent to sign with {key.path}",
                                  hint="check SSH_AUTH_SOCK, or give the private key with --key")
    last = stderr.strip().splitlines()[-1] if stderr.strip() else "no message"
    return ApprovalRefused(f"ssh-keygen could not sign with {key.path}: {last}", hint=_HINT)



def _encrypted(path: Path) -> bool:
    """Whether a private key file needs a passphrase (OpenSSH or PEM format)."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise IdentitySetupError(f"cannot read signing key {path}: {exc}", hint=_HINT) from exc
    if "ENCRYPTED" in text:
        return True
    begin, end = "-----BEGIN OPENSSH PRIVATE KEY-----", "-----END OPENSSH PRIVATE KEY-----"
    if begin not in text or end not in text:
        return False
    try:
        raw = base64.b64decode("".join(text.split(begin, 1)[1].split(end, 1)[0].split()))
        cipher, _ = read_string(raw, len(b"openssh-key-v1\0"))
    except (ValueError, binascii.Error):
        return False
    return cipher != b"none"
