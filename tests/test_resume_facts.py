"""What a resume says and does about the step a run stopped in, met as an unlucky operator
meets it: vvrun killed (`kill -KILL`) while the step's process group or its SQL backend goes
on, and Ctrl-C at moments where vvrun does know what happened (between two attempts, in the
middle of a throttled `delete_pattern`, in a shell step it stopped itself).

Real `vvrun` processes, real signals, real PostgreSQL and Redis; the test waits on what the
step writes or on the server's own view, never on the clock. Nothing a step started outlives
its test.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.signal_runs import (
    VVRUN,
    env_for,
    events,
    finish,
    read_pid,
    start,
    vv,
    wait_for,
    write_runbook,
)
from vvrun.engine.stray import live_process_group
from vvrun.state import open_store

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux /proc")


# -- helpers -------------------------------------------------------------------------------

def _run_id(proc: subprocess.Popen[str]) -> str:
    """The run's id, from its first event (`run_started`)."""
    assert proc.stdout is not None
    return str(events(proc.stdout.readline())[0]["run_id"])


def _kill_vvrun(proc: subprocess.Popen[str]) -> None:
    """`kill -KILL` of vvrun alone: what its step started is in groups of their own."""
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def _stop_group(pgid: int | None) -> None:
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        wait_for(lambda: not live_process_group(pgid), f"process group {pgid} to end")


def _status(tmp_path: Path, run_id: str) -> str:
    store = open_store(env_for(tmp_path))
    try:
        run = store.get_run(run_id)
        assert run is not None
        return str(run.status)
    finally:
        store.close()


def _settled(tmp_path: Path, run_id: str) -> list[dict[str, Any]]:
    store = open_store(env_for(tmp_path))
    try:
        return [dict(e.get("data") or {}) for e in store.events(run_id)
                if e.get("kind") == "uncertain_settled"]
    finally:
        store.close()


def at_terminal(tmp_path: Path, args: list[str], answers: list[bytes],
                **env: str) -> tuple[int, str]:
    """`vvrun ARGS` on a real pseudo-terminal, as an operator types: each `[y/N]` prompt
    gets the next answer. (exit code, everything it showed, its lines joined by spaces)."""
    import fcntl
    import termios

    master, slave = os.openpty()

    def own_terminal() -> None:  # in the child: the pty becomes its controlling terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    full_env = env_for(tmp_path, TERM="dumb", COLUMNS="400", **env)
    proc = subprocess.Popen([*VVRUN, *args], stdin=slave, stdout=slave, stderr=slave,
                            env=full_env, cwd=tmp_path, start_new_session=True,
                            preexec_fn=own_terminal)
    os.close(slave)
    seen, asked = b"", 0
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                pytest.fail(f"vvrun stopped talking; so far: {seen!r}")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: vvrun closed the terminal (it exited)
                break
            if not chunk:
                break
            seen += chunk
            if seen.count(b"[y/N]") > asked:
                assert asked < len(answers), f"asked more than expected: {seen!r}"
                os.write(master, answers[asked] + b"\n")
                asked += 1
        code = proc.wait(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, " ".join(seen.decode(errors="replace").split())  # unwrapped


# -- item 1: the step is still running ------------------------------------------------------

def test_a_killed_runs_shell_step_still_running_is_neither_settled_nor_run_again(
        tmp_path: Path) -> None:
    # the operator kills vvrun with the step's `sleep` still going, then tries every way out:
    # --yes, --mark-done, and at a terminal "no, don't run it again" then "yes, take it as done"
    rb = write_runbook(tmp_path, """
        version: 1
        name: longwork
        title: Long work
        steps:
          - id: work
            shell: |
              echo started >> log
              if [ ! -e second ]; then echo $$ > bash.pid; sleep 301; fi
          - id: after
            shell: echo after-ran
    """)
    proc = start(tmp_path, "run", str(rb))
    pgid = None
    try:
        run_id = _run_id(proc)
        pgid = wait_for(lambda: read_pid(tmp_path / "bash.pid"), "the step to start")
        _kill_vvrun(proc)
        assert live_process_group(pgid)

        blocked = vv(tmp_path, "resume", run_id, "--yes")
        assert blocked.returncode == 1, blocked.stdout + blocked.stderr
        assert f"step 'work' is still running (pgid {pgid})" in blocked.stderr
        assert f"kill -TERM -{pgid}" in blocked.stderr
        assert "cannot know" not in blocked.stderr

        marked = vv(tmp_path, "resume", run_id, "--mark-done", "work")
        assert marked.returncode == 1, marked.stdout + marked.stderr
        assert f"still running (pgid {pgid})" in marked.stderr

        code, shown = at_terminal(tmp_path, ["resume", run_id], [b"n", b"y"])
        assert code == 1, shown
        assert f"still running (pgid {pgid})" in shown
        assert "Run it again?" not in shown and "Take step" not in shown  # nothing asked
        assert "after-ran" not in shown
        assert _status(tmp_path, run_id) != "succeeded"
        assert (tmp_path / "log").read_text().count("started") == 1  # no second copy
        assert live_process_group(pgid)  # untouched: the operator decides
        assert _settled(tmp_path, run_id) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        _stop_group(pgid)

    # once it is gone the resume asks as before, saying what it saw
    (tmp_path / "second").touch()
    asked = vv(tmp_path, "resume", run_id, "--yes")
    assert asked.returncode == 1
    assert f"cannot know whether it took effect (its process group {pgid} has ended)" in (
        asked.stderr)
    rerun = vv(tmp_path, "resume", run_id, "--yes", "--rerun", "work")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "after-ran" in rerun.stdout
    assert _settled(tmp_path, run_id)[-1]["via"] == "--rerun"


def _active(pg_url: str, token: str) -> list[tuple[int, str]]:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid, application_name FROM pg_stat_activity "
                            "WHERE state = 'active' AND query LIKE %s AND pid <> "
                            "pg_backend_pid()", (f"%{token}%",)).fetchall()
    return [(r[0], r[1]) for r in rows]


def _terminate(pg_url: str, token: str) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE "
                     "%s AND pid <> pg_backend_pid()", (f"%{token}%",))
    wait_for(lambda: not _active(pg_url, token), "the backend to end")


def test_a_killed_runs_query_still_active_on_the_server_is_neither_settled_nor_run_again(
        tmp_path: Path, pg_url: str) -> None:
    token = f"vvrun_facts_{uuid.uuid4().hex[:10]}"
    rb = write_runbook(tmp_path, f"""
        version: 1
        name: longquery
        title: Long query
        connections:
          db: {{postgres: "{{{{ env.PG_URL }}}}"}}
        steps:
          - id: work
            sql: SELECT pg_sleep(302) AS {token}
    """)
    proc = start(tmp_path, "run", str(rb), PG_URL=pg_url)
    try:
        run_id = _run_id(proc)
        ((backend, app),) = wait_for(lambda: _active(pg_url, token), "the query to start")
        assert app == f"vvrun:{run_id}"
        _kill_vvrun(proc)
        assert _active(pg_url, token)  # the server has not noticed: it sleeps on

        blocked = vv(tmp_path, "resume", run_id, "--yes", PG_URL=pg_url)
        assert blocked.returncode == 1, blocked.stdout + blocked.stderr
        assert f"still running on the database (backend pid {backend} (active)" in (
            blocked.stderr)
        assert f"pg_cancel_backend({backend})" in blocked.stderr
        marked = vv(tmp_path, "resume", run_id, "--mark-done", "work", PG_URL=pg_url)
        assert marked.returncode == 1 and f"backend pid {backend}" in marked.stderr
        code, shown = at_terminal(tmp_path, ["resume", run_id], [b"n", b"y"], PG_URL=pg_url)
        assert code == 1 and f"backend pid {backend}" in shown, shown
        assert "Run it again?" not in shown
        assert _status(tmp_path, run_id) != "succeeded"
        assert _active(pg_url, token) == [(backend, app)]  # one copy, the first
    finally:
        if proc.poll() is None:
            proc.kill()
        _terminate(pg_url, token)

    done = vv(tmp_path, "resume", run_id, "--mark-done", "work", PG_URL=pg_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _active(pg_url, token) == []


# -- item 2: what vvrun knows ---------------------------------------------------------------

def _interrupt_when(proc: subprocess.Popen[str], kind: str) -> list[dict[str, Any]]:
    """Read the run's events until one of `kind`, then Ctrl-C; every event it printed."""
    assert proc.stdout is not None
    seen: list[dict[str, Any]] = []
    for line in proc.stdout:
        seen += events(line)
        if seen and seen[-1]["event"] == kind:
            break
    proc.send_signal(signal.SIGINT)
    out, err = finish(proc)
    assert proc.returncode == 130, err
    return seen + events(out)


def test_ctrl_c_between_attempts_is_known_and_the_resume_runs_it_without_asking(
        tmp_path: Path, pg_url: str) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: polling
        title: Polling
        inputs:
          v: {type: integer, default: 1}
        connections:
          db: {postgres: "{{ env.PG_URL }}"}
        steps:
          - id: poll
            sql: SELECT {{ inputs.v }} AS value
            retry: {attempts: 10, delay: 5s, until: result.value == 0}
    """)
    proc = start(tmp_path, "run", str(rb), PG_URL=pg_url)
    try:
        run_id = _run_id(proc)
        seen = _interrupt_when(proc, "step_retry")  # waiting 5 s, no query running
    finally:
        if proc.poll() is None:
            proc.kill()
    ended = [e for e in seen if e["event"] == "step_ended"][-1]
    assert ended["status"] == "interrupted"
    assert "between attempts" in ended["error"], ended
    assert "attempt 1 of 10 had ended" in ended["error"]

    again = vv(tmp_path, "resume", run_id, "--yes", "--var", "v=0", PG_URL=pg_url)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "cannot know" not in again.stdout + again.stderr
    (settled,) = _settled(tmp_path, run_id)
    assert (settled["decision"], settled["via"]) == ("rerun", "between-attempts")


def test_a_query_cancelled_before_effect_is_recorded_as_that_not_as_idempotent(
        tmp_path: Path, pg_url: str) -> None:
    token = f"vvrun_facts_{uuid.uuid4().hex[:10]}"
    rb = write_runbook(tmp_path, f"""
        version: 1
        name: cancelq
        title: Cancelled query
        inputs:
          secs: {{type: integer, default: 303}}
        connections:
          db: {{postgres: "{{{{ env.PG_URL }}}}"}}
        steps:
          - id: work
            sql: SELECT pg_sleep({{{{ inputs.secs }}}}) AS {token}
    """)
    proc = start(tmp_path, "run", str(rb), PG_URL=pg_url)
    try:
        run_id = _run_id(proc)
        wait_for(lambda: _active(pg_url, token), "the query to start")
        proc.send_signal(signal.SIGINT)
        finish(proc)
        assert proc.returncode == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        _terminate(pg_url, token)
    again = vv(tmp_path, "resume", run_id, "--yes", "--var", "secs=0", PG_URL=pg_url)
    assert again.returncode == 0, again.stdout + again.stderr
    (settled,) = _settled(tmp_path, run_id)
    assert settled["via"] == "cancelled-before-effect"


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    import redis

    mine = f"vvrun-facts-{uuid.uuid4().hex[:10]}:"
    yield mine
    server = redis.Redis.from_url(redis_url)
    for key in server.scan_iter(match=f"{mine}*", count=1000):
        server.delete(key)


def test_ctrl_c_in_delete_pattern_and_the_resume_asks_with_what_was_deleted(
        tmp_path: Path, redis_url: str, prefix: str) -> None:
    import redis

    server = redis.Redis.from_url(redis_url)
    pipe = server.pipeline(transaction=False)
    for i in range(8032):
        pipe.set(f"{prefix}{i}", "x")
    pipe.execute()

    def left() -> int:
        return sum(1 for _ in server.scan_iter(match=f"{prefix}*", count=1000))

    rb = write_runbook(tmp_path, f"""
        version: 1
        name: purge
        title: Purge
        connections:
          cache: {{redis: "{{{{ env.REDIS_URL }}}}"}}
        steps:
          - id: purge
            danger: false  # a test's own keys
            redis: {{delete_pattern: {{pattern: "{prefix}*", max_per_second: 2000}}}}
    """)
    proc = start(tmp_path, "run", str(rb), REDIS_URL=redis_url)
    try:
        run_id = _run_id(proc)
        wait_for(lambda: 0 < left() < 7000, "some keys to be deleted")
        proc.send_signal(signal.SIGINT)
        out, err = finish(proc)
        assert proc.returncode == 130, err
    finally:
        if proc.poll() is None:
            proc.kill()
    remaining = left()
    assert remaining > 0
    ended = [e for e in events(out) if e["event"] == "step_ended"][-1]
    assert f"after deleting {8032 - remaining} of the" in ended["error"], ended

    told = vv(tmp_path, "resume", run_id, "--yes", REDIS_URL=redis_url)
    assert told.returncode == 1
    assert "cannot know" not in told.stderr
    assert ("step 'purge' was in flight when Ctrl-C (SIGINT) stopped the run: delete_pattern "
            f"{prefix}* was cancelled after deleting {8032 - remaining} of the") in told.stderr
    assert "nothing of it is still running" in told.stderr
    assert "run it again to delete the rest" in told.stderr

    code, shown = at_terminal(tmp_path, ["resume", run_id], [b"y"], REDIS_URL=redis_url)
    assert code == 0, shown
    assert f"after deleting {8032 - remaining} of the" in shown
    assert "run it again to delete the rest" in shown
    assert "cannot know" not in shown
    assert left() == 0
    (settled,) = _settled(tmp_path, run_id)
    assert (settled["decision"], settled["via"]) == ("rerun", "prompt")


def test_a_shell_step_vvrun_stopped_itself_is_asked_about_with_that(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: stopped
        title: Stopped
        steps:
          - id: work
            shell: |
              if [ -e second ]; then echo second-ran; exit 0; fi
              echo $$ > bash.pid
              sleep 304
    """)
    proc = start(tmp_path, "run", str(rb))
    pgid = None
    try:
        run_id = _run_id(proc)
        pgid = wait_for(lambda: read_pid(tmp_path / "bash.pid"), "the step to start")
        proc.send_signal(signal.SIGINT)
        finish(proc)
        assert proc.returncode == 130
        assert not live_process_group(pgid)  # vvrun stopped it whole
    finally:
        if proc.poll() is None:
            proc.kill()
        _stop_group(pgid)
    told = vv(tmp_path, "resume", run_id, "--yes")
    assert told.returncode == 1
    assert "cannot know" not in told.stderr
    assert "it and every process it started were stopped" in told.stderr
    assert "nothing of it is still running" in told.stderr
    (tmp_path / "second").touch()
    code, shown = at_terminal(tmp_path, ["resume", run_id], [b"y"])
    assert code == 0, shown
    assert "was in flight when Ctrl-C (SIGINT) stopped the run: command interrupted" in shown
    assert "second-ran" in shown
