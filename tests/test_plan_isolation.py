"""A plan touches nothing, proven from the outside: a real `vvrun plan` process with tripwires.

- fake `psql`, `redis-cli`, `curl`, `bash` and `sh` first on PATH record that they ran;
- a PostgreSQL database of its own: its session and backend counters must not move;
- a Redis server of its own (or the test one): no connection received, no command counted
  beyond our own `INFO` reads;
- a real HTTP server standing in for every API the runbooks call: no request;
- an empty state directory stays empty.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_plan import REPO, write

FAKES = ("psql", "redis-cli", "curl", "bash", "sh")

EVERY_TYPE = """
    version: 1
    name: every-type
    title: Every step type
    inputs:
      database_url: {type: string, env: DATABASE_URL, secret: true}
    connections:
      db: {postgres: "{{ inputs.database_url }}"}
      cache: {redis: "{{ env.REDIS_URL }}"}
      api: {http: {base_url: "{{ env.API_URL }}"}}
    steps:
      - {id: q, sql: SELECT 1}
      - {id: r, redis: PING}
      - {id: d, redis: {delete_pattern: "t:plan:*"}}
      - {id: i, redis: {info: stats}}
      - {id: h, http: GET /health}
      - {id: s, shell: "psql -c 'select 1'; redis-cli ping; curl -s $API_URL; sh -c true"}
      - {id: c, confirm: Go on?}
      - id: m
        manual:
          instructions: Check it.
          verify: {sql: SELECT 1, expect: result.value == 1}
"""


@pytest.fixture
def fake_bin(tmp_path: Path) -> tuple[Path, Path]:
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    marker = tmp_path / "ran.txt"
    for name in FAKES:
        script = bin_dir / name
        # an absolute interpreter: the fake `sh` on PATH must not run itself
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{marker}"\n')
        script.chmod(0o755)
    return bin_dir, marker


@pytest.fixture
def own_database(pg_url: str) -> Iterator[tuple[str, str]]:
    """A database nobody else connects to, so its counters are ours to read."""
    import psycopg

    name = f"vvrun_plan_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = pg_url.rpartition("/")
    try:
        yield name, f"{base}/{name}"
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def own_redis(redis_url: str, tmp_path: Path) -> Iterator[str]:
    """A real Redis server of our own when the binary is here (the shared one's counters move
    with every other test); the test server otherwise."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield redis_url
        return
    import redis

    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(200):
            try:
                redis.Redis.from_url(url, socket_timeout=1).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _pg_counters(pg_url: str, dbname: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT sessions, numbackends FROM pg_stat_database WHERE datname = %s", (dbname,)
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _shipped() -> list[str]:
    files = sorted((REPO / "runbooks").glob("*.yaml")) + sorted((REPO / "examples").rglob(
        "*.yaml"))
    return [str(f) for f in files]


def test_planning_everything_touches_nothing(
    tmp_path: Path, fake_bin: tuple[Path, Path], own_database: tuple[str, str],
    own_redis: str, pg_url: str, http_server,
) -> None:
    import redis

    bin_dir, marker = fake_bin
    dbname, db_url = own_database
    every = write(tmp_path, "every-type.yaml", EVERY_TYPE)
    state = tmp_path / "state"
    state.mkdir()
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path / "home"),
        "XDG_STATE_HOME": str(state),
        "DATABASE_URL": db_url,
        "REDIS_URL": own_redis,
        "API_URL": http_server.url,
        "VOCAVISION_URL": http_server.url,
        "VOCAVISION_API_URL": http_server.url,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    show = ["--show-env", "REDIS_URL", "--show-env", "API_URL", "--show-env", "VOCAVISION_URL",
            "--show-env", "VOCAVISION_API_URL"]
    watcher = redis.Redis.from_url(own_redis, socket_timeout=5)
    before_redis = watcher.info("stats")
    before_pg = _pg_counters(pg_url, dbname)

    commands = [
        [*show, "--format", fmt, every, *_shipped()] for fmt in ("text", "markdown", "json")
    ]
    for args in commands:
        proc = subprocess.run([sys.executable, "-m", "vvrun", "plan", *args], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        # the plans did see the real targets, and still did not go there
        assert own_redis in proc.stdout and http_server.url in proc.stdout

    after_redis = watcher.info("stats")
    after_pg = _pg_counters(pg_url, dbname)
    assert not marker.exists(), f"a fake CLI ran: {marker.read_text()}"
    assert http_server.requests == []
    assert after_pg == before_pg, "a plan connected to PostgreSQL"
    assert after_redis["total_connections_received"] == before_redis[
        "total_connections_received"], "a plan connected to Redis"
    # our own first INFO is counted once it has run; nothing else may be
    assert after_redis["total_commands_processed"] - before_redis[
        "total_commands_processed"] == 1, "a plan sent Redis a command"
    assert list(state.iterdir()) == [], "a plan wrote state"
    assert not (tmp_path / "home").exists()


def test_the_tripwires_do_fire(tmp_path: Path, fake_bin: tuple[Path, Path],
                               own_database: tuple[str, str], pg_url: str) -> None:
    """The same measurements notice a process and a connection when there is one."""
    import psycopg

    bin_dir, marker = fake_bin
    dbname, db_url = own_database
    before = _pg_counters(pg_url, dbname)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(["psql", "-c", "select 1"], env=env, check=True)
    assert marker.read_text() == "psql -c select 1\n"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SELECT 1")
        during = _pg_counters(pg_url, dbname)
    assert during[1] == before[1] + 1  # one more backend while we are connected
