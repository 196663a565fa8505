"""Signals during a call to a real server. SIGTERM during a query: it is cancelled on the
server (its backend checked in pg_stat_activity), or its backend terminated when the cancel does
not take within `grace`; the ledger says a cancelled query did not take effect, so a resume runs
it again. SIGHUP during a blocked Redis call: its connection is closed."""

from __future__ import annotations

import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.signal_runs import events, finish, start, vv, wait_for, write_runbook


def _backends(pg_url: str, run_id: str) -> list[int]:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                            "AND state = 'active'", (f"vvrun:{run_id}",)).fetchall()
    return [r[0] for r in rows]


def _run_id(proc: subprocess.Popen[str]) -> str:
    """The run's id, from its first event (`run_started`)."""
    assert proc.stdout is not None
    return str(events(proc.stdout.readline())[0]["run_id"])


def test_sigterm_cancels_the_query_on_the_server_and_resume_runs_it_again(
        tmp_path: Path, pg_url: str) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: slowq
        title: Slow query
        inputs:
          secs: {type: integer, default: 600}
        connections:
          db: {postgres: "{{ env.PG_URL }}"}
        steps:
          - id: slow
            sql: SELECT pg_sleep({{ inputs.secs }}) AS slept
    """)
    proc = start(tmp_path, "run", str(rb), PG_URL=pg_url)
    run_id = _run_id(proc)
    try:
        wait_for(lambda: _backends(pg_url, run_id), "the query to start")
        proc.send_signal(signal.SIGTERM)
        out, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert _backends(pg_url, run_id) == []
    ended = [e for e in events(out) if e["event"] == "step_ended"]
    assert ended[-1]["status"] == "interrupted"
    assert "cancelled by SIGTERM before it took effect" in ended[-1]["error"]
    # known not done: --yes alone runs it again, no --rerun needed
    again = vv(tmp_path, "resume", run_id, "--yes", "--var", "secs=0", PG_URL=pg_url)
    assert again.returncode == 0, again.stderr


def test_a_cancel_that_does_not_take_terminates_the_backend(tmp_path: Path,
                                                           pg_url: str) -> None:
    # The block swallows query_canceled and sleeps again, as a backend stuck where cancels
    # are not honoured would; pg_terminate_backend ends a session whatever it runs.
    rb = write_runbook(tmp_path, """
        version: 1
        name: deaf
        title: Deaf query
        connections:
          db: {postgres: "{{ env.PG_URL }}"}
        steps:
          - id: deaf
            grace: 1s
            danger: false  # a DO block is dangerous by default; this one only sleeps
            sql: |
              DO $$
              BEGIN
                LOOP
                  BEGIN
                    PERFORM pg_sleep(600);
                  EXCEPTION WHEN query_canceled THEN
                    NULL;
                  END;
                END LOOP;
              END $$
    """)
    proc = start(tmp_path, "run", str(rb), PG_URL=pg_url)
    run_id = _run_id(proc)
    try:
        backend = wait_for(lambda: _backends(pg_url, run_id), "the query to start")[0]
        proc.send_signal(signal.SIGTERM)
        out, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        left = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                            (backend,)).fetchone()
    assert left is not None and left[0] == 0
    ended = [e for e in events(out) if e["event"] == "step_ended"]
    assert ended[-1]["status"] == "interrupted"
    assert "its backend was terminated (pg_terminate_backend)" in ended[-1]["error"]
    assert "before it took effect" not in ended[-1]["error"]  # autocommit: it may have committed



def test_sighup_closes_a_blocked_redis_call(tmp_path: Path, redis_url: str) -> None:
    import redis

    rb = write_runbook(tmp_path, """
        version: 1
        name: blocked
        title: Blocked
        connections:
          cache: {redis: "{{ env.REDIS_URL }}"}
        steps:
          - id: wait
            danger: false  # BLPOP pops (a write); the key is never pushed to
            redis: BLPOP vvrun-signals-never-pushed 0
    """)
    proc = start(tmp_path, "run", str(rb), REDIS_URL=redis_url)
    run_id = _run_id(proc)
    server = redis.Redis.from_url(redis_url)

    def blocked() -> list[dict]:
        return [c for c in server.client_list() if c.get("name") == f"vvrun:{run_id}"
                and c.get("cmd") == "blpop"]

    try:
        wait_for(blocked, "the BLPOP to block")
        proc.send_signal(signal.SIGHUP)
        out, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.close()
    assert proc.returncode == 129, err
    server = redis.Redis.from_url(redis_url)
    try:
        assert not [c for c in server.client_list() if c.get("name") == f"vvrun:{run_id}"]
    finally:
        server.close()
    assert events(out)[-1]["status"] == "interrupted"


@pytest.fixture
def team_store(pg_url: str) -> Iterator[str]:
    """A schema of its own in the test database for a PostgreSQL state store (dropped after)."""
    import psycopg

    schema = f"vvrun_sig_{uuid.uuid4().hex[:8]}"
    yield schema
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _wait_on_lock(pg_url: str, query_like: str, what: str) -> None:
    """Until a backend waits on a lock in a statement that looks like `query_like`."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as watcher:
        wait_for(lambda: watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE %s", (query_like,)).fetchone()[0], what)


def test_sigterm_while_the_end_of_a_run_is_written_does_not_leave_it_running(
        tmp_path: Path, pg_url: str, team_store: str) -> None:
    """The unlucky operator: every step is done and vvrun is writing the run's end (here held
    on a row lock in a team store) when SIGTERM lands. The record must still be written, with
    the run's real status and its locks released, not left `running`."""
    import psycopg

    schema = team_store
    rb = write_runbook(tmp_path, """
        version: 1
        name: ending
        title: Ending
        steps:
          - id: work
            shell: |
              touch ready
              while [ ! -e go ]; do sleep 0.02; done
    """)
    proc = start(tmp_path, "run", str(rb), VVRUN_STATE=pg_url, VVRUN_STATE_SCHEMA=schema)
    try:
        with psycopg.connect(pg_url) as holder:  # a transaction: the row lock lasts till commit
            wait_for((tmp_path / "ready").exists, "the step to start")
            run_id = holder.execute(f'SELECT id FROM "{schema}".runs WHERE runbook = %s',
                                    ("ending",)).fetchone()[0]
            holder.execute(f'SELECT 1 FROM "{schema}".runs WHERE id = %s FOR UPDATE', (run_id,))
            (tmp_path / "go").touch()
            _wait_on_lock(pg_url, f'UPDATE "{schema}".runs%', "vvrun to wait on the run's row")
            proc.send_signal(signal.SIGTERM)
            holder.rollback()  # let the end be written
        _, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "SIGTERM arrived while the run's end was being recorded" in err
    with psycopg.connect(pg_url, autocommit=True) as conn:
        status = conn.execute(f'SELECT status FROM "{schema}".runs WHERE id = %s',
                              (run_id,)).fetchone()[0]
        locks = conn.execute(f'SELECT count(*) FROM "{schema}".locks').fetchone()[0]
    assert (status, locks) == ("succeeded", 0)


def test_sigterm_before_the_first_step_still_exits_143(tmp_path: Path, pg_url: str,
                                                       team_store: str) -> None:
    """SIGTERM while vvrun waits for its run's lock (another process holds the lock table of a
    team store): the exit code names the signal (143), not Ctrl-C's 130 — click turns every
    KeyboardInterrupt into its Abort, which must keep the signal's code."""
    import psycopg

    state = {"VVRUN_STATE": pg_url, "VVRUN_STATE_SCHEMA": team_store}
    rb = write_runbook(tmp_path, """
        version: 1
        name: early
        title: Early
        steps:
          - {id: a, shell: 'true'}
    """)
    assert vv(tmp_path, "run", str(rb), **state).returncode == 0  # creates the store's tables
    proc = None
    try:
        with psycopg.connect(pg_url) as holder:
            holder.execute(f'LOCK TABLE "{team_store}".locks IN ACCESS EXCLUSIVE MODE')
            proc = start(tmp_path, "run", str(rb), **state)
            _wait_on_lock(pg_url, f'%"{team_store}".%', "vvrun to wait for the lock table")
            proc.send_signal(signal.SIGTERM)
            holder.rollback()
        _, err = finish(proc)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
