"""The run's signals: SIGINT, SIGTERM, SIGHUP and SIGPIPE (the output's reader went away, see
`ui/output.py`) all become one cancel path, and vvrun adopts
what its steps leave behind (a child subreaper), so nothing a step started escapes it.

The edge (`commands/run.py`) installs this for the length of a run; the engine sees only the
`Interrupted` exception (in the main thread) and the `hurry` event.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from vvrun.errors import Interrupted

CAUGHT = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE)
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


class RunSignals:
    """The first signal raises `Interrupted` in the main thread: the step in flight is
    cancelled and the run recorded. Every later one only sets `hurry` (the cleanup skips its
    grace: SIGKILL at once, the backend terminated) and never raises, so it cannot cut the
    cleanup short: the run record is still written."""

    def __init__(self) -> None:
        self.hurry = threading.Event()
        self.first: int | None = None
        self._shielded = False
        #: a signal that arrived while the run's end was being recorded: it did not cut that
        #: short; the edge says so after the run is written
        self.absorbed: int | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.first is not None:
            if signum != signal.SIGPIPE:  # our own later writes to a closed output
                self.hurry.set()
            return
        self.first = signum
        if self._shielded:
            self.absorbed = signum
            self.hurry.set()
            return
        raise Interrupted(signum)

    @contextlib.contextmanager
    def shielded(self) -> Iterator[None]:
        """While the run's end is recorded (status, locks, the last event), a first signal
        does not raise: an exception there would leave a finished run marked `running` with
        its locks held. It is remembered in `absorbed` instead."""
        self._shielded = True
        try:
            yield
        finally:
            self._shielded = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[RunSignals]:
        """Handle the signals while the block runs (main thread only: Python's rule), then
        put back what was there."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        before: dict[int, Any] = {}
        try:
            for sig in CAUGHT:
                before[sig] = signal.signal(sig, self.handle)
            yield self
        finally:
            for sig, old in before.items():
                signal.signal(sig, old)


def become_subreaper() -> bool:
    """Make orphaned descendants (a step's `setsid` or double-forked children) ours rather
    than init's, so a timeout or a cancel can still find and end them. Linux only; elsewhere
    (and when prctl fails) False, and the shell step falls back to its process group."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False
