"""The sandbox directory: where it is, its lock, and `sandbox.json` (what `down` stops).

    <root>/sandbox.json     ports, pids, URLs and server versions
    <root>/postgres/        data/ and postgres.log (owned by the server's user)
    <root>/redis/           redis.pid and redis.log
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vvrun.sandbox.errors import SandboxError

STATE_FILE = "sandbox.json"


@dataclass(frozen=True)
class Service:
    """One running server of a sandbox."""

    name: str  # "postgres" | "redis"
    url: str
    port: int
    pid: int
    log: str
    version: str = ""  # "PostgreSQL 18.6", "Redis 6.2.14"; empty in files older than it
    binary: str = ""  # the directory of the PostgreSQL binaries, or the redis-server path
    extensions: str = ""  # PostgreSQL extensions created in every database: "pg_stat_statements"


@dataclass(frozen=True)
class Sandbox:
    """A running sandbox, as recorded in `<root>/sandbox.json`."""

    root: str
    postgres: Service
    redis: Service
    owner_pid: int | None = None  # set for a test session's sandbox: stop it when that pid dies
    created_at: float = 0.0

    def env(self) -> dict[str, str]:
        """The variables a runbook reads: DATABASE_URL, REDIS_URL, and VOCAVISION_DB_ADMIN (the
        incident runbooks' admin login: the sandbox's user is the server's superuser)."""
        return {"DATABASE_URL": self.postgres.url, "REDIS_URL": self.redis.url,
                "VOCAVISION_DB_ADMIN": self.postgres.url}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sandbox:
        return cls(root=data["root"], postgres=Service(**data["postgres"]),
                   redis=Service(**data["redis"]), owner_pid=data.get("owner_pid"),
                   created_at=data.get("created_at", 0.0))


def default_dir(environ: Mapping[str, str]) -> Path:
    """`$VVRUN_SANDBOX_DIR`, else `$XDG_STATE_HOME/vvrun/sandbox` (~/.local/state/...)."""
    if environ.get("VVRUN_SANDBOX_DIR"):
        return Path(environ["VVRUN_SANDBOX_DIR"]).expanduser().absolute()
    state_home = environ.get("XDG_STATE_HOME") or str(Path("~/.local/state").expanduser())
    return Path(state_home).absolute() / "vvrun" / "sandbox"


def read(root: Path) -> Sandbox | None:
    """The sandbox recorded in `root`, running or not; None when there is none."""
    try:
        return Sandbox.from_dict(json.loads((root / STATE_FILE).read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SandboxError(f"{root / STATE_FILE} is unreadable: {exc}",
                           hint="`vvrun sandbox down` removes the broken sandbox") from exc


def write(root: Path, sandbox: Sandbox) -> None:
    path = root / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(sandbox.to_dict(), indent=2) + "\n")
    os.replace(tmp, path)  # atomic: a reader sees the old file or the new one


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """One `up`/`down` at a time per sandbox directory (two terminals, a test and a demo)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
