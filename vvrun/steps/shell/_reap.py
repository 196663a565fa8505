"""Ending every process a local shell step started: its process group, every descendant of
bash (a `setsid` child left the group, not the tree), and the orphans vvrun adopted as a child
subreaper while the step ran (a double-forked daemon's parent is gone; `engine/signals.py`).

Linux's /proc says who is whose child; elsewhere only the process group is known.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable

# pid -> (parent pid, process group, state, start time in clock ticks since boot)
Table = dict[int, tuple[int, int, str, int]]


def proc_table() -> Table:
    """Every process /proc shows; {} where there is no /proc."""
    table: Table = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                row = _stat(int(entry))
                if row is not None:
                    table[int(entry)] = row
    return table


def _stat(pid: int) -> tuple[int, int, str, int] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode(errors="replace")
    except OSError:
        return None
    # the name may hold spaces and parens: the fields start after the last ")"
    fields = stat[stat.rfind(")") + 2:].split()
    try:
        return int(fields[1]), int(fields[2]), fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def group_members(pgid: int) -> dict[int, str]:
    """{pid: state} of the processes in a group (Linux /proc); {} elsewhere."""
    return {pid: row[2] for pid, row in proc_table().items() if row[1] == pgid}


class StepProcesses:
    """The processes of one step, found afresh each time they are asked for (a dying parent
    hands its children to vvrun; a forking one makes new ones)."""

    def __init__(self, proc: subprocess.Popen[bytes]):
        self.proc = proc
        self.root = proc.pid  # start_new_session: also the group's id
        self.me = os.getpid()
        row = _stat(self.root)
        # adopted orphans count only if they started after bash (never an earlier step's)
        self.since = row[3] if row is not None else None

    def find(self, *, group_only: bool = False) -> dict[int, str]:
        """{pid: state} of the step's processes, bash included while it lives (`group_only`:
        those still in its process group)."""
        table = proc_table()
        if not table:
            return {}
        roots = {self.root} | {pid for pid, (_, pgid, _, _) in table.items() if pgid == self.root}
        if group_only:
            return {pid: table[pid][2] for pid in roots if pid in table}
        if self.since is not None:
            roots |= {pid for pid, (ppid, _, _, start) in table.items()
                      if ppid == self.me and start >= self.since}
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        found: set[int] = set()
        todo = [p for p in roots if p in table]
        while todo:
            pid = todo.pop()
            if pid in found or pid in (self.me, 1):
                continue
            found.add(pid)
            todo.extend(children.get(pid, ()))
        return {pid: table[pid][2] for pid in found}

    def alive(self, *, group_only: bool = False) -> set[int]:
        """The live ones: zombies have ended already (we reap our own)."""
        found = self.find(group_only=group_only)
        if not found and not os.path.isdir("/proc"):
            return {self.root} if _group_alive(self.root) else set()
        return {pid for pid, state in found.items() if state != "Z"}

    def stop(self, grace: float, hurry: threading.Event, *, group_only: bool = False) -> None:
        """SIGTERM to all of them; SIGKILL to whatever is left after `grace` seconds (at once
        when `hurry` is set: a second signal); then reap what vvrun adopted. `group_only`:
        leave alone what left the group (a finished step's daemon)."""
        self.signal(signal.SIGTERM, self.alive(group_only=group_only))
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and not hurry.is_set():
            self.reap()
            if self.proc.poll() is not None and not self.alive(group_only=group_only):
                return
            hurry.wait(0.02)
        for _ in range(200):  # a parent may fork while it dies: kill until none is left
            left = self.alive(group_only=group_only)
            if not left and self.proc.poll() is not None:
                break
            self.signal(signal.SIGKILL, left)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(0.01)
            self.reap()
        self.proc.wait()
        self.reap()

    def signal(self, sig: int, pids: Iterable[int]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.root, sig)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def reap(self) -> None:
        """Collect the exit status of adopted orphans (ours as subreaper) that have ended, so
        they do not stay zombies; bash is left to its Popen."""
        for pid, state in self.find().items():
            if state == "Z" and pid != self.root:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
