"""Helpers for the signal tests: a real `python -m vvrun` child whose signal dispositions do
not depend on ours (a test runner under nohup or in the background ignores SIGINT, and a child
inherits that), and waits on files and conditions rather than on the clock."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

VVRUN = [sys.executable, "-m", "vvrun"]


def reset_signals() -> None:
    """In the child, before exec: the default action for the signals vvrun handles."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VVRUN_")}
    env.update({"VVRUN_STATE": str(tmp_path / "state.db"), "VVRUN_OPERATOR": "op@test",
                "NO_COLOR": "1", **extra})
    return env


def write_runbook(tmp_path: Path, text: str, name: str = "rb.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def start(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    """`vvrun ARGS --output json` in a session of its own (our terminal's signals and our
    process group stay out of it), with default signal dispositions."""
    return subprocess.Popen([*VVRUN, *args, "--output", "json"], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env_for(tmp_path, **env),
                            cwd=tmp_path, start_new_session=True, preexec_fn=reset_signals)


def vv(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VVRUN, *args], capture_output=True, text=True, timeout=120,
                          env=env_for(tmp_path, **env), cwd=tmp_path,
                          stdin=subprocess.DEVNULL, preexec_fn=reset_signals)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """Poll `condition` until it is truthy (bounded): the event, not a guess at its time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"vvrun did not exit after the signal:\n{out}\n{err}") from None


def kill_quietly(pid: int | None) -> None:
    """Clean up after a failed test: a leftover process must not outlive it."""
    if pid is not None and alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
