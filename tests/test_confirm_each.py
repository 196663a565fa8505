"""A dangerous `for_each` asks once, with a table of every rendered item (SPEC §3); with
`confirm_each: true` it asks per item. Real PostgreSQL backends are terminated, real bash runs."""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers import ScriptedPrompter
from tests.test_engine_support import Runner, write_runbook

PG_URL = os.environ.get("VVRUN_TEST_POSTGRES_URL", "")
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": PG_URL}

TERMINATE = """
    version: 1
    name: terminate-{app}
    title: Terminate sleeping backends
    inputs:
      database_url: {{type: string, env: DATABASE_URL, secret: true}}
      app: {{type: string, default: {app}}}
    connections:
      db: {{postgres: "{{{{ inputs.database_url }}}}"}}
    steps:
      - id: stuck
        sql: >-
          SELECT pid FROM pg_stat_activity
          WHERE application_name = {{{{ inputs.app }}}} AND state = 'active' ORDER BY pid
      - id: kill
        danger: true
        for_each: steps.stuck.result.rows
        sql: SELECT pg_terminate_backend({{{{ item.pid }}}}) AS gone
"""


def _sleepers(app: str, n: int) -> list[threading.Thread]:
    """`n` real sessions, each inside `pg_sleep`, named `app`; returns once all are active."""
    import psycopg

    def sleep() -> None:
        try:
            with psycopg.connect(PG_URL, autocommit=True, application_name=app) as conn:
                conn.execute("SELECT pg_sleep(120)")
        except psycopg.Error:
            pass  # terminated: what the test is about

    threads = [threading.Thread(target=sleep, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(_active(app)) < n:
        assert time.monotonic() < deadline, "the sleeping sessions did not start"
        time.sleep(0.05)  # polling pg_stat_activity for the condition
    return threads


def _active(app: str) -> list[int]:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        return [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
            "AND state = 'active'", (app,))]


@pytest.mark.skipif(not PG_URL, reason="VVRUN_TEST_POSTGRES_URL is not set")
def test_one_yes_terminates_every_sleeping_backend(tmp_path: Path) -> None:
    app = f"sleeper-{uuid.uuid4().hex[:8]}"
    threads = _sleepers(app, 3)
    pids = sorted(_active(app))
    book = write_runbook(tmp_path, TERMINATE.format(app=app))
    prompter = ScriptedPrompter(confirms=[True])
    out = Runner(environ=ENV).run(book, prompter=prompter)
    assert out.status == "succeeded", out.result.error
    assert prompter.asked == ["Run dangerous step 'kill' for all 3 items?"]
    table = prompter.shown[0]
    assert table.startswith("dangerous step 'kill', 3 items, on postgresql://")
    assert "SELECT pg_terminate_backend($1) AS gone" in table
    for i, pid in enumerate(pids):
        assert f"kill[{i}] | SELECT pg_terminate_backend($1) AS gone | $1 = {pid}" in table
    for t in threads:
        t.join(timeout=20)
    assert _active(app) == []
    assert [r["gone"] for r in (i["rows"][0] for i in out.step("kill").result["items"])] == [
        True, True, True]
    confirmed = out.audit("confirmed")
    assert [(e["data"]["step_id"], e["data"]["via"]) for e in confirmed] == [("kill", "prompt")]


LOOP = """
    version: 1
    name: loop
    title: A dangerous loop in bash
    inputs:
      suffix: {{type: string, default: a}}
    steps:
      - id: touch
        danger: true
        {extra}
        for_each: "['one', 'two', 'three']"
        shell: >-
          test ! -e {tmp}/stop-{{{{ item }}}} &&
          echo {{{{ item }}}}-{{{{ inputs.suffix }}}} >> {tmp}/done
"""


def _loop(tmp_path: Path, extra: str = "") -> Path:
    return write_runbook(tmp_path, LOOP.format(tmp=tmp_path, extra=extra))


def test_confirm_each_asks_per_item(tmp_path: Path) -> None:
    prompter = ScriptedPrompter(confirms=[True, True, True])
    out = Runner(environ=ENV).run(_loop(tmp_path, "confirm_each: true"), prompter=prompter)
    assert out.status == "succeeded", out.result.error
    assert prompter.asked == [f"Run dangerous step 'touch[{i}]'?" for i in range(3)]
    assert (tmp_path / "done").read_text().split() == ["one-a", "two-a", "three-a"]


def test_a_no_runs_no_item(tmp_path: Path) -> None:
    out = Runner(environ=ENV).run(_loop(tmp_path), prompter=ScriptedPrompter(confirms=[False]))
    assert out.status == "aborted"
    assert "answered no to the 3 items of dangerous step 'touch'" in out.result.error
    assert not (tmp_path / "done").exists()


def test_no_terminal_pauses_before_any_item(tmp_path: Path) -> None:
    out = Runner(environ=ENV).run(_loop(tmp_path))
    assert out.status == "paused"
    assert "waits for one confirmation of its 3 items" in out.result.error
    assert not (tmp_path / "done").exists()
    assert out.step("touch").status.value == "paused"


def test_yes_answers_once_and_the_trail_says_so(tmp_path: Path) -> None:
    out = Runner(environ=ENV).run(_loop(tmp_path), yes=True)
    assert out.status == "succeeded", out.result.error
    assert [e["data"]["via"] for e in out.audit("confirmed")] == ["--yes"]


def test_resume_is_covered_by_the_answer_unless_the_items_changed(tmp_path: Path) -> None:
    runner = Runner(environ=ENV)
    (tmp_path / "stop-two").touch()  # the second item fails: the run stops mid-loop
    book = _loop(tmp_path)
    first = runner.run(book, prompter=ScriptedPrompter(confirms=[True]))
    assert first.status == "failed"
    assert (tmp_path / "done").read_text().split() == ["one-a"]
    run_id = first.result.run_id

    # the same items render again: the answer covers the rest, nobody is asked
    (tmp_path / "stop-two").unlink()
    (tmp_path / "stop-three").touch()
    again = runner.resume(book, run_id, prompter=ScriptedPrompter())
    assert again.status == "failed"  # three fails now, after two ran unasked
    assert again.prompter.asked == []
    assert (tmp_path / "done").read_text().split() == ["one-a", "two-a"]

    # other items (another suffix in every command): asked again, with the whole table
    (tmp_path / "stop-three").unlink()
    changed = runner.resume(book, run_id, {"suffix": "b"},
                            prompter=ScriptedPrompter(confirms=[True]))
    assert changed.status == "succeeded", changed.result.error
    assert changed.prompter.asked == ["Run dangerous step 'touch' for all 3 items (2 done "
                                      "before)?"]
    assert "three-b" in changed.prompter.shown[0]
    assert (tmp_path / "done").read_text().split() == ["one-a", "two-a", "three-b"]
    assert len(changed.audit("confirmed")) == 2


def test_an_item_that_does_not_render_fails_the_step_before_any_item_runs(
        tmp_path: Path) -> None:
    book = write_runbook(tmp_path, f"""
        version: 1
        name: bad-item
        title: One item cannot render
        steps:
          - id: touch
            danger: true
            for_each: "[{{'n': 'one'}}, {{'m': 'two'}}]"
            shell: "echo {{{{ item.n }}}} >> {tmp_path}/done"
    """)
    out = Runner(environ=ENV).run(book, prompter=ScriptedPrompter(confirms=[True]))
    assert out.status == "failed"
    assert out.prompter.asked == []
    assert not (tmp_path / "done").exists()
