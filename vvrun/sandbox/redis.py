"""The sandbox's Redis: a daemonized `redis-server` on a free loopback port, nothing saved."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from vvrun.sandbox.binaries import redis_version
from vvrun.sandbox.errors import BROKEN_HINT, SandboxError
from vvrun.sandbox.processes import free_port, kill, log_tail, redis_ping
from vvrun.sandbox.state import Service

BINARY_NAME = "redis-server"  # what /proc/PID/cmdline shows: `down` kills only that


def start_redis(root: Path, binary: Path) -> Service:
    """Start `binary` in `<root>/redis` and wait until it answers PING."""
    redis_dir = root / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    log = redis_dir / "redis.log"
    pidfile = redis_dir / "redis.pid"
    version = redis_version(binary)
    for attempt in range(3):  # a free port can be taken between choosing and binding it
        port = free_port()
        pidfile.unlink(missing_ok=True)
        # --daemonize: the server outlives this process and is no child of it to reap
        proc = subprocess.run(
            [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(redis_dir),
             "--save", "", "--appendonly", "no", "--daemonize", "yes",
             "--pidfile", str(pidfile), "--logfile", str(log)],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.returncode == 0:
            if redis_ping(port) and pidfile.exists() and pidfile.read_text().strip():
                pid = int(pidfile.read_text().strip())
                return Service("redis", f"redis://127.0.0.1:{port}/0", port, pid, str(log),
                               version=version, binary=str(binary))
            time.sleep(0.05)
        if attempt == 2 or "Address already in use" not in log_tail(log, 5):
            break
    raise SandboxError(
        f"redis-server did not start on port {port}: {(proc.stderr or proc.stdout).strip()}\n"
        f"  the end of {log}:\n{log_tail(log)}", hint=BROKEN_HINT)


def stop_redis(service: Service) -> None:
    kill(service.pid, BINARY_NAME)
