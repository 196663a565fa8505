"""A real OpenSSH server for tests: Debian's `/usr/sbin/sshd` on a free loopback port, with its
own host key, its own config and a generated ed25519 user key. Skipped (with the reason) only
when sshd cannot be found.

    with running_sshd(folder) as server: ...   # Sshd(port, user, identity_file, known_hosts, …)

Each test module wraps it in its own session fixture (a fixture imported into a module would be
shadowed by the test functions' parameters, which linters flag).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    host: str
    port: int
    user: str
    identity_file: str
    known_hosts: str
    wrong_known_hosts: str  # a different host key under the same name: "key changed"
    empty_known_hosts: str  # no entry at all: "key unknown"
    stranger_key: str  # a user key the server does not accept
    log: Path

    def connection(self, **extra: object) -> dict[str, object]:
        """The runbook's `connections:` entry for this server."""
        return {"ssh": f"{self.user}@{self.host}", "port": self.port,
                "identity_file": self.identity_file, "known_hosts": self.known_hosts, **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vvrun-test",
                    "-f", str(path)], check=True, stdin=subprocess.DEVNULL)
    return path.with_suffix(".pub").read_text().split()[1]


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"sshd exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)  # polling the port, bounded by the deadline
    pytest.fail(f"sshd did not listen on 127.0.0.1:{port} within 15s:\n{log.read_text()}")


@contextlib.contextmanager
def running_sshd(d: Path) -> Iterator[Sshd]:
    """A real sshd for the length of the block, its files in the empty folder `d`."""
    if not os.path.exists(SSHD) or shutil.which("ssh") is None:
        pytest.skip("OpenSSH server/client not installed: apt-get install -y openssh-server "
                    "openssh-client")
    os.chmod(d, 0o700)
    host_pub = _keygen(d / "host_ed25519")
    other_pub = _keygen(d / "other_host_ed25519")
    user_pub = _keygen(d / "user_ed25519")
    _keygen(d / "stranger_ed25519")
    (d / "authorized_keys").write_text(f"ssh-ed25519 {user_pub} vvrun-test\n")
    port = _free_port()
    known = d / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} ssh-ed25519 {host_pub}\n")
    wrong = d / "wrong_known_hosts"
    wrong.write_text(f"[127.0.0.1]:{port} ssh-ed25519 {other_pub}\n")
    empty = d / "empty_known_hosts"
    empty.write_text("")
    config = d / "sshd_config"
    config.write_text("\n".join([
        "ListenAddress 127.0.0.1",
        f"Port {port}",
        f"HostKey {d / 'host_ed25519'}",
        f"AuthorizedKeysFile {d / 'authorized_keys'}",
        f"PidFile {d / 'sshd.pid'}",
        "UsePAM no",
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "MaxSessions 50",
        "MaxStartups 50",
        "LogLevel ERROR",
        "",
    ]))
    # sshd refuses to start without its privilege-separation directory
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    log = d / "sshd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_port(proc, port, log)
        yield Sshd(host="127.0.0.1", port=port, user=getpass.getuser(),
                   identity_file=str(d / "user_ed25519"), known_hosts=str(known),
                   wrong_known_hosts=str(wrong), empty_known_hosts=str(empty),
                   stranger_key=str(d / "stranger_ed25519"), log=log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
