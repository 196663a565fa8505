"""The language examples (groups, stop, runbook calls, key-first lookup) run end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(tmp_path: Path, name: str, *args: str) -> tuple[int, list[dict]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VVRUN_")}
    env.update(VVRUN_STATE=str(tmp_path / "state.db"), XDG_STATE_HOME=str(tmp_path / "xdg"))
    proc = subprocess.run([sys.executable, "-m", "vvrun", "run", str(EXAMPLES / name),
                           "--output", "json", *args], capture_output=True, text=True,
                          env=env, timeout=120, stdin=subprocess.DEVNULL)
    return proc.returncode, [json.loads(x) for x in proc.stdout.splitlines() if x[:1] == "{"]


def _ended(events: list[dict], step_id: str) -> dict:
    return next(e for e in events if e["event"] == "step_ended" and e["step_id"] == step_id)


def test_groups_example(tmp_path: Path) -> None:
    code, events = _run(tmp_path, "groups.yaml")
    assert code == 0
    assert _ended(events, "per_replica")["outputs"] == {"fixed": 2}
    assert _ended(events, "drain")["outputs"] == {"rounds": 3}


@pytest.mark.parametrize(("health", "code", "said"), [
    ("100", 0, "stopped: healthy again (100%), nothing to do"),
    ("5", 1, "stopped: still at 5% after the repair; escalate"),
    ("50", 0, None)])
def test_stop_example(tmp_path: Path, health: str, code: int, said: str | None) -> None:
    got, events = _run(tmp_path, "stop.yaml", "--var", f"health={health}")
    assert got == code
    assert events[-1]["error"] == said


def test_runbook_call_example(tmp_path: Path) -> None:
    code, events = _run(tmp_path, "runbook-call.yaml")
    assert code == 0
    assert _ended(events, "diagnose.free")["status"] == "succeeded"
    assert _ended(events, "diagnose")["outputs"]["free_mb"] > 0


def test_key_lookup_example(tmp_path: Path) -> None:
    code, events = _run(tmp_path, "key-lookup.yaml")
    assert code == 0
    assert _ended(events, "items")["outputs"] == {"words": ["session:1", "session:2"]}
