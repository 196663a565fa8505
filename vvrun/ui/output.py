"""The run's standard output as the sinks and the prompter write it, when its reader may go
away: `vvrun run … | head`, a `jq` that stopped, a closed SSH session's pipe, a terminal window
closed or an SSH connection dropped (the terminal then answers every write with EIO).

A reader that went away ends the writing, never the record of the run. The first broken pipe
makes this output quiet: later writes are dropped, and the file descriptor is pointed at
/dev/null so that nothing — Python's flush at exit included — fails on it again. The SIGPIPE
the kernel sent with that write is what stops the run: the edge handles it like SIGTERM
(`engine/signals.py`), so the step in flight is cancelled cleanly and the run is recorded
interrupted, resumable (exit 141); a terminal that hung up sends SIGHUP the same way (exit 129).
"""

from __future__ import annotations

import errno
import os
from typing import Any, TextIO

#: what a write says when nobody reads any more: a closed pipe; a terminal that hung up (EIO,
#: or ENXIO on some systems)
GONE = frozenset({errno.EPIPE, errno.EIO, errno.ENXIO})


class ClosableOutput:
    """A text file (stdout) whose reader may close it; otherwise the same file."""

    def __init__(self, file: TextIO):
        self.file = file
        self.closed_by_reader = False

    def write(self, text: str) -> int:
        if not self.closed_by_reader:
            try:
                self.file.write(text)
            except OSError as exc:
                if exc.errno not in GONE:
                    raise
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self.closed_by_reader:
            try:
                self.file.flush()
            except OSError as exc:
                if exc.errno not in GONE:
                    raise
                self._gone()

    def _gone(self) -> None:
        self.closed_by_reader = True
        try:  # what is still buffered goes nowhere, quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self.file.fileno())
            finally:
                os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass  # not a real file (a test's StringIO): nothing to redirect

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding: the file's own
        return getattr(self.file, name)
