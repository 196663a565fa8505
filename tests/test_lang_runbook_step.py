"""The `runbook` step (SPEC §3.7): a call runs the callee's steps in the same run and trail,
its `outputs:` become the step's; validate checks paths, inputs and cycles; plans inline it;
resume continues inside the callee."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.test_engine_support import Runner, write_runbook
from vvrun.language.pipeline import check_file
from vvrun.plan import make_plan

CALLEE = """
    version: 1
    name: diag
    title: Diagnostics
    inputs:
      who: {{}}
    connections:
      db: {{postgres: "{url}"}}
    outputs:
      greeting: steps.hello.outputs.text
    steps:
      - id: hello
        sql: INSERT INTO {table} VALUES ({{{{ inputs.who }}}}, 'hello') RETURNING 'hi ' || item
        outputs: {{text: result.value}}
      - id: flaky
        shell: test -f {flag}
      - id: bye
        sql: INSERT INTO {table} VALUES ({{{{ inputs.who }}}}, 'bye')
"""

CALLER = """
    version: 1
    name: main
    title: Main
    steps:
      - id: first
        shell: echo ops
      - id: diag
        runbook: {path: sub/diag.yaml, inputs: {who: "{{ steps.first.result.stdout }}"}}
      - id: after
        shell: echo {{ steps.diag.outputs.greeting }}
"""


def _world(tmp_path: Path, pg_url: str) -> tuple[Any, str, Path, Path]:
    import psycopg

    table = f"t_call_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(pg_url, autocommit=True)
    conn.execute(f"CREATE TABLE {table} (item text, step text)")
    (tmp_path / "sub").mkdir()
    flag = tmp_path / "flag"
    write_runbook(tmp_path, CALLEE.format(url=pg_url, table=table, flag=flag), "sub/diag.yaml")
    return conn, table, flag, write_runbook(tmp_path, CALLER)


def test_a_call_runs_the_callee_resumes_inside_it_and_gets_its_outputs(
        tmp_path: Path, pg_url: str) -> None:
    conn, table, flag, rb = _world(tmp_path, pg_url)
    try:
        runner = Runner()
        first = runner.run(rb)
        assert first.status == "failed"
        assert "diag.flaky" in first.store.step_results(first.result.run_id)
        flag.touch()
        out = runner.resume(rb, first.result.run_id)
        assert out.status == "succeeded", out.result.error
        rows = list(conn.execute(f"SELECT item, step FROM {table} ORDER BY step"))
        assert rows == [("ops", "bye"), ("ops", "hello")]  # hello ran once, not twice
        assert out.step("diag").outputs == {"greeting": "hi ops"}
        assert out.step("after").result["stdout"] == "hi ops"
        numbers = [e.get("number") for e in out.events("step_started")]
        assert "2.2" in numbers and "2.3" in numbers
        trail = {e["data"].get("step_id") for e in out.audit("step_ended")}
        assert {"diag.hello", "diag.flaky", "diag.bye", "diag"} <= trail
    finally:
        conn.execute(f"DROP TABLE {table}")
        conn.close()


def test_plans_inline_the_called_runbook(tmp_path: Path, pg_url: str) -> None:
    conn, table, _, rb = _world(tmp_path, pg_url)
    conn.execute(f"DROP TABLE {table}")
    conn.close()
    from vvrun.language.pipeline import load_runbook

    plan = make_plan(load_runbook(str(rb)), {}, environ={})
    assert [(s.number, s.id) for s in plan.steps] == [
        (1, "first"), (2, "diag"), ("2.1", "hello"), ("2.2", "flaky"), ("2.3", "bye"),
        (3, "after")]


def test_validate_checks_paths_inputs_and_cycles(tmp_path: Path) -> None:
    write_runbook(tmp_path, """
        version: 1
        name: b
        title: B
        inputs:
          need: {}
        steps:
          - id: back
            runbook: {path: a.yaml, inputs: {}}
    """, "b.yaml")
    write_runbook(tmp_path, """
        version: 1
        name: c
        title: C
        inputs:
          need: {}
        steps:
          - id: hi
            shell: echo {{ inputs.need }}
    """, "c.yaml")
    a = write_runbook(tmp_path, """
        version: 1
        name: a
        title: A
        steps:
          - id: missing
            runbook: nowhere.yaml
          - id: cycle
            runbook: {path: b.yaml, inputs: {need: 1}}
          - id: wrong_inputs
            runbook: {path: c.yaml, inputs: {nope: 1}}
    """, "a.yaml")
    _, problems = check_file(str(a))
    got = sorted((p.where.line, p.code, p.where.step_id, p.message) for p in problems)
    assert [g[:3] for g in got] == [
        (5, "runbook-path", "missing"), (7, "runbook-invalid", "cycle"),
        (9, "runbook-input", "wrong_inputs"), (9, "runbook-input", "wrong_inputs")]
    assert {g[3] for g in got[2:]} == {"runbook 'c.yaml' has no input 'nope'",
                                       "runbook 'c.yaml' requires input 'need'"}
    invalid = next(p for p in problems if p.code == "runbook-invalid")
    assert "runbook calls form a cycle: a.yaml → b.yaml → a.yaml" in invalid.message
    assert "b.yaml:7:" in invalid.message  # where, in the called file
