"""The one place ssh-keygen runs: argument lists, no shell, bounded, and never a prompt."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vvrun.identity.errors import ApprovalRefused, IdentitySetupError

# Variables that would let ssh-keygen ask for a passphrase through a window.
_PROMPTERS = ("DISPLAY", "WAYLAND_DISPLAY", "SSH_ASKPASS")


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(args: Sequence[str], environ: Mapping[str, str], *, stdin: bytes | None = None,
        timeout: float = 30.0, program: str = "ssh-keygen") -> Outcome:
    """Run `ssh-keygen ARGS`. Its own session and no askpass: it has no terminal to prompt on,
    so a passphrase it needs is a failure, not a hang."""
    env = {k: v for k, v in environ.items() if k not in _PROMPTERS}
    env["SSH_ASKPASS_REQUIRE"] = "never"
    try:
        done = subprocess.run(
            [program, *args], input=stdin if stdin is not None else b"",
            capture_output=True, env=env, timeout=timeout, start_new_session=True, check=False)
    except FileNotFoundError as exc:
        raise IdentitySetupError(f"{program} not found on PATH; approvals are SSH signatures",
                                 hint="install OpenSSH's client (Debian: openssh-client)") from exc
    except subprocess.TimeoutExpired as exc:
        raise ApprovalRefused(f"{program} {args[0]} {args[1]} did not finish within {timeout:g}s",
                              hint="is a hardware key waiting for a touch? try again") from exc
    return Outcome(done.returncode, done.stdout.decode("utf-8", "replace"),
                   done.stderr.decode("utf-8", "replace"))
