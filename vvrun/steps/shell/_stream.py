"""A running command's output: each line shown live on the console and the tail kept."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from vvrun.errors import Location, StepFailed
from vvrun.steps.base import Console

OUTPUT_CAP = 64 * 1024  # characters of each stream kept in the result (the last ones)
LINE_CAP = 16 * 1024  # a longer line without a newline is shown in pieces
STDERR_TAIL = 10  # lines of stderr shown in a failure


class Tail:
    """The last OUTPUT_CAP characters of a stream, kept as lines."""

    def __init__(self) -> None:
        self.lines: deque[str] = deque()
        self.size = 0
        self.dropped = False

    def add(self, line: str) -> None:
        self.lines.append(line)
        self.size += len(line) + 1
        while self.size > OUTPUT_CAP and len(self.lines) > 1:
            self.size -= len(self.lines.popleft()) + 1
            self.dropped = True

    def text(self) -> str:
        body = "\n".join(self.lines)
        return ("[… earlier output dropped …]\n" + body) if self.dropped else body


def say(console: Console, lock: threading.Lock, text: str, stream: str) -> None:
    with lock:
        console.line(text, stream=stream)


def pump(pipe: Any, name: str, tail: Tail, console: Console, lock: threading.Lock,
         first: Callable[[str], bool] | None = None) -> None:
    """Read one stream line by line: show each line live and keep the tail. `first` sees the
    first line and may take it (True: neither shown nor kept)."""
    showing = True
    with pipe:
        for raw in iter(lambda: pipe.readline(LINE_CAP), b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if first is not None:
                taken, first = first(line), None
                if taken:
                    continue
            tail.add(line)
            if showing:
                try:
                    say(console, lock, line, name)
                except Exception:
                    # The display broke (`vvrun ... | head` closed it). Keep draining the pipe
                    # regardless: a child blocked on a full pipe would hang the step.
                    showing = False


def start_pumps(proc: Any, console: Console, label: str,
                first: Callable[[str], bool] | None = None
                ) -> tuple[dict[str, Tail], list[threading.Thread], threading.Lock]:
    """One reader thread per stream of `proc` (stdout first)."""
    tails = {"stdout": Tail(), "stderr": Tail()}
    lock = threading.Lock()  # one line at a time reaches the console
    readers = [threading.Thread(target=pump, args=(pipe, name, tails[name], console, lock,
                                                   first if name == "stdout" else None),
                                name=f"vvrun-{label}-{name}", daemon=True)
               for pipe, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))]
    for t in readers:
        t.start()
    return tails, readers, lock


def exit_code_of(returncode: int) -> int:
    """The exit code as bash reports it: a process killed by signal N exited 128+N."""
    return 128 - returncode if returncode < 0 else returncode


def require_ok(exit_code: int, ok_codes: tuple[int, ...], stderr: Tail,
               result: dict[str, Any], where: Location | None) -> dict[str, Any]:
    """`result` when the exit code is one of `ok_codes`; else StepFailed carrying it."""
    if exit_code in ok_codes:
        return result
    error = StepFailed(failure_message(exit_code, ok_codes, stderr), where=where,
                       hint="if this exit code is fine here, add it to `ok_codes`")
    error.result = result  # type: ignore[attr-defined]
    raise error


def failure_message(exit_code: int, ok_codes: tuple[int, ...], stderr: Tail) -> str:
    tail = list(stderr.lines)[-STDERR_TAIL:]
    message = f"command exited with {exit_code} (ok: {', '.join(map(str, ok_codes))})"
    if tail:
        message += "\n  stderr:\n" + "\n".join("    " + line for line in tail)
    return message
