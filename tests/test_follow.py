"""`vvrun show RUN --follow` against a real run in another process: it prints the trail as the
run writes it, goes on through a pause, ends with the run, and Ctrl-C stops it with exit 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOK = """version: 1
name: follow-me
title: Followed live
steps:
  - id: wait
    shell: >-
      for i in $(seq 600); do [ -e {{ env.GATE }} ] && break; sleep 0.05; done;
      test -e {{ env.GATE }}
  - id: check
    confirm: Go on?
  - id: done
    shell: echo followed to the end
"""


class Lines:
    """A process's stdout, line by line, read on a thread so a wait can be bounded."""

    def __init__(self, proc: subprocess.Popen[str]):
        self.proc, self.seen, self._q = proc, [], Queue()  # type: ignore[var-annotated]
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def until(self, text: str, timeout: float = 60.0) -> str:
        while True:
            try:
                line = self._q.get(timeout=timeout)
            except Empty:
                raise AssertionError(f"no line with {text!r} in: {self.seen}") from None
            if line is None:
                raise AssertionError(f"ended before {text!r}: {self.seen}")
            self.seen.append(line)
            if text in line:
                return line


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "book.yaml").write_text(BOOK)
    return {**{k: v for k, v in os.environ.items() if not k.startswith("VVRUN_")},
            "PYTHONPATH": str(ROOT), "VVRUN_STATE": str(tmp_path / "state.db"),
            "XDG_STATE_HOME": str(tmp_path / "xdg"), "GATE": str(tmp_path / "gate"),
            "NO_COLOR": "1", "VVRUN_OPERATOR": "alice"}


def _vv(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "vvrun", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _started(env: dict[str, str], procs: list, tmp: Path) -> str:
    run = _vv(env, "run", str(tmp / "book.yaml"), "--output", "json")
    procs.append(run)
    first = json.loads(Lines(run).until('"run_started"'))
    return str(first.get("run_id") or first["data"]["run_id"])


def test_follow_prints_the_trail_live_through_a_pause_to_the_end(
        env: dict[str, str], procs: list, tmp_path: Path) -> None:
    run_id = _started(env, procs, tmp_path)
    follower = _vv(env, "show", run_id, "--follow")
    procs.append(follower)
    lines = Lines(follower)
    lines.until("step `wait` started")
    assert follower.poll() is None  # the run is still going: so is the follower
    (tmp_path / "gate").write_text("go")
    lines.until("step `wait` succeeded")
    lines.until("paused")  # the confirm step has no terminal to ask: the run pauses
    assert follower.poll() is None
    resumed = _vv(env, "resume", run_id, "--yes")
    procs.append(resumed)
    lines.until("step `done` succeeded")
    lines.until("hash chain verifies")
    assert follower.wait(timeout=30) == 0
    assert any("run ended: succeeded" in line for line in lines.seen)


def test_ctrl_c_stops_following_not_the_run(env: dict[str, str], procs: list,
                                            tmp_path: Path) -> None:
    run_id = _started(env, procs, tmp_path)
    follower = _vv(env, "show", run_id, "--follow")
    procs.append(follower)
    Lines(follower).until("step `wait` started")
    follower.send_signal(signal.SIGINT)
    assert follower.wait(timeout=30) == 0
    assert procs[0].poll() is None  # the run itself goes on
    (tmp_path / "gate").write_text("go")


def test_follow_has_no_format(env: dict[str, str], tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "vvrun", "show", "x", "--follow", "--format",
                           "json"], env=env, text=True, capture_output=True, timeout=60)
    assert done.returncode == 2 and "--follow" in done.stderr and "Traceback" not in done.stderr
