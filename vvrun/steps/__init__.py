"""The explicit registry of step types: one module each, listed here (pre-commit style)."""

from __future__ import annotations

from vvrun.steps import confirm, http, manual, notify, redis, runbook, shell, sql, stop
from vvrun.steps.base import StepType

STEP_TYPES: dict[str, StepType] = {
    m.NAME: m  # type: ignore[misc]
    for m in (sql, redis, http, shell, confirm, manual, notify, stop, runbook)
}

#: Which connection kind each step type talks to (None: needs no connection).
CONNECTION_KIND: dict[str, str | None] = {
    "sql": "postgres",
    "redis": "redis",
    "http": "http",
    "shell": "ssh",  # only with `on:`; without it a shell step runs here
    "confirm": None,
    "manual": None,
    "notify": None,
    "stop": None,
    "runbook": None,
}
