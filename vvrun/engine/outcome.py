"""Small facts about a run's outcome that the engine words or stores: the message of a run
that went on past tolerated failures, the resume hint of a pause, values a run record keeps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vvrun.errors import (
    EXIT_ABORTED,
    EXIT_COMPLETED_WITH_FAILURES,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PAUSED,
    Paused,
    VvrunError,
)
from vvrun.results import Status


def exit_code(status: Status, error: VvrunError | str | None) -> int:
    """The exit code of a run that ended with `status`; a failure or an interruption says
    which by its error (130, 143 or 129 by the signal)."""
    if isinstance(error, VvrunError) and status in (Status.FAILED, Status.INTERRUPTED):
        return error.exit_code
    return {Status.SUCCEEDED: EXIT_OK, Status.PAUSED: EXIT_PAUSED,
            Status.COMPLETED_WITH_FAILURES: EXIT_COMPLETED_WITH_FAILURES,
            Status.ABORTED: EXIT_ABORTED, Status.INTERRUPTED: EXIT_INTERRUPTED}.get(
        status, EXIT_FAILED)


def tolerated(failed: Mapping[str, str]) -> str:
    names = ", ".join(f"'{k}'" for k in failed)
    return (f"the run went on to its end, but {len(failed)} step"
            f"{'s' if len(failed) != 1 else ''} failed under on_failure: continue: {names}")


def storable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list | dict | type(None))


def jsonable(value: Any) -> Any:
    return value if storable(value) else str(value)


def with_run_hint(exc: Paused, run_id: str) -> Paused:
    if exc.hint is None:
        exc.hint = f"resume with `vvrun resume {run_id}`"
    return exc
