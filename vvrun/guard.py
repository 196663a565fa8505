"""The second lock on a plan's door: a Python audit hook that turns side effects into errors.

`plan` reaches the world by construction only through `parse`, `render` and `describe`, which are
pure. This guard makes that promise checkable: while `no_side_effects()` is active, any socket
connect/bind/send, DNS lookup, subprocess, `os.system`/`exec*`/`spawn`/`fork`, file opened for
writing, file removed/renamed/created, or SQLite connection raises `SideEffectBlocked` — and is
recorded, so that a library which swallows the error (say, a retrying driver) still cannot hide it:
leaving the block raises for the first recorded violation.

Audit hooks cannot be removed (PEP 578), so the hook is installed once per process and does
nothing unless a `no_side_effects()` block is active anywhere in the process. It is deliberately
process-wide rather than per-thread: a thread started by planning code is caught too.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from vvrun.errors import EXIT_FAILED, VvrunError

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

#: Audit events that are side effects whatever their arguments.
BLOCKED_EVENTS: dict[str, str] = {
    "socket.connect": "open a network connection",
    "socket.bind": "bind a network socket",
    "socket.sendto": "send a network packet",
    "socket.sendmsg": "send a network packet",
    "socket.getaddrinfo": "look up a host name (DNS)",
    "socket.gethostbyname": "look up a host name (DNS)",
    "socket.gethostbyaddr": "look up a host name (DNS)",
    "subprocess.Popen": "start a process",
    "os.system": "run a shell command",
    "os.exec": "replace the process (exec)",
    "os.posix_spawn": "start a process",
    "os.spawn": "start a process",
    "os.fork": "fork the process",
    "os.forkpty": "fork the process",
    "pty.spawn": "start a process",
    "sqlite3.connect": "open an SQLite database",
    "os.remove": "remove a file",
    "os.rename": "rename a file",
    "os.mkdir": "create a directory",
    "os.rmdir": "remove a directory",
    "os.truncate": "truncate a file",
    "os.link": "create a link",
    "os.symlink": "create a link",
    "os.chmod": "change file permissions",
    "os.chown": "change file ownership",
    "os.utime": "change file times",
    "shutil.rmtree": "remove a directory tree",
    "shutil.copyfile": "copy a file",
    "shutil.move": "move a file",
    "urllib.Request": "send an HTTP request",
}


class SideEffectBlocked(VvrunError, PermissionError):
    """Planning tried to touch the world. Always a bug in vvrun, never the author's fault.

    Also a `PermissionError`, so that the import system's "could not write bytecode" paths and
    similar best-effort writers give up quietly instead of crashing (the attempt is still
    recorded and reported when the guarded block ends).
    """

    exit_code: ClassVar[int] = EXIT_FAILED

    def __init__(self, event: str, what: str, detail: str = ""):
        message = f"a plan must not {what}, but something tried to ({event}{detail})"
        VvrunError.__init__(
            self,
            message,
            hint="this is a bug in vvrun (a step type's render/describe has a side effect); "
            "please report it with the runbook that triggered it",
        )
        self.event = event


class _State:
    def __init__(self) -> None:
        self.depth = 0
        self.violations: list[SideEffectBlocked] = []
        self.lock = threading.Lock()
        self.installed = False
        self.saved_bytecode = False


_state = _State()


def _detail(args: tuple[Any, ...]) -> str:
    if not args:
        return ""
    first = args[0]
    if isinstance(first, bytes | str | int | tuple | list):
        text = repr(first)
        return ": " + (text if len(text) <= 120 else text[:117] + "...")
    return ""


def _violation(event: str, args: tuple[Any, ...]) -> SideEffectBlocked | None:
    what = BLOCKED_EVENTS.get(event)
    if what is not None:
        if event == "socket.connect" and len(args) > 1:
            return SideEffectBlocked(event, what, _detail(args[1:]))
        return SideEffectBlocked(event, what, _detail(args))
    if event == "open" and len(args) >= 3:
        path, mode, flags = args[0], args[1], args[2]
        if isinstance(path, int):
            return None  # wrapping a descriptor that was opened before the plan started
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writing:
            return SideEffectBlocked(event, "open a file for writing", _detail((path,)))
    return None


def _hook(event: str, args: tuple[Any, ...]) -> None:
    # Runs for every audited event in the process: the unguarded path must stay this cheap.
    if _state.depth <= 0:
        return
    blocked = _violation(event, args)
    if blocked is not None:
        _state.violations.append(blocked)
        raise blocked


def install() -> None:
    """Install the audit hook (once per process; idempotent)."""
    with _state.lock:
        if not _state.installed:
            sys.addaudithook(_hook)
            _state.installed = True


@contextmanager
def no_side_effects() -> Iterator[None]:
    """Within this block, side effects raise `SideEffectBlocked`; on leaving it, the first one
    attempted is raised even if something caught it (or turned it into another error). Nestable.
    """
    install()
    with _state.lock:
        if _state.depth == 0:
            _state.violations.clear()
            _state.saved_bytecode = sys.dont_write_bytecode
            # Importing a module for the first time would write its .pyc: not a side effect
            # of the plan, so do not attempt it rather than report it.
            sys.dont_write_bytecode = True
        _state.depth += 1
    failure: BaseException | None = None
    try:
        yield
    except SideEffectBlocked:
        raise
    except BaseException as exc:
        failure = exc
        raise
    finally:
        with _state.lock:
            _state.depth -= 1
            violations = list(_state.violations) if _state.depth == 0 else []
            if _state.depth == 0:
                sys.dont_write_bytecode = _state.saved_bytecode
                _state.violations.clear()
        if violations and not isinstance(failure, KeyboardInterrupt):
            # Report the attempt, not whatever a library made of the refusal.
            raise violations[0] from failure


def active() -> bool:
    """Whether a `no_side_effects()` block is active."""
    return _state.depth > 0


def ever_active() -> bool:
    """Whether this process has entered a `no_side_effects()` block (a plan ran here): caches
    written at exit stay unwritten, as they would have been during the block."""
    return _state.installed
