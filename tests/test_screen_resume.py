"""Resuming as an operator does it from a shell: `--ack` for several manual steps, a bad
`--field` refused before the run is touched, `--allow-changed` said once; and what plans and
results show for values only a run knows (issue 15, items 8, 13, 14)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.test_engine_support import write_runbook
from tests.test_run_cli import events, vv

TWO_MANUAL = """
    version: 1
    name: handover
    title: Two manual steps
    steps:
      - id: page
        manual:
          instructions: Page the on-call DBA.
          record:
            - {name: severity, choices: [sev1, sev2, sev3]}
      - id: drain
        manual:
          instructions: Drain the node.
          record:
            - {name: node, pattern: "db[0-9]+"}
      - id: done
        shell: echo handed over
"""


def _paused(tmp_path: Path, body: str = TWO_MANUAL) -> tuple[Path, str]:
    rb = write_runbook(tmp_path, body)
    proc = vv(tmp_path, "run", str(rb), "--output", "json")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    run_id = next(e["run_id"] for e in events(proc.stdout) if e["event"] == "run_started")
    return rb, run_id


def _status(tmp_path: Path, run_id: str) -> str:
    runs = vv(tmp_path, "runs")
    line = next(ln for ln in runs.stdout.splitlines() if run_id in ln)
    return next(w for w in ("paused", "failed", "succeeded", "running") if w in line)


def test_a_bad_field_is_a_usage_error_and_the_run_stays_paused(tmp_path: Path) -> None:
    _, run_id = _paused(tmp_path)
    bad = vv(tmp_path, "resume", run_id, "--ack", "page", "--field", "severity=sev9")
    assert bad.returncode == 2
    assert "--field severity: field 'severity' must be one of sev1, sev2, sev3" in bad.stderr
    assert "Traceback" not in bad.stderr
    typo = vv(tmp_path, "resume", run_id, "--ack", "page", "--field", "severity_=sev1")
    assert typo.returncode == 2 and "did you mean 'severity'?" in typo.stderr, typo.stderr
    missing = vv(tmp_path, "resume", run_id, "--ack", "page")
    assert missing.returncode == 2 and "--field severity=..." in missing.stderr
    assert _status(tmp_path, run_id) == "paused"  # untouched: not failed


def test_several_steps_acknowledged_in_one_resume(tmp_path: Path) -> None:
    _, run_id = _paused(tmp_path)
    done = vv(tmp_path, "resume", run_id, "--ack", "page", "--ack", "drain",
              "--field", "severity=sev2", "--field", "drain.node=db2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "severity = sev2" in done.stdout and "node = db2" in done.stdout
    assert "handed over" in done.stdout


def test_a_field_two_steps_record_must_say_which(tmp_path: Path) -> None:
    body = TWO_MANUAL.replace("name: node, pattern", "name: severity, pattern")
    _, run_id = _paused(tmp_path, body)
    both = vv(tmp_path, "resume", run_id, "--ack", "page", "--ack", "drain",
              "--field", "severity=sev2")
    assert both.returncode == 2
    assert "steps page, drain all record 'severity'" in both.stderr
    assert "--field page.severity=sev2" in both.stderr


def test_allow_changed_is_said_once_per_change(tmp_path: Path) -> None:
    rb, run_id = _paused(tmp_path)
    rb.write_text(rb.read_text().replace("Drain the node.", "Drain the node, then wait."))
    refused = vv(tmp_path, "resume", run_id)
    assert refused.returncode == 2 and "changed since run" in refused.stderr
    assert _status(tmp_path, run_id) == "paused"
    first = vv(tmp_path, "resume", run_id, "--allow-changed", "--ack", "page",
               "--field", "severity=sev1")
    assert first.returncode == 3, first.stdout + first.stderr  # now waits at `drain`
    second = vv(tmp_path, "resume", run_id, "--ack", "drain", "--field", "node=db7")
    assert second.returncode == 0, second.stderr  # the same change: not asked again
    shown = vv(tmp_path, "show", run_id, "--events")
    assert shown.stdout.count("changed runbook accepted (--allow-changed) by op@test") == 1
    # a further change is a new one: refused again
    rb.write_text(rb.read_text().replace("then wait", "then wait a minute"))
    _, other = _paused(tmp_path)
    assert vv(tmp_path, "resume", other).returncode == 3


def test_plans_show_a_split_of_a_value_only_a_run_knows(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: splitter
        title: Split
        steps:
          - id: find
            shell: echo a,b
          - id: use
            shell: "echo {{ steps.find.result.stdout | split(',') }}"
    """)
    plan = vv(tmp_path, "plan", str(rb))
    assert plan.returncode == 0, plan.stderr
    assert "⟨steps.find.result.stdout | split⟩" in plan.stdout
    assert "not callable" not in plan.stdout + plan.stderr
    method = write_runbook(tmp_path, """
        version: 1
        name: method
        title: Method
        steps:
          - id: find
            shell: echo a,b
          - id: use
            shell: "echo {{ steps.find.result.stdout.split(',') }}"
    """, "method.yaml")
    refused = vv(tmp_path, "plan", str(method))
    assert refused.returncode == 2 and "use `| split(',')`" in refused.stderr
    assert "not callable" not in refused.stderr


@pytest.mark.skipif(not os.environ.get("VVRUN_TEST_POSTGRES_URL"), reason="no PostgreSQL")
def test_sql_results_keep_duplicate_columns_and_column_types(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: dup
        title: Duplicate columns
        inputs:
          database_url: {type: string, env: DATABASE_URL, secret: true}
        connections:
          db: {postgres: "{{ inputs.database_url }}"}
        steps:
          - id: q
            sql: SELECT 1 AS count, 22 AS count, interval '133 seconds' AS waited
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VVRUN_")}
    env.update(VVRUN_STATE=str(tmp_path / "s.db"), VVRUN_OPERATOR="op@test", NO_COLOR="1",
               DATABASE_URL=os.environ["VVRUN_TEST_POSTGRES_URL"])
    proc = vv(tmp_path, "run", str(rb), "--output", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    result = next(e for e in events(proc.stdout) if e["event"] == "step_ended")["result"]
    assert result["values"] == [[1, 22, 133.0]]
    assert result["types"] == ["int4", "int4", "interval"]
    assert result["rows"] == [{"count": 22, "waited": 133.0}]  # templates read by name
    text = vv(tmp_path, "run", str(rb), env=env).stdout
    assert "2 min 13 s" in text and json.dumps(133.0) not in text
    assert "?" not in text.split("count")[2].split("\n")[2]  # both counts shown, none lost
