"""Real SSH keys, allowed_signers files and ssh-agents for the identity tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def make_key(folder: Path, name: str, passphrase: str = "") -> Path:
    """A new ed25519 key pair `folder/name` and `folder/name.pub`."""
    path = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", name,
                    "-f", str(path)], check=True, stdin=subprocess.DEVNULL, timeout=30)
    return path


def pub_text(key: Path) -> str:
    """`keytype base64` of a key (the .pub without its comment)."""
    return " ".join(Path(f"{key}.pub").read_text().split()[:2])


def fingerprint_of(key: Path) -> str:
    """The fingerprint ssh-keygen itself prints for a key."""
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{key}.pub"], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return out.split()[1]


def write_signers(path: Path, *lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# who may approve vvrun steps\n" + "\n".join(lines) + "\n")
    path.chmod(0o644)
    return path


@contextmanager
def ssh_agent(folder: Path) -> Iterator[dict[str, str]]:
    """A real ssh-agent on its own socket; yields the environment that reaches it."""
    sock = folder / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ssh-agent did not start")
            time.sleep(0.01)
        env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
        env["SSH_AUTH_SOCK"] = str(sock)
        yield env
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def ssh_add(key: Path, env: dict[str, str]) -> None:
    subprocess.run(["ssh-add", "-q", str(key)], check=True, env=env, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=30)
