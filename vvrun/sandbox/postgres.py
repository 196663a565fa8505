"""The sandbox's PostgreSQL: initdb once, start on a free port, stop exactly that server.

`pg_stat_statements` is preloaded and created in `postgres` and `template1` (so in every
database created afterwards) when the build ships it: the runbooks read it for slow queries.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from vvrun.sandbox.binaries import Binaries, major, pg_bin_dir, pg_version
from vvrun.sandbox.errors import BROKEN_HINT, SandboxError, SandboxUnavailable
from vvrun.sandbox.pg_user import ensure_pg_user, grant_read_tree, grant_traverse, is_root
from vvrun.sandbox.processes import free_port, is_ours, kill, log_tail
from vvrun.sandbox.state import Service

START_TIMEOUT = 60.0  # seconds; initdb + start takes 2-5 s on a small machine
STAT_STATEMENTS = "pg_stat_statements"

# fsync off and friends: a sandbox is disposable, and this makes it start and run faster.
_PG_SETTINGS = """
# vvrun sandbox: disposable, loopback only
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
"""


def pg_run(args: list[str], *, bin_dir: Path, pg_dir: Path, user: tuple[int, int] | None,
           timeout: float) -> None:
    """Run one PostgreSQL tool; a failure or a hang is a SandboxError quoting the server log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    try:
        subprocess.run([str(bin_dir / args[0]), *args[1:]], check=True, cwd=pg_dir, env=env,
                       user=user and user[0], group=user and user[1],
                       extra_groups=[] if user else None, timeout=timeout, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log = pg_dir / "postgres.log"
        what = (f"did not finish within {timeout:.0f}s"
                if isinstance(exc, subprocess.TimeoutExpired)
                else f"failed ({exc.returncode}): {(exc.stderr or '').strip()}")
        raise SandboxError(f"PostgreSQL `{args[0]}` {what}\n  the end of {log}:\n{log_tail(log)}",
                           hint=BROKEN_HINT) from exc


def ships_stat_statements(bin_dir: Path) -> bool:
    """True if this build has the pg_stat_statements library and its extension files."""
    prefix = bin_dir.parent
    libdirs = [prefix / "lib", prefix / "lib" / "postgresql"]
    sharedirs = [prefix / "share", prefix / "share" / "postgresql"]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run([str(bin_dir / "pg_config"), "--pkglibdir", "--sharedir"],
                             capture_output=True, text=True, timeout=10, check=True).stdout.split()
        libdirs, sharedirs = [Path(out[0])], [Path(out[1])]
    return (any((d / f"{STAT_STATEMENTS}.so").exists() for d in libdirs)
            and any((d / "extension" / f"{STAT_STATEMENTS}.control").exists() for d in sharedirs))


def _init(data: Path, *, bin_dir: Path, pg_dir: Path, user: tuple[int, int] | None,
          version: str) -> None:
    recorded = (data / "PG_VERSION").read_text().strip() if (data / "PG_VERSION").exists() else ""
    if recorded and recorded == major(version):
        return
    if data.exists():  # absent, half-made, or another major version's: disposable anyway
        shutil.rmtree(data)
    pg_run(["initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--no-locale",
            "--encoding=UTF8", "--no-sync", "--no-instructions"],
           bin_dir=bin_dir, pg_dir=pg_dir, user=user, timeout=START_TIMEOUT)
    settings = _PG_SETTINGS
    if ships_stat_statements(bin_dir):
        settings += f"shared_preload_libraries = '{STAT_STATEMENTS}'\n"
    with open(data / "postgresql.auto.conf", "a") as fh:
        fh.write(settings)


def _create_extensions(bin_dir: Path, port: int, pg_dir: Path) -> str:
    if not ships_stat_statements(bin_dir):
        return ""
    sql = f"CREATE EXTENSION IF NOT EXISTS {STAT_STATEMENTS}"
    pg_run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port),
            "-U", "postgres", "-d", "postgres", "-c", sql, "-c", r"\c template1", "-c", sql],
           bin_dir=bin_dir, pg_dir=pg_dir, user=None, timeout=30)
    return STAT_STATEMENTS


def start_postgres(root: Path, binaries: Binaries) -> Service:
    """initdb (once per major version) and start a server on a free loopback port."""
    bin_dir = binaries.pg_bin
    pg_dir = root / "postgres"
    data = pg_dir / "data"
    log = pg_dir / "postgres.log"
    pg_dir.mkdir(parents=True, exist_ok=True)
    user: tuple[int, int] | None = None
    if is_root():
        uid, gid = user = ensure_pg_user()
        grant_traverse(bin_dir)
        if binaries.pg_bundled:
            grant_read_tree(bin_dir.parent)
        grant_traverse(root)
        os.chown(pg_dir, uid, gid)
    version = pg_version(bin_dir)
    _init(data, bin_dir=bin_dir, pg_dir=pg_dir, user=user, version=version)
    for attempt in range(3):  # a free port can be taken between choosing and binding it
        port = free_port()
        try:
            pg_run(["pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", str(int(START_TIMEOUT)),
                    "-o", f"-p {port}", "start"],
                   bin_dir=bin_dir, pg_dir=pg_dir, user=user, timeout=START_TIMEOUT + 5)
            break
        except SandboxError:
            if attempt == 2 or "could not bind" not in log_tail(log, 5):
                raise
    pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    service = Service("postgres", url, port, pid, str(log), version=version,
                      binary=str(bin_dir))
    try:
        extensions = _create_extensions(bin_dir, port, pg_dir)
    except BaseException:
        stop_postgres(service, root)
        raise
    return Service("postgres", url, port, pid, str(log), version=version, binary=str(bin_dir),
                   extensions=extensions)


def stop_postgres(service: Service, root: Path) -> None:
    """`pg_ctl stop -m fast`, then signals; only if the recorded pid still runs postgres."""
    if not is_ours(service.pid, "postgres"):
        return
    user = ensure_pg_user() if is_root() else None
    with contextlib.suppress(SandboxError, SandboxUnavailable, OSError):
        bin_dir = Path(service.binary) if service.binary else pg_bin_dir()
        pg_run(["pg_ctl", "-D", str(root / "postgres" / "data"), "-m", "fast", "-w", "-t", "20",
                "stop"], bin_dir=bin_dir, pg_dir=root / "postgres", user=user, timeout=25)
    kill(service.pid, "postgres")

