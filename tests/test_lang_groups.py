"""Groups (SPEC §3.9): steps run as one step, per item or repeated, with nested results,
scoped references, all-skipped loops, and resume inside a group after SIGKILL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_engine_support import Runner, write_runbook
from vvrun.language.pipeline import check_file


@pytest.fixture
def table(pg_url: str) -> Iterator[tuple[Any, str]]:
    import psycopg

    name = f"t_lang_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(pg_url, autocommit=True)
    conn.execute(f"CREATE TABLE {name} (item text, step text)")
    yield conn, name
    conn.execute(f"DROP TABLE {name}")
    conn.close()


def rows(conn: Any, name: str) -> list[tuple[str, str]]:
    return [tuple(r) for r in conn.execute(f"SELECT item, step FROM {name} ORDER BY 1, 2")]


PER_REPLICA = """
    version: 1
    name: per-replica
    title: Look, act, look again, per replica
    inputs:
      replicas: {{type: list, default: [r1, r2, r3]}}
    connections:
      db: {{postgres: "{url}"}}
    steps:
      - id: per_replica
        for_each: inputs.replicas
        steps:
          - id: look
            sql: INSERT INTO {table} VALUES ({{{{ item }}}}, 'look') RETURNING item
            outputs: {{name: result.value}}
          - id: act
            when: item != 'r2'
            sql: INSERT INTO {table} VALUES ({{{{ steps.look.outputs.name }}}}, 'act')
          - id: again
            sql: SELECT count(*) AS n FROM {table} WHERE item = {{{{ item }}}}
            outputs: {{n: result.value}}
        outputs:
          counts: >-
            result['items'] | map(attribute='again') | map(attribute='outputs')
            | map(attribute='n') | list
      - id: after
        shell: >-
          echo {{{{ steps.per_replica.outputs.counts | join(',') }}}}
          {{{{ steps.per_replica.result['items'][1].act.status }}}}
"""


def test_a_group_runs_per_item_with_nested_results(tmp_path: Path, pg_url: str,
                                                   table: tuple[Any, str]) -> None:
    conn, name = table
    rb = write_runbook(tmp_path, PER_REPLICA.format(url=pg_url, table=name))
    out = Runner().run(rb)
    assert out.status == "succeeded", out.result.error
    assert rows(conn, name) == [("r1", "act"), ("r1", "look"), ("r2", "look"),
                                ("r3", "act"), ("r3", "look")]
    assert out.step("after").result["stdout"] == "2,1,2 skipped"
    ledger = out.store.step_results(out.result.run_id)
    assert {"per_replica[0].look", "per_replica[1].act", "per_replica[2].again"} <= set(ledger)
    assert ledger["per_replica[1].act"].status.value == "skipped"
    numbers = [e.get("number") for e in out.events("step_started")]
    assert numbers[:4] == ["1", "1.1", "1.2", "1.3"] and numbers[-1] == "2"


REPEAT = """
    version: 1
    name: repeat
    title: Repeat until
    connections:
      db: {{postgres: "{url}"}}
    steps:
      - id: drain
        repeat: {{until: "steps.left.outputs.n == 0", max: {max}, delay: 10ms{more}}}
        steps:
          - id: take
            sql: DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} LIMIT 2)
          - id: left
            sql: SELECT count(*) FROM {table}
            outputs: {{n: result.value}}
        outputs:
          rounds: result['items'] | length
"""


def test_repeat_reruns_the_group_until_its_condition_holds(
        tmp_path: Path, pg_url: str, table: tuple[Any, str]) -> None:
    conn, name = table
    conn.execute(f"INSERT INTO {name} SELECT 'x', 's' FROM generate_series(1, 5)")
    rb = write_runbook(tmp_path, REPEAT.format(url=pg_url, table=name, max=10, more=""))
    out = Runner().run(rb)
    assert out.status == "succeeded", out.result.error
    assert out.step("drain").outputs == {"rounds": 3}
    assert "drain[2].take" in out.store.step_results(out.result.run_id)


def test_repeat_that_runs_out_fails_unless_on_exhausted_continue(
        tmp_path: Path, pg_url: str, table: tuple[Any, str]) -> None:
    conn, name = table
    conn.execute(f"INSERT INTO {name} SELECT 'x', 's' FROM generate_series(1, 9)")
    rb = write_runbook(tmp_path, REPEAT.format(url=pg_url, table=name, max=2, more=""))
    out = Runner().run(rb)
    assert out.status == "failed" and out.result.exit_code == 1
    assert "repeat.until `steps.left.outputs.n == 0` still false after 2 rounds" in (
        out.step("drain").error)
    rb = write_runbook(tmp_path, REPEAT.format(url=pg_url, table=name, max=2,
                                               more=", on_exhausted: continue"), "b.yaml")
    out = Runner().run(rb)
    assert out.status == "succeeded"
    assert "on_exhausted: continue" in out.step("drain").error  # the note says so
    assert rows(conn, name) == [("x", "s")]


def test_a_for_each_whose_items_were_all_skipped_is_skipped(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: skipped
        title: All skipped
        steps:
          - id: each
            for_each: "[1, 2]"
            when: item > 5
            shell: echo {{ item }}
          - id: group
            for_each: "[1, 2]"
            when: item > 5
            steps:
              - id: inner
                shell: echo {{ item }}
          - id: after
            shell: echo {{ steps.each.status }} {{ steps.group.status }}
    """)
    out = Runner().run(rb)
    assert out.status == "succeeded"
    assert out.step("after").result["stdout"] == "skipped skipped"


SCOPE = """
    version: 1
    name: scope
    title: Scope
    steps:
      - id: g
        steps:
          - id: a
            shell: echo a
          - id: b
            shell: echo {{ steps.a.result.stdout }} {{ steps.g.status }}
        outputs: {first: steps.a.result.stdout}
      - id: outside
        shell: echo {{ steps.a.result.stdout }} {{ steps.g.outputs.first }}
      - id: g2
        steps:
          - id: a
            shell: echo {{ item }}
"""


def test_validate_scopes_inner_steps_and_ids_are_unique_across_the_file(
        tmp_path: Path) -> None:
    _, problems = check_file(str(write_runbook(tmp_path, SCOPE)))
    got = sorted((p.where.line, p.code, p.where.step_id) for p in problems)
    assert got == [(10, "step-order", "b"), (13, "group-scope", "outside"),
                   (16, "duplicate-id", "a"), (17, "item-outside", "a")]
    scope = next(p for p in problems if p.code == "group-scope")
    assert "steps.g.result.items[i].a or the group's outputs" in scope.message


def test_schema_errors_inside_a_group_point_into_it(tmp_path: Path) -> None:
    _, problems = check_file(str(write_runbook(tmp_path, """
        version: 1
        name: bad
        title: Bad
        steps:
          - id: g
            steps:
              - id: a
                shel: echo a
              - id: b
                shell: echo b
                tiemout: 5s
    """)))
    got = sorted((p.where.line, p.where.step_id, p.message) for p in problems)
    assert got == [(7, "a", "the step has no type key"),
                   (8, "a", "unknown key 'shel' in the step — did you mean 'shell'?"),
                   (11, "b", "unknown key 'tiemout' in the step — did you mean 'timeout'?")]


# -- SIGKILL inside a group, then resume ------------------------------------------------

CRASH = """
version: 1
name: crash-{tag}
title: Crash inside a group
connections:
  db: {{postgres: "{url}"}}
steps:
  - id: before
    sql: INSERT INTO {table} VALUES ('-', 'before')
  - id: g
    for_each: "['a', 'b', 'c']"
    steps:
      - id: ins
        sql: INSERT INTO {table} VALUES ({{{{ item }}}}, 'ins')
      - id: hold
        idempotent: true
        shell: >-
          [ {{{{ item }}}} != b ] || [ -f {marker} ] ||
          {{ echo $$ > {marker}.tmp; mv {marker}.tmp {marker}; while :; do sleep 0.05; done; }}
      - id: out
        sql: INSERT INTO {table} VALUES ({{{{ item }}}}, 'out')
  - id: after
    sql: INSERT INTO {table} VALUES ('-', 'after')
"""


def test_resume_after_sigkill_continues_inside_the_group_and_item(
        tmp_path: Path, pg_url: str, table: tuple[Any, str]) -> None:
    conn, name = table
    marker = tmp_path / "marker"
    rb = tmp_path / "crash.yaml"
    rb.write_text(CRASH.format(tag=uuid.uuid4().hex[:8], url=pg_url, table=name,
                               marker=marker))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VVRUN_")}
    env.update(VVRUN_STATE=str(tmp_path / "state.db"), VVRUN_OPERATOR="op@test",
               NO_COLOR="1", XDG_STATE_HOME=str(tmp_path / "xdg"))
    proc = subprocess.Popen([sys.executable, "-m", "vvrun", "run", str(rb), "--output", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, env=env, cwd=tmp_path,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    try:
        while not marker.exists():  # the shell step of item b is running: kill everything now
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the group never reached item b"
            time.sleep(0.02)
    finally:  # whatever happened, leave no vvrun and no looping step behind
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        stdout, _ = proc.communicate(timeout=30)
        if marker.exists():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgid(int(marker.read_text())), signal.SIGKILL)
    shell_pid = int(marker.read_text())  # the step's own process group outlived vvrun
    while Path(f"/proc/{shell_pid}").exists():  # reaped by init once it is dead
        assert time.monotonic() < deadline, "the stray step process did not die"
        time.sleep(0.02)
    run_id = json.loads(stdout.splitlines()[0])["run_id"]
    assert rows(conn, name) == [("-", "before"), ("a", "ins"), ("a", "out"), ("b", "ins")]

    done = subprocess.run([sys.executable, "-m", "vvrun", "resume", run_id, "--yes"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert rows(conn, name) == [("-", "after"), ("-", "before"), ("a", "ins"), ("a", "out"),
                                ("b", "ins"), ("b", "out"), ("c", "ins"), ("c", "out")]
