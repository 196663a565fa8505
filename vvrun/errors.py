"""The exception tree, source locations and exit codes.

This module imports nothing from vvrun: every other module may import it.
`cli` alone turns a `VvrunError` into a (masked) message and its exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_PAUSED = 3
EXIT_ABORTED = 4
EXIT_LOCKED = 5
EXIT_COMPLETED_WITH_FAILURES = 6  # steps under `on_failure: continue` failed
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process the signal ended
EXIT_HUNG_UP = 129  # 128 + SIGHUP
EXIT_TERMINATED = 143  # 128 + SIGTERM
EXIT_OUTPUT_CLOSED = 141  # 128 + SIGPIPE: the reader of vvrun's output went away


@dataclass(frozen=True)
class Location:
    """Where something is: `file:line:column` (1-based) and, when known, the step."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    step_id: str | None = None

    def __str__(self) -> str:
        parts = [self.file or "<runbook>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        text = ":".join(parts)
        if self.step_id:
            text += f": step '{self.step_id}'"
        return text

    def with_step(self, step_id: str | None) -> Location:
        return Location(self.file, self.line, self.column, step_id)


class VvrunError(Exception):
    """Root of every error a user can cause. Carries where it happened and what to do."""

    exit_code: ClassVar[int] = EXIT_FAILED

    def __init__(self, message: str, *, where: Location | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def format(self) -> str:
        """One message: `where: what` and, on its own line, what to do."""
        where = self.where
        if where is not None and where.step_id and self.message.startswith(
                f"step '{where.step_id}'"):
            where = where.with_step(None)  # the message names the step: not twice in a line
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def __str__(self) -> str:
        return self.format()


class RunbookError(VvrunError):
    """The runbook is wrong: YAML, schema, meaning or template syntax."""

    exit_code: ClassVar[int] = EXIT_INVALID


@dataclass(frozen=True)
class Problem:
    """One finding of `validate`: an error or a warning at a place."""

    message: str
    where: Location
    severity: str = "error"  # "error" | "warning"
    hint: str | None = None
    code: str = ""  # short stable id, e.g. "duplicate-id", for tests and --format json

    def format(self) -> str:
        text = f"{self.where.file or '<runbook>'}"
        if self.where.line is not None:
            text += f":{self.where.line}:{self.where.column or 1}"
        text += f": {self.severity}: {self.message}"
        if self.where.step_id:
            text += f" [{self.where.step_id}]"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class RunbookInvalid(RunbookError):
    """All the problems found in one or more runbooks, reported together."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"] or problems
        super().__init__("\n".join(p.format() for p in errors) if errors else "invalid runbook")


class UsageError(VvrunError):
    exit_code: ClassVar[int] = EXIT_INVALID


class StateError(VvrunError):
    exit_code: ClassVar[int] = EXIT_FAILED


class Paused(VvrunError):
    """The run waits for an operator (no terminal at a confirm/manual step, or a 2nd approver)."""

    exit_code: ClassVar[int] = EXIT_PAUSED


class Aborted(VvrunError):
    """An operator said no."""

    exit_code: ClassVar[int] = EXIT_ABORTED


class LockHeld(VvrunError):
    """Another run holds a lock this run needs; the message names the holder."""

    exit_code: ClassVar[int] = EXIT_LOCKED


class StepFailed(VvrunError):
    """A step did not do what it should; the run fails unless `on_failure` says otherwise."""

    exit_code: ClassVar[int] = EXIT_FAILED


class ConnectFailed(StepFailed):
    """A server could not be reached or refused us (host, port, password)."""


class StepTimeout(StepFailed):
    """A step ran past its timeout."""


class ExpectFailed(StepFailed):
    """An `expect` expression was false; the message shows it and the values it saw."""


class Cancelled(VvrunError):
    """The operator pressed Ctrl-C; the run is resumable.

    `nothing_done`: the step that raised it knows its effect did not happen (a query the
    server cancelled and rolled back, a command never sent), so a resume may run it again
    without asking."""

    exit_code: ClassVar[int] = EXIT_INTERRUPTED

    def __init__(self, message: str, *, where: Location | None = None, hint: str | None = None,
                 nothing_done: bool = False):
        super().__init__(message, where=where, hint=hint)
        self.nothing_done = nothing_done


class HungUp(Cancelled):
    """SIGHUP (the terminal closed) stopped the run; resumable."""

    exit_code: ClassVar[int] = EXIT_HUNG_UP


class Terminated(Cancelled):
    """SIGTERM (a service manager, `kill`) stopped the run; resumable."""

    exit_code: ClassVar[int] = EXIT_TERMINATED


class OutputClosed(Cancelled):
    """The reader of vvrun's output went away (SIGPIPE: `vvrun run … | head`); resumable."""

    exit_code: ClassVar[int] = EXIT_OUTPUT_CLOSED


_SIGNALS = {2: ("Ctrl-C (SIGINT)", Cancelled), 1: ("SIGHUP", HungUp),
            15: ("SIGTERM", Terminated),
            13: ("a closed output (SIGPIPE: its reader went away)", OutputClosed)}


class Interrupted(KeyboardInterrupt):
    """A signal asked the run to stop: raised in the main thread by the edge's handler.

    A KeyboardInterrupt, so every path that cleans up after Ctrl-C cleans up after SIGTERM
    and SIGHUP too, and no `except Exception` swallows it."""

    def __init__(self, signum: int = 2):
        super().__init__(signum)
        self.signum = signum
        self.what, self.error_class = _SIGNALS.get(signum, (f"signal {signum}", Cancelled))

    @property
    def exit_code(self) -> int:
        return self.error_class.exit_code
