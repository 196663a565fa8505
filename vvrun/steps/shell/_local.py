"""A shell step on this machine: bash in its own process group; on timeout or cancel every
process it started is stopped (SIGTERM, then SIGKILL after the step's `grace`: `_reap.py`)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
from typing import Any

from vvrun.errors import Cancelled, StepFailed, StepTimeout
from vvrun.steps.base import DEFAULT_GRACE, StepIO
from vvrun.steps.shell._reap import StepProcesses, group_members
from vvrun.steps.shell._stream import exit_code_of, require_ok, say, start_pumps
from vvrun.steps.shell.childenv import step_environment

GRACE = DEFAULT_GRACE  # seconds between SIGTERM and SIGKILL, unless the step sets `grace`


def execute_local(action: Any, io: StepIO) -> dict[str, Any]:
    """Run the command in its own process group, stream its lines; on timeout or cancel stop
    every process it started, in its group or not (SIGTERM, then SIGKILL after `io.grace`)."""
    if action.cwd is not None and not os.path.isdir(action.cwd):
        raise StepFailed(f"working directory {action.cwd!r} does not exist", where=io.where,
                         hint="check `cwd:` on the step")
    env = step_environment(io.env, io.secret_env, dict(action.env))
    bash = _bash(env.get("PATH"))
    try:
        proc = subprocess.Popen(
            [bash, "-e", "-o", "pipefail", "-c", action.command],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=action.cwd, env=env, start_new_session=True,  # its own group: we stop it whole
        )
    except OSError as exc:
        raise StepFailed(f"could not start bash: {exc}", where=io.where,
                         hint="vvrun runs shell steps with bash; install it or fix PATH") from exc
    processes = StepProcesses(proc)
    if io.on_spawn is not None:
        io.on_spawn(proc.pid)  # start_new_session: the group's id is bash's pid
    tails, readers, lock = start_pumps(proc, io.console, "shell")
    started = time.monotonic()
    stopped_by = None
    # Wake when bash's stdout reaches EOF (it has exited), not on a timer: a quick command
    # ends its step at once (a 50 ms tick was 23 ms of a `true` step: bench/RESULTS.md). Once
    # stdout is closed, poll with a backoff from 0.5 ms. A timeout or a cancel is seen
    # within 50 ms.
    tick = 0.0005
    while proc.poll() is None:
        if io.timeout is not None and time.monotonic() - started >= io.timeout:
            stopped_by = "timeout"
        elif io.cancel.is_set():
            stopped_by = "cancel"
        if stopped_by:
            processes.stop(io.grace, io.hurry)
            break
        waiting_for_eof = readers[0].is_alive()
        cap = 0.05 if waiting_for_eof else tick
        limit = cap if io.timeout is None else max(0.0, min(
            cap, io.timeout - (time.monotonic() - started)))
        if waiting_for_eof:
            readers[0].join(limit)  # the worker thread: no Ctrl-C lands here
        else:
            io.cancel.wait(limit)
            tick = min(tick * 2, 0.05)
    if stopped_by is None and _group_alive(proc.pid):
        # Background children outlive bash and would hold our pipes open for ever; a step's
        # processes end with the step (start daemons with setsid or a service manager).
        processes.stop(io.grace, io.hurry, group_only=True)
        say(io.console, lock, "vvrun: stopped background processes the command left behind",
            "stderr")
    for t in readers:
        t.join(io.grace)
    exit_code = exit_code_of(proc.returncode)
    result = {"exit_code": exit_code, "stdout": tails["stdout"].text(),
              "stderr": tails["stderr"].text(), "pid": proc.pid,
              "duration_ms": round((time.monotonic() - started) * 1000, 1)}
    if stopped_by == "timeout":
        raise StepTimeout(
            f"command still running after {io.timeout:g}s; it and every process it started "
            f"were stopped (SIGTERM, then SIGKILL after {io.grace:g}s)",
            where=io.where, hint="raise the step's `timeout`, or check why the command hangs")
    if stopped_by == "cancel":
        cancelled = Cancelled("command interrupted; it and every process it started were "
                              "stopped", where=io.where,
                              hint="what it did before it was stopped stands")
        # nothing of it still runs, and this is how far it got: a resume asks with that
        cancelled.result = result  # type: ignore[attr-defined]
        raise cancelled
    return require_ok(exit_code, action.ok_codes, tails["stderr"], result, io.where)


@functools.lru_cache(maxsize=8)  # a PATH walk per step was 0.2 ms of a `true` step (bench)
def _bash(path: str | None) -> str:
    return shutil.which("bash", path=path) or "/bin/bash"


def _group_alive(pgid: int) -> bool:
    """True while a live (not zombie) process is in the group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc"):
        return True
    # zombies stay in their group until reaped (by init, for orphans): they are already gone
    return any(state != "Z" for state in group_members(pgid).values())
