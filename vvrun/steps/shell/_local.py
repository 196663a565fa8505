"""A shell step on this machine: bash in its own process group, stopped whole on timeout or
cancel (SIGTERM, then SIGKILL after GRACE seconds)."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import time
from typing import Any

from vvrun.errors import Cancelled, StepFailed, StepTimeout
from vvrun.steps.base import StepIO
from vvrun.steps.shell._stream import failure_message, say, start_pumps
from vvrun.steps.shell.childenv import step_environment

GRACE = 5.0  # seconds between SIGTERM and SIGKILL


def execute_local(action: Any, io: StepIO) -> dict[str, Any]:
    """Run the command in its own process group, stream its lines, stop the whole group on
    timeout or cancel (SIGTERM, then SIGKILL after GRACE seconds)."""
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
            _stop_group(proc)
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
        _stop_group(proc)
        say(io.console, lock, "vvrun: stopped background processes the command left behind",
            "stderr")
    for t in readers:
        t.join(GRACE)
    code = proc.returncode
    exit_code = 128 - code if code < 0 else code  # killed by signal N: 128+N, as bash says
    result = {"exit_code": exit_code, "stdout": tails["stdout"].text(),
              "stderr": tails["stderr"].text(), "pid": proc.pid,
              "duration_ms": round((time.monotonic() - started) * 1000, 1)}
    if stopped_by == "timeout":
        raise StepTimeout(
            f"command still running after {io.timeout:g}s; its process group was stopped "
            f"(SIGTERM, then SIGKILL after {GRACE:g}s)",
            where=io.where, hint="raise the step's `timeout`, or check why the command hangs")
    if stopped_by == "cancel":
        raise Cancelled("command interrupted; its process group was stopped", where=io.where)
    if exit_code not in action.ok_codes:
        error = StepFailed(failure_message(exit_code, action.ok_codes, tails["stderr"]),
                           where=io.where,
                           hint="if this exit code is fine here, add it to `ok_codes`")
        error.result = result  # type: ignore[attr-defined]
        raise error
    return result


@functools.lru_cache(maxsize=8)  # a PATH walk per step was 0.2 ms of a `true` step (bench)
def _bash(path: str | None) -> str:
    return shutil.which("bash", path=path) or "/bin/bash"


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole group; SIGKILL to whatever is left after GRACE seconds."""
    pgid = proc.pid  # start_new_session: the group's id is bash's pid
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _group_alive(pgid):
            return
        time.sleep(0.02)
    _signal_group(pgid, signal.SIGKILL)
    proc.wait()
    for _ in range(100):  # the kernel needs a moment to reap what SIGKILL ended
        if not _group_alive(pgid):
            return
        time.sleep(0.01)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


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


def group_members(pgid: int) -> dict[int, str]:
    """{pid: state} of the processes in a group (Linux /proc); {} elsewhere."""
    members: dict[int, str] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    stat = fh.read().decode(errors="replace")
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()  # the name may hold spaces and parens
            if len(fields) > 2 and int(fields[2]) == pgid:
                members[int(entry)] = fields[0]
    return members
