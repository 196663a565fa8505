"""Exit 6, "completed with failures" (SPEC §5.2): a check that failed under `on_failure:
continue` is never reported as success; `on_failure: ignore` is shown and not counted."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.test_engine_support import write_runbook
from tests.test_run_cli import events, vv

RUNBOOK = """
    version: 1
    name: checks
    title: Checks that may fail
    steps:
      - id: disk_check
        shell: "echo disk at 97% >&2; exit 3"
        on_failure: {on_failure}
      - id: after
        shell: echo still here
"""


def test_a_failed_continue_step_ends_the_run_with_failures_and_exit_6(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, RUNBOOK.replace("{on_failure}", "continue"))
    proc = vv(tmp_path, "run", str(rb))
    assert proc.returncode == 6, proc.stdout + proc.stderr
    out = proc.stdout
    assert "still here" in out  # the run went on
    assert "on_failure: continue; the run goes on" in out
    assert re.search(r"! run \S+ completed with failures in .* \(exit 6\)", out), out
    assert "succeeded (exit" not in out
    assert "1 step failed under on_failure: continue: 'disk_check'" in out
    # the JSON view and the history say the same
    proc = vv(tmp_path, "run", str(rb), "--output", "json")
    assert proc.returncode == 6
    ended = [e for e in events(proc.stdout) if e["event"] == "run_ended"][-1]
    assert ended["status"] == "completed_with_failures"
    assert ended["exit_code"] == 6
    runs = vv(tmp_path, "runs")
    assert runs.stdout.count("completed_with_failures") == 2, runs.stdout
    run_id = ended["run_id"]
    show = vv(tmp_path, "show", run_id)
    assert show.returncode == 0 and "completed_with_failures" in show.stdout, show.stdout
    # there is nothing left to resume: it ran to its end
    again = vv(tmp_path, "resume", run_id)
    assert again.returncode == 2 and "nothing to resume" in again.stderr, again.stderr


def test_an_ignored_failure_is_shown_and_not_counted(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, RUNBOOK.replace("{on_failure}", "ignore"))
    proc = vv(tmp_path, "run", str(rb))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✗ failed" in proc.stdout and "on_failure: ignore" in proc.stdout
    assert "succeeded" in proc.stdout.splitlines()[-1]


def test_on_failure_ignore_is_valid_and_a_typo_is_not(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, RUNBOOK.replace("{on_failure}", "ignore"))
    assert vv(tmp_path, "validate", str(rb)).returncode == 0
    bad = write_runbook(tmp_path, RUNBOOK.replace("{on_failure}", "ignor"), "bad.yaml")
    proc = vv(tmp_path, "validate", str(bad), "--format", "json")
    assert proc.returncode == 2
    assert "ignore" in json.dumps(json.loads(proc.stdout))


def test_a_failed_continue_step_in_a_group_counts_too(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: grouped
        title: A group with a tolerated failure
        steps:
          - id: checks
            steps:
              - id: one
                shell: exit 1
                on_failure: continue
              - id: two
                shell: echo two
    """)
    proc = vv(tmp_path, "run", str(rb))
    assert proc.returncode == 6, proc.stdout + proc.stderr
    assert "'checks.one'" in proc.stdout
