"""The engine with real PostgreSQL, Redis and HTTP: transactions with expect, outputs across
types, watch, templated locks, and the stray-backend check before re-running an sql step."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from tests.test_engine_support import Runner, write_runbook


@pytest.fixture
def table(pg_url: str):
    import psycopg

    name = f"t_eng_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {name} (n int)")
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


def _count(pg_url: str, table: str) -> int:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_transaction_rolls_back_when_expect_fails(tmp_path: Path, pg_url: str,
                                                  table: str) -> None:
    rb = write_runbook(tmp_path, f"""
        version: 1
        name: tx
        title: Tx
        connections:
          db: {{postgres: "{{{{ env.PG }}}}"}}
        steps:
          - id: ok
            sql: {{query: "INSERT INTO {table} VALUES (1)", transaction: true}}
            expect: result.rowcount == 1
          - id: bad
            sql: {{query: "INSERT INTO {table} VALUES (2), (3)", transaction: true}}
            expect: result.rowcount == 1
    """)
    out = Runner(environ={"PG": pg_url}).run(rb)
    assert out.status == "failed"
    assert out.step("bad").error.startswith("expect `result.rowcount == 1` was false: "
                                            "result.rowcount = 2")
    assert _count(pg_url, table) == 1  # `bad` rolled back


def test_values_flow_between_sql_redis_and_http(tmp_path: Path, pg_url: str, redis_url: str,
                                                http_server) -> None:
    import redis

    key = f"t:engine:{uuid.uuid4().hex}"
    http_server.json("GET", "/health", {"ok": True, "version": "1.2"})
    rb = write_runbook(tmp_path, f"""
        version: 1
        name: flow
        title: Flow
        connections:
          db: {{postgres: "{{{{ env.PG }}}}"}}
          cache: {{redis: "{{{{ env.REDIS }}}}"}}
          api: {{http: {{base_url: "{{{{ env.API }}}}"}}}}
        steps:
          - id: health
            http: GET /health
            expect: result.json.ok
            outputs: {{version: result.json.version}}
          - id: store
            redis: SET {key} {{{{ steps.health.outputs.version }}}}
            danger: false
          - id: read
            redis: GET {key}
          - id: echo
            sql: SELECT {{{{ steps.read.result.value }}}}::text AS v
            expect: result.value == '1.2'
    """)
    out = Runner(environ={"PG": pg_url, "REDIS": redis_url, "API": http_server.url}).run(rb)
    try:
        assert out.status == "succeeded", out.result.error
        assert out.step("echo").result["value"] == "1.2"
    finally:
        client = redis.Redis.from_url(redis_url)
        client.delete(key)
        client.close()


def test_watch_repeats_until_enter_and_once_without_a_terminal(tmp_path: Path,
                                                              pg_url: str) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: watch
        title: Watch
        connections:
          db: {postgres: "{{ env.PG }}"}
        steps:
          - id: look
            watch: 1s
            sql: SELECT 1 AS one
    """)
    presses = iter([False, False, True])
    waited: list[float] = []

    def wait(seconds: float) -> bool:
        waited.append(seconds)
        return next(presses)

    out = Runner(environ={"PG": pg_url}).run(rb, watch_wait=wait)
    assert out.status == "succeeded"
    assert len([e for e in out.events("step_output") if e["stream"] == "watch"]) == 3
    assert waited == [1.0, 1.0, 1.0]
    once = Runner(environ={"PG": pg_url}).run(rb)
    assert once.events("step_output") == [] and once.status == "succeeded"


def test_templated_locks_are_taken_and_kept_while_paused(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: locked
        title: Locked
        inputs:
          db: {type: string, default: "postgresql://app:pw@db.example:5432/app"}
        locks: ["pg:{{ inputs.db | host }}"]
        steps:
          - id: gate
            confirm: Go?
    """)
    runner = Runner()
    out = runner.run(rb)
    assert out.status == "paused"
    assert set(runner.store.locks) == {"locked", "pg:db.example"}
    done = runner.resume(rb, out.result.run_id, yes=True)
    assert done.status == "succeeded" and runner.store.locks == {}


def test_a_stray_backend_blocks_rerunning_an_uncertain_sql_step(tmp_path: Path,
                                                                pg_url: str) -> None:
    import psycopg

    rb = write_runbook(tmp_path, """
        version: 1
        name: stray
        title: Stray
        connections:
          db: {postgres: "{{ env.PG }}"}
        steps:
          - id: slow
            sql: SELECT 1
          - id: gate
            confirm: Go?
    """)
    runner = Runner(environ={"PG": pg_url})
    out = runner.run(rb)
    run_id = out.result.run_id
    runner.store.step_started(run_id, "slow", attempt=1, host="testhost", pid=999999)
    # what a killed vvrun leaves: its backend still running the step's query
    stray = psycopg.connect(pg_url, autocommit=True, application_name=f"vvrun:{run_id}")
    pid = stray.info.backend_pid
    worker = threading.Thread(target=lambda: _sleep_quietly(stray), daemon=True)
    worker.start()
    try:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for _ in range(200):
                if conn.execute("SELECT state FROM pg_stat_activity WHERE pid = %s",
                                (pid,)).fetchone()[0] == "active":
                    break
        refused = runner.resume(rb, run_id, yes=True, rerun=("slow",))
        assert refused.status == "failed"
        assert f"still running on the database (backend pid {pid}" in refused.result.error
        assert "pg_cancel_backend" in refused.result.error
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        worker.join(10)
    done = runner.resume(rb, run_id, yes=True, rerun=("slow",))
    assert done.status == "succeeded", done.result.error


def _sleep_quietly(conn) -> None:
    import psycopg

    try:
        conn.execute("SELECT pg_sleep(60)")
    except psycopg.Error:
        pass
    finally:
        conn.close()


def test_connection_statement_timeout_caps_a_defaults_timeout_but_not_a_steps_own(
    tmp_path: Path, pg_url: str
) -> None:
    rb = write_runbook(tmp_path, f"""
        version: 1
        name: limits
        title: Limits
        connections:
          db: {{postgres: "{pg_url}", statement_timeout: 500ms}}
        defaults:
          timeout: 2m
        steps:
          - id: own
            timeout: 10s
            sql: SELECT pg_sleep(1) IS NULL AS slept
          - id: inherited
            sql: SELECT pg_sleep(3)
    """)
    out = Runner().run(rb)
    assert out.step("own").status == "succeeded"
    inherited = out.step("inherited")
    assert inherited.status == "failed" and "0.5s" in (inherited.error or "")
