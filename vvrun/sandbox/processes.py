"""Small process and socket helpers: free ports, liveness, stopping exactly our own pids."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int | None) -> bool:
    """True if `pid` runs (a zombie does not: it has exited and waits to be reaped)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def is_ours(pid: int, binary: str) -> bool:
    """True if `pid` is alive and still runs `binary` (so a recycled pid is never killed)."""
    if not pid_alive(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # Linux; elsewhere we trust the pid
        with contextlib.suppress(OSError):
            return binary in cmdline.read_bytes().decode(errors="replace")
    return True


def kill(pid: int, binary: str, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; only if `pid` still runs `binary`."""
    if not is_ours(pid, binary):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def log_tail(path: Path, lines: int = 15) -> str:
    """The last `lines` of a server's log, indented, for an error message."""
    try:
        text = path.read_text(errors="replace").rstrip().splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join("    " + line for line in text[-lines:]) or "(the log is empty)"
