"""`vvrun run … | head`: the reader of vvrun's output goes away mid-run. The run stops as a
signal would stop it (SIGPIPE, exit 141), is recorded interrupted, and resumes from where it
was — the step that finished is not run again, the next one never started. Nothing is printed
twice or as a traceback.

A real pipe: the test reads the first line and closes its end, then lets the first step end
(it waits for a file), so the next write finds no reader."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.signal_runs import VVRUN, env_for, reset_signals, vv, wait_for, write_runbook

BOOK = """\
version: 1
name: piped
title: Piped
steps:
  - id: first
    shell: |
      echo ran >> {dir}/first.count
      while [ ! -e {dir}/go ]; do sleep 0.05; done
  - id: second
    shell: echo ran >> {dir}/second.count
"""


@pytest.mark.parametrize("output", ["text", "json"])
def test_a_reader_that_goes_away_stops_the_run_resumably(tmp_path: Path, output: str) -> None:
    book = write_runbook(tmp_path, BOOK.format(dir=tmp_path))
    proc = subprocess.Popen([*VVRUN, "run", str(book), "--output", output],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, env=env_for(tmp_path), cwd=tmp_path,
                            start_new_session=True, preexec_fn=reset_signals)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()  # the run has started writing
    wait_for(lambda: (tmp_path / "first.count").exists(), "the first step to run")
    proc.stdout.close()  # `head -1` is done: nobody reads any more
    (tmp_path / "go").touch()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141, err
    assert "closed output" in err and "vvrun resume" in err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert not (tmp_path / "second.count").exists()

    runs = json.loads(vv(tmp_path, "runs", "--format", "json").stdout)
    (run,) = runs
    assert run["status"] == "interrupted"
    shown = vv(tmp_path, "show", run["id"], "--format", "json")
    steps = {s["step_id"]: s["status"] for s in json.loads(shown.stdout)["steps"]}
    assert steps.get("first") == "succeeded", shown.stdout

    again = vv(tmp_path, "resume", run["id"])
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "first.count").read_text() == "ran\n"  # not run twice
    assert (tmp_path / "second.count").read_text() == "ran\n"
