"""The operator's terminal goes away mid-step — the window closed, the SSH connection dropped.
The kernel sends SIGHUP and every later write to the terminal fails with EIO. The step in flight
is cancelled, and the run is recorded interrupted and resumable (exit 129): the dead terminal
must not turn that into an internal error that leaves the run `running` with its lock held.

A real pseudo-terminal is the operator's terminal here: vvrun runs interactively on it (the live
display, the step header), and the test closes its master side."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import subprocess
import termios
from pathlib import Path

import pytest

from tests.signal_runs import VVRUN, env_for, kill_quietly, read_pid, vv, wait_for, write_runbook

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux /proc")


def _drain(fd: int) -> None:
    """Read what vvrun wrote so far, so that it never blocks on a full terminal buffer."""
    os.set_blocking(fd, False)
    try:
        while os.read(fd, 65536):
            pass
    except (BlockingIOError, OSError):
        pass


def test_a_terminal_that_hangs_up_mid_step_leaves_an_interrupted_resumable_run(
        tmp_path: Path) -> None:
    book = write_runbook(tmp_path, """
        version: 1
        name: hangup
        title: Hang up
        steps:
          - id: nap
            shell: |
              if [ -f again ]; then echo resumed; exit 0; fi
              echo $$ > bash.pid
              sleep 1000
          - id: after
            shell: echo after
    """)
    master, slave = pty.openpty()

    def own_terminal() -> None:  # in the child: the pty becomes its controlling terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    env = env_for(tmp_path, TMPDIR=str(tmp_path), TERM="xterm-256color", COLUMNS="100")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([*VVRUN, "run", str(book)], stdin=slave, stdout=slave,
                            stderr=slave, env=env, cwd=tmp_path, start_new_session=True,
                            preexec_fn=own_terminal)
    os.close(slave)
    bash = None
    try:
        bash = wait_for(lambda: read_pid(tmp_path / "bash.pid"), "the step to start")
        _drain(master)
        os.close(master)  # the terminal is gone: SIGHUP, then EIO on every write
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_quietly(bash)
    assert code == 129
    assert not list(tmp_path.glob("vvrun-crash-*")), "vvrun crashed on the dead terminal"
    runs = vv(tmp_path, "runs", "--format", "json")
    assert runs.returncode == 0, runs.stderr
    (run,) = json.loads(runs.stdout)
    assert run["status"] == "interrupted", run
    shown = vv(tmp_path, "show", run["id"])
    assert "interrupted by SIGHUP" in shown.stdout, shown.stdout
    # the lock was released and the run resumes where it stopped
    (tmp_path / "again").touch()
    again = vv(tmp_path, "resume", run["id"], "--yes", "--rerun", "nap")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resumed" in again.stdout and "after" in again.stdout
