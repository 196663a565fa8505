"""Who is alive, who may take a lock over, and the messages when a lock is in the way.

Shared by every store, so that memory, SQLite and PostgreSQL decide the same way.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING

from vvrun.errors import LockHeld, StateError
from vvrun.results import Status, StepResult

if TYPE_CHECKING:
    from vvrun.state.base import LockInfo

#: `pid` of a lock whose run holds it without a process (the run is paused): only that run's
#: own resume may take it over.
PARKED = 0


def this_host() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            # "pid (comm) S ..." — comm may hold spaces and parentheses: split at the last ')'
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def holder_gone(host: str, pid: int, expires_at: float, now: float) -> bool:
    """A holder is gone when its lease expired, or it ran here and its process is dead."""
    if expires_at < now:
        return True
    return host == this_host() and not pid_alive(pid)


def may_take_over(*, holder_run: str, holder_host: str, holder_pid: int, holder_expires: float,
                  run_id: str, host: str, pid: int, now: float) -> bool:
    """A lock belongs to its run: the run takes it back from itself (same process), from its
    own dead or parked process, or when its lease expired. Never from another run."""
    if holder_run != run_id:
        return False
    if holder_host == host and holder_pid == pid:
        return True
    if holder_pid == PARKED:
        return True
    return holder_gone(holder_host, holder_pid, holder_expires, now)


def when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ts))


def lock_held(holder: LockInfo, now: float) -> LockHeld:
    """LockHeld naming the holder, and what to do about it."""
    who = f"{holder.operator} on {holder.host}"
    if holder.pid == PARKED:
        state = "the run is paused or was interrupted, and keeps it for its resume"
        hint = (f"wait for it, resume it (`vvrun resume {holder.run_id}`), or if it is "
                f"abandoned: `vvrun unlock {holder.key} --why TEXT`")
    elif holder_gone(holder.host, holder.pid, holder.expires_at, now):
        state = (f"pid {holder.pid} is gone" if holder.expires_at >= now
                 else f"pid {holder.pid}, lease expired at {when(holder.expires_at)}")
        hint = (f"its process is gone: resume that run (`vvrun resume {holder.run_id}`) or "
                f"break the lock: `vvrun unlock {holder.key} --why TEXT`")
    else:
        state = f"pid {holder.pid}"
        hint = (f"wait for run {holder.run_id} to finish; if its process is gone on "
                f"{holder.host}: `vvrun unlock {holder.key} --why TEXT`")
    return LockHeld(
        f"lock '{holder.key}' is held by run {holder.run_id} ({who}, {state}, "
        f"since {when(holder.since)})",
        hint=hint,
    )


def fence_broken(run_id: str, *, by: str | None, at: float | None,
                 taken_by: LockInfo | None) -> StateError:
    """The error a writer gets once its run's lock was broken or taken over."""
    if by is not None and at is not None:
        what = f"this run's lock was broken by {by} at {when(at)}; stop"
    elif taken_by is not None:
        what = (f"this run's lock was taken over by {taken_by.operator} "
                f"(pid {taken_by.pid} on {taken_by.host}) at {when(taken_by.since)}; stop")
    else:
        what = "this run no longer holds its lock; stop"
    return StateError(
        f"run {run_id}: {what}",
        hint=f"someone else may be acting on the same target now; do not go on with this "
             f"run — see `vvrun show {run_id} --events`",
    )


def in_flight(key: str, *, attempt: int, host: str | None, pid: int, action_hash: str | None,
              started_at: float | None, lease_end: float | None, parked: bool,
              now: float) -> StepResult:
    """A ledger entry left `running`: still running if its process may be alive, else
    UNCERTAIN (its effect may or may not have happened)."""
    gone = (
        parked
        or (lease_end is not None and lease_end < now)
        or (host == this_host() and not pid_alive(pid))
        or (host != this_host() and lease_end is None)
    )
    if not gone:
        return StepResult(step_id=key, status=Status.RUNNING, attempts=attempt,
                          started_at=started_at, action_hash=action_hash)
    since = f" since {when(started_at)}" if started_at else ""
    return StepResult(
        step_id=key, status=Status.UNCERTAIN, attempts=attempt, started_at=started_at,
        action_hash=action_hash,
        error=f"left running by pid {pid} on {host}{since}, which is gone: its effect may or "
              f"may not have happened",
    )
