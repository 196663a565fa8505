"""`stop` (SPEC §3.10) ends the run on purpose; `retry.until` that runs out may continue."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.test_engine_support import Runner, write_runbook

STOP = """
    version: 1
    name: stop
    title: Stop on purpose
    inputs:
      healthy: {{type: boolean, default: true}}
    steps:
      - id: check
        shell: echo ok
      - id: nothing_to_do
        when: inputs.healthy
        stop: {{status: {status}, reason: "healthy again ({{{{ steps.check.result.stdout }}}})"}}
      - id: repair
        shell: echo repairing >> {effects}
"""


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VVRUN_")}
    env.update(VVRUN_STATE=str(tmp_path / "state.db"), NO_COLOR="1",
               XDG_STATE_HOME=str(tmp_path / "xdg"))
    return subprocess.run([sys.executable, "-m", "vvrun", *args], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_stop_succeeded_ends_the_run_with_exit_0_and_says_why(tmp_path: Path) -> None:
    effects = tmp_path / "effects"
    rb = write_runbook(tmp_path, STOP.format(status="succeeded", effects=effects))
    proc = _cli(tmp_path, "run", str(rb))
    assert proc.returncode == 0, proc.stderr
    assert "stopped: healthy again (ok)" in proc.stdout
    assert not effects.exists()


def test_stop_failed_ends_the_run_with_exit_1(tmp_path: Path) -> None:
    effects = tmp_path / "effects"
    rb = write_runbook(tmp_path, STOP.format(status="failed", effects=effects))
    proc = _cli(tmp_path, "run", str(rb))
    assert proc.returncode == 1
    assert "stopped: healthy again (ok)" in proc.stdout + proc.stderr
    assert not effects.exists()


def test_a_stop_whose_when_is_false_is_skipped(tmp_path: Path) -> None:
    effects = tmp_path / "effects"
    rb = write_runbook(tmp_path, STOP.format(status="succeeded", effects=effects))
    out = Runner().run(rb, {"healthy": False})
    assert out.status == "succeeded" and out.result.error is None
    assert out.step("nothing_to_do").status.value == "skipped"
    assert effects.read_text() == "repairing\n"


def test_a_stop_inside_a_group_ends_the_whole_run(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: stop-in-group
        title: Stop in a group
        steps:
          - id: each
            for_each: "[1, 2, 3]"
            steps:
              - id: look
                shell: echo {{ item }}
              - id: enough
                when: item == 2
                stop: {status: failed, reason: "rolled back at {{ item }}; escalate"}
          - id: never
            shell: echo never
    """)
    out = Runner().run(rb)
    assert out.status == "failed" and out.result.exit_code == 1
    assert out.result.error == "stopped: rolled back at 2; escalate"
    ledger = out.store.step_results(out.result.run_id)
    assert "each[2].look" not in ledger and "never" not in ledger


def test_retry_until_exhausted_continues_with_its_last_result(tmp_path: Path) -> None:
    count = tmp_path / "count"
    rb = write_runbook(tmp_path, f"""
        version: 1
        name: until
        title: Until
        steps:
          - id: poll
            shell: echo x >> {count}; wc -l < {count}
            retry: {{attempts: 3, delay: 1ms, until: "(result.stdout | int) > 10",
                     on_exhausted: continue}}
            outputs: {{seen: result.stdout | int}}
          - id: after
            shell: echo {{{{ steps.poll.outputs.seen }}}}
    """)
    out = Runner().run(rb)
    assert out.status == "succeeded"
    poll = out.step("poll")
    assert poll.outputs == {"seen": 3} and poll.attempts == 3
    assert "still false after 3 attempts; on_exhausted: continue" in poll.error
    assert out.step("after").result["stdout"] == "3"
