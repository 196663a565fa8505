"""SIGINT, SIGTERM and SIGHUP to a real `vvrun run`: the shell step in flight ends with every
process it started (in its group or not), the run is recorded interrupted and resumable, and
the exit code names the signal. Synchronised on files the steps write, never on sleeps."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.signal_runs import (
    alive,
    events,
    finish,
    kill_quietly,
    read_pid,
    start,
    vv,
    wait_for,
    write_runbook,
)

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux /proc")


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


@pytest.mark.parametrize(("sig", "code", "name"), [
    (signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM"),
    (signal.SIGHUP, 129, "SIGHUP")])
def test_a_signal_ends_the_shell_step_and_its_escaped_children(
        tmp_path: Path, sig: int, code: int, name: str) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: escapes
        title: Escapes
        steps:
          - id: nap
            shell: |
              if [ -f again ]; then echo resumed; exit 0; fi
              echo $$ > bash.pid
              setsid sleep 1000 > /dev/null 2>&1 & echo $! > setsid.pid
              (setsid sleep 1001 > /dev/null 2>&1 & echo $! > daemon.pid)
              sleep 1002 & echo $! > child.pid
              wait
    """)
    proc = start(tmp_path, "run", str(rb))
    pids: dict[str, int] = {}
    try:
        for what in ("bash", "setsid", "daemon", "child"):
            pids[what] = wait_for(lambda w=what: read_pid(tmp_path / f"{w}.pid"), what)
        # the double-forked one lost its parent: vvrun, the subreaper, adopted it
        wait_for(lambda: _parent(pids["daemon"]) == proc.pid, "vvrun to adopt the orphan")
        proc.send_signal(sig)
        out, err = finish(proc)
    finally:
        for pid in pids.values():
            kill_quietly(pid)
    assert proc.returncode == code, err
    run_id = events(out)[0]["run_id"]
    assert f"resume with `vvrun resume {run_id}`" in out + err
    assert f"interrupted by {name}" in out + err
    assert [w for w, pid in pids.items() if alive(pid)] == []
    ended = events(out)[-1]
    assert ended["event"] == "run_ended" and ended["status"] == "interrupted"
    assert ended["exit_code"] == code
    shown = vv(tmp_path, "show", run_id)
    assert "interrupted" in shown.stdout, shown.stdout + shown.stderr
    # a killed command may have done part of its work: the resume asks, --rerun answers
    (tmp_path / "again").touch()
    asked = vv(tmp_path, "resume", run_id, "--yes")
    assert asked.returncode == 1 and "was in flight" in asked.stderr
    again = vv(tmp_path, "resume", run_id, "--yes", "--rerun", "nap")
    assert again.returncode == 0, again.stderr
    assert "resumed" in again.stdout


def test_a_child_that_ignores_sigterm_is_killed_after_grace(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: stubborn
        title: Stubborn
        defaults:
          grace: 1s
        steps:
          - id: hold
            shell: |
              bash -c 'trap "" TERM; echo $$ > stubborn.pid; while :; do sleep 0.05; done' &
              wait
    """)
    proc = start(tmp_path, "run", str(rb))
    stubborn = None
    try:
        stubborn = wait_for(lambda: read_pid(tmp_path / "stubborn.pid"), "the stubborn child")
        proc.send_signal(signal.SIGTERM)
        _, err = finish(proc)
    finally:
        kill_quietly(stubborn)
    assert proc.returncode == 143, err
    assert not alive(stubborn)


def test_a_second_signal_skips_the_grace_but_not_the_record(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: hurry
        title: Hurry
        steps:
          - id: hold
            grace: 10m
            shell: |
              trap 'echo term > got_term' TERM
              echo $$ > bash.pid
              while :; do sleep 0.05 || true; done  # -e: a killed sleep must not end it
    """)
    proc = start(tmp_path, "run", str(rb))
    bash = None
    try:
        bash = wait_for(lambda: read_pid(tmp_path / "bash.pid"), "the step to start")
        proc.send_signal(signal.SIGTERM)
        wait_for((tmp_path / "got_term").exists, "the step to get SIGTERM")
        proc.send_signal(signal.SIGINT)  # not ten minutes: SIGKILL now
        out, err = finish(proc, timeout=120)
    finally:
        kill_quietly(bash)
    assert proc.returncode == 143, err  # the first signal decides the exit code
    assert not alive(bash)
    run_id = events(out)[0]["run_id"]
    assert events(out)[-1]["status"] == "interrupted"
    shown = vv(tmp_path, "show", run_id, "--format", "json")
    assert '"interrupted"' in shown.stdout, shown.stdout + shown.stderr


def test_a_timeout_ends_what_left_the_process_group(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: slow
        title: Slow
        steps:
          - id: hold
            timeout: 2s
            grace: 1s
            shell: |
              (setsid sleep 1003 > /dev/null 2>&1 & echo $! > daemon.pid)
              setsid bash -c 'trap "" TERM; echo $$ > stubborn.pid; sleep 1004' &
              wait
    """)
    out = vv(tmp_path, "run", str(rb))
    pids = [read_pid(tmp_path / "daemon.pid"), read_pid(tmp_path / "stubborn.pid")]
    for pid in pids:
        kill_quietly(pid)
    assert out.returncode == 1, out.stderr
    assert "still running after 2s" in out.stdout + out.stderr
    assert None not in pids and not any(alive(p) for p in pids if p)
