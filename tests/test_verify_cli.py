"""`vvrun verify RUN` and `vvrun resume RUN` against a trail someone edited: a real run of a
small runbook that pauses, then the attack on the SQLite file, then the CLI in a subprocess."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

RUNBOOK = """\
version: 1
name: verify-demo
title: A run that pauses at a question, for the audit attacks
steps:
  - id: first
    shell: "true"
  - id: wait
    confirm: Go on?
  - id: last
    shell: "true"
"""


def _vvrun(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vvrun", *args], capture_output=True,
                          text=True, env=env, stdin=subprocess.DEVNULL, timeout=120)


@pytest.fixture
def paused(tmp_path: Path) -> tuple[dict[str, str], str, Path]:
    book = tmp_path / "demo.yaml"
    book.write_text(RUNBOOK)
    env = {**os.environ, "VVRUN_STATE": str(tmp_path / "state" / "state.db"),
           "XDG_STATE_HOME": str(tmp_path / "xdg"), "PYTHONPATH": os.getcwd()}
    env.pop("VVRUN_TEST_CRASH_AT", None)
    done = _vvrun(env, "run", str(book))
    assert done.returncode == 3, done.stdout + done.stderr  # paused at the confirm
    db = sqlite3.connect(tmp_path / "state" / "state.db")
    run_id = db.execute("SELECT id FROM runs").fetchone()[0]
    db.close()
    assert _vvrun(env, "verify", run_id).returncode == 0
    return env, run_id, tmp_path / "state" / "state.db"


def test_verify_says_an_intact_trail_verifies(paused: tuple[dict[str, str], str, Path]) -> None:
    env, run_id, _ = paused
    done = _vvrun(env, "verify", run_id, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verified"] is True


def test_a_forged_ledger_row_makes_verify_and_resume_refuse(
        paused: tuple[dict[str, str], str, Path]) -> None:
    env, run_id, path = paused
    db = sqlite3.connect(path)  # the attack: mark the confirm done, skipping the question
    db.execute("INSERT OR REPLACE INTO ledger (run_id, key, status, attempt, result, mac) "
               "VALUES (?, 'wait', 'succeeded', 1, ?, ?)",
               (run_id, json.dumps({"step_id": "wait", "status": "succeeded",
                                    "result": {"confirmed": True}}), "00" * 32))
    db.commit()
    db.close()
    done = _vvrun(env, "verify", run_id)
    assert done.returncode == 1
    assert "does not verify at ledger row" in done.stdout and "step 'wait'" in done.stdout
    resumed = _vvrun(env, "resume", run_id, "--yes")
    assert resumed.returncode == 1
    assert f"run {run_id} will not be resumed: its audit trail does not verify" in (
        resumed.stdout + resumed.stderr)
    assert "Traceback" not in resumed.stderr


def test_a_deleted_event_makes_resume_refuse_with_its_position(
        paused: tuple[dict[str, str], str, Path]) -> None:
    env, run_id, path = paused
    db = sqlite3.connect(path)
    db.execute("DELETE FROM events WHERE chain = ? AND n = 2", (run_id,))
    db.commit()
    db.close()
    done = _vvrun(env, "verify", run_id)
    assert done.returncode == 1 and "event 2 (" in done.stdout, done.stdout
    resumed = _vvrun(env, "resume", run_id, "--yes")
    assert resumed.returncode == 1 and "event 2 (" in resumed.stdout + resumed.stderr
