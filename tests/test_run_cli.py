"""`vvrun run` / `vvrun resume` as an operator runs them: real processes, real exit codes,
Ctrl-C, a real terminal (pty) for answers, a SQLite state store."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.signal_runs import reset_signals
from tests.test_engine_support import write_runbook

VVRUN = [sys.executable, "-m", "vvrun"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VVRUN_")}
    env.update(VVRUN_STATE=str(tmp_path / "state.db"), VVRUN_OPERATOR="op@test",
               NO_COLOR="1", **extra)
    return env


def vv(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
       input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VVRUN, *args], capture_output=True, text=True, timeout=120,
                          env=env or _env(tmp_path), cwd=tmp_path, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL)


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


SIMPLE = """
    version: 1
    name: simple
    title: Simple
    inputs:
      code: {type: integer, default: 0}
    steps:
      - id: one
        shell: echo one; exit {{ inputs.code }}
"""


def test_exit_0_and_1_and_plain_text_output(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, SIMPLE)
    ok = vv(tmp_path, "run", str(rb))
    assert ok.returncode == 0, ok.stderr
    assert "\x1b[" not in ok.stdout and "one" in ok.stdout
    failed = vv(tmp_path, str(rb), "--var", "code=3")  # `vvrun RUNBOOK` is `vvrun run`
    assert failed.returncode == 1
    assert "step 'one': command exited with 3" in failed.stderr


def test_exit_2_usage_and_invalid(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, SIMPLE)
    unknown = vv(tmp_path, "run", str(rb), "--var", "cod=1")
    assert unknown.returncode == 2
    assert "unknown input 'cod'" in unknown.stderr and "did you mean 'code'?" in unknown.stderr
    bad_from = vv(tmp_path, "run", str(rb), "--from", "onee")
    assert bad_from.returncode == 2 and "did you mean 'one'?" in bad_from.stderr
    bad_tag = vv(tmp_path, "run", str(rb), "--tags", "nope")
    assert bad_tag.returncode == 2 and "no step of runbook 'simple' is tagged 'nope'" in (
        bad_tag.stderr)
    broken = write_runbook(tmp_path, "version: 1\nname: x\n", name="broken.yaml")
    assert vv(tmp_path, "run", str(broken)).returncode == 2
    nothing = vv(tmp_path, "run", str(rb), "--resume")
    assert nothing.returncode == 2 and "no unfinished run to resume" in nothing.stderr


DANGER = """
    version: 1
    name: danger
    title: Danger
    steps:
      - id: drop
        danger: true
        shell: echo dropped
"""


def test_exit_3_paused_then_exit_5_locked_then_resume(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, DANGER)
    paused = vv(tmp_path, "run", str(rb), "--output", "json")
    assert paused.returncode == 3, paused.stderr
    run_id = events(paused.stdout)[0]["run_id"]
    assert f"vvrun resume {run_id}" in paused.stderr
    locked = vv(tmp_path, "run", str(rb))
    assert locked.returncode == 5
    assert run_id in locked.stderr and "op@test" in locked.stderr
    resumed = vv(tmp_path, "resume", run_id, "--yes", "--output", "json")
    assert resumed.returncode == 0, resumed.stderr
    kinds = [e["event"] for e in events(resumed.stdout)]
    assert "confirmed" in kinds and kinds[-1] == "run_ended"
    again = vv(tmp_path, "resume", run_id)
    assert again.returncode == 2 and "is succeeded; there is nothing to resume" in again.stderr


def test_run_resume_flag_finds_the_latest_unfinished_run(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, DANGER)
    assert vv(tmp_path, "run", str(rb)).returncode == 3
    out = vv(tmp_path, "run", str(rb), "--resume", "--yes")
    assert out.returncode == 0, out.stderr
    assert "dropped" in out.stdout


def test_resume_refuses_a_changed_runbook_and_names_the_steps(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, DANGER)
    paused = vv(tmp_path, "run", str(rb), "--output", "json")
    run_id = events(paused.stdout)[0]["run_id"]
    rb.write_text(rb.read_text().replace("echo dropped", "echo DROPPED"))
    refused = vv(tmp_path, "resume", run_id, "--yes")
    assert refused.returncode == 2
    assert "changed since run" in refused.stderr and "changed: drop" in refused.stderr
    assert "--allow-changed" in refused.stderr
    allowed = vv(tmp_path, "resume", run_id, "--yes", "--allow-changed")
    assert allowed.returncode == 0 and "DROPPED" in allowed.stdout


def _pty_run(tmp_path: Path, args: list[str], answers: str) -> tuple[int, str]:
    """Run with a real terminal on stdin (stdout stays a pipe) and type `answers`."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([*VVRUN, *args], stdin=slave, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=_env(tmp_path), cwd=tmp_path)
    os.close(slave)
    os.write(master, answers.encode())
    out, _ = proc.communicate(timeout=120)
    os.close(master)
    return proc.returncode, out.decode()


def test_exit_4_when_the_operator_says_no_at_a_terminal(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, DANGER)
    code, out = _pty_run(tmp_path, ["run", str(rb)], "n\n")
    assert code == 4, out
    assert "answered no to dangerous step 'drop'" in out
    assert "dropped\n" not in out.replace("echo dropped", "")


def test_json_output_and_secret_canary(tmp_path: Path) -> None:
    canary = "canary-Vx81-s3cr3t"
    rb = write_runbook(tmp_path, """
        version: 1
        name: canary
        title: Canary
        inputs:
          token: {type: string, secret: true, env: API_TOKEN}
        steps:
          - id: use
            shell: echo {{ inputs.token }}; echo "$API_TOKEN" >&2; exit 2
    """)
    env = _env(tmp_path, API_TOKEN=canary)
    out = vv(tmp_path, "run", str(rb), "--output", "json", env=env)
    assert out.returncode == 1
    assert canary not in out.stdout + out.stderr
    assert events(out.stdout)[-1]["status"] == "failed"
    state = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    assert b"SQLite format 3" in state and canary.encode() not in state


def _read_until(proc: subprocess.Popen[str], predicate: Any, timeout: float = 60) -> list[dict]:
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("{"):
            seen.append(json.loads(line))
            if predicate(seen[-1]):
                return seen
    raise AssertionError(f"never saw the event; got {seen}")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_ctrl_c_during_a_shell_step_leaves_no_process_and_is_resumable(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: sleepy
        title: Sleepy
        steps:
          - id: nap
            shell: echo started $$; sleep 60 & echo child $!; wait
    """)
    proc = subprocess.Popen([*VVRUN, "run", str(rb), "--output", "json"], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=_env(tmp_path), cwd=tmp_path,
                            start_new_session=True, preexec_fn=reset_signals)
    seen = _read_until(proc, lambda e: str(e.get("text", "")).startswith("child"))
    run_id = seen[0]["run_id"]
    bash = int(next(e["text"].split()[1] for e in seen if str(e.get("text", "")).startswith(
        "started")))
    child = int(seen[-1]["text"].split()[1])
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"resume with `vvrun resume {run_id}`" in err
    assert not _alive(bash) and not _alive(child)
    status = [json.loads(x) for x in out.splitlines() if x.startswith("{")][-1]
    assert status["status"] == "interrupted"
    # the interrupted step is uncertain: --yes alone will not re-run it
    again = vv(tmp_path, "resume", run_id, "--yes")
    assert again.returncode == 1 and "was in flight" in again.stderr


def test_ctrl_c_during_a_query_leaves_no_backend(tmp_path: Path, pg_url: str) -> None:
    import psycopg

    rb = write_runbook(tmp_path, """
        version: 1
        name: slowq
        title: Slow query
        connections:
          db: {postgres: "{{ env.PG_URL }}"}
        steps:
          - id: slow
            sql: SELECT pg_sleep(60)
    """)
    proc = subprocess.Popen([*VVRUN, "run", str(rb), "--output", "json"], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=_env(tmp_path, PG_URL=pg_url),
                            cwd=tmp_path, start_new_session=True, preexec_fn=reset_signals)
    seen = _read_until(proc, lambda e: e["event"] == "step_started")
    run_id = seen[0]["run_id"]
    name = f"vvrun:{run_id}"

    def backends() -> int:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE "
                                "application_name = %s AND state = 'active'",
                                (name,)).fetchone()[0]

    for _ in range(600):
        if backends():
            break
        time.sleep(0.05)
    else:
        pytest.fail("the query never started")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert backends() == 0


def test_resume_needs_field_with_ack_and_a_known_run(tmp_path: Path) -> None:
    missing = vv(tmp_path, "resume", "261127-000000-0000")
    assert missing.returncode == 2 and "no run with id" in missing.stderr
    lonely = vv(tmp_path, "resume", "x", "--field", "a=b")
    assert lonely.returncode == 2 and "--field goes with --ack" in lonely.stderr


def test_dry_run_prints_the_plan_and_touches_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "touched"
    rb = write_runbook(tmp_path, f"""
        version: 1
        name: dry
        title: Dry
        steps:
          - id: touch
            shell: touch {marker}
    """)
    out = vv(tmp_path, "run", str(rb), "--dry-run")
    assert out.returncode == 0, out.stderr
    assert f"touch {marker}" in out.stdout
    assert not marker.exists()
    assert not (tmp_path / "state.db").exists()


def test_run_plan_file_runs_the_reviewed_plan_and_refuses_a_changed_one(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, SIMPLE)
    plan = vv(tmp_path, "plan", str(rb), "--format", "json")
    assert plan.returncode == 0, plan.stderr
    (tmp_path / "plan.json").write_text(plan.stdout)
    ok = vv(tmp_path, "run", str(rb), "--plan", "plan.json")
    assert ok.returncode == 0, ok.stderr
    other_inputs = vv(tmp_path, "run", str(rb), "--plan", "plan.json", "--var", "code=1")
    assert other_inputs.returncode == 2, other_inputs.stderr
    rb.write_text(rb.read_text().replace("echo one", "echo two"))
    changed = vv(tmp_path, "run", str(rb), "--plan", "plan.json")
    assert changed.returncode == 2 and "plan" in changed.stderr


def test_a_required_input_without_a_terminal_is_a_usage_error(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: needs
        title: Needs
        inputs:
          target: {type: string, description: Which host}
        steps:
          - {id: one, shell: "echo {{ inputs.target }}"}
    """)
    out = vv(tmp_path, "run", str(rb))
    assert out.returncode == 2
    assert "input 'target' is required" in out.stderr
    assert "hint: give it with --var target=..." in out.stderr


def test_a_required_input_is_asked_at_a_terminal(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: ask
        title: Ask
        inputs:
          target: {type: string}
        steps:
          - {id: one, shell: "echo got-{{ inputs.target }}"}
    """)
    code, out = _pty_run(tmp_path, ["run", str(rb)], "db1\n")
    assert code == 0, out
    assert "got-db1" in out


def test_resume_from_another_directory_finds_the_runbook(tmp_path: Path) -> None:
    write_runbook(tmp_path, DANGER, name="rel.yaml")
    paused = subprocess.run([*VVRUN, "run", "rel.yaml", "--output", "json"], text=True,
                            capture_output=True, env=_env(tmp_path), cwd=tmp_path,
                            stdin=subprocess.DEVNULL, timeout=120)
    assert paused.returncode == 3, paused.stderr
    run_id = events(paused.stdout)[0]["run_id"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    resumed = subprocess.run([*VVRUN, "resume", run_id, "--yes"], text=True,
                             capture_output=True, env=_env(tmp_path), cwd=elsewhere,
                             stdin=subprocess.DEVNULL, timeout=120)
    assert resumed.returncode == 0, resumed.stderr


def test_secrets_are_read_again_on_resume_never_stored(tmp_path: Path) -> None:
    canary = "canary-Rr55-s3cr3t"
    rb = write_runbook(tmp_path, """
        version: 1
        name: resecret
        title: Re-read secrets
        inputs:
          token: {type: string, secret: true, env: API_TOKEN}
          region: {type: string, default: eu}
        steps:
          - id: gate
            confirm: Go?
          - id: use
            shell: test "$VVRUN_SECRET_TOKEN" = {{ inputs.token }} && echo {{ inputs.region }}
    """)
    paused = vv(tmp_path, "run", str(rb), "--var", "region=us", "--output", "json",
                env=_env(tmp_path, API_TOKEN=canary))
    assert paused.returncode == 3, paused.stderr
    run_id = events(paused.stdout)[0]["run_id"]
    without = vv(tmp_path, "resume", run_id, "--yes")
    assert without.returncode == 2 and "input 'token' is required" in without.stderr
    resumed = vv(tmp_path, "resume", run_id, "--yes", env=_env(tmp_path, API_TOKEN=canary))
    assert resumed.returncode == 0, resumed.stderr
    assert "us" in resumed.stdout.split()  # the non-secret input came from the run record
    state = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    assert canary.encode() not in state
