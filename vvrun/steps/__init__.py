"""The explicit registry of step types: one module each, listed here (pre-commit style)."""

from __future__ import annotations

from vvrun.steps import confirm, http, manual, redis, runbook, shell, sql, stop
from vvrun.steps.base import StepType

STEP_TYPES: dict[str, StepType] = {
    m.NAME: m  # type: ignore[misc]
    for m in (sql, redis, http, shell, confirm, manual, stop, runbook)
}

#: Which connection kind each step type talks to (None: needs no connection).
CONNECTION_KIND: dict[str, str | None] = {
    "sql": "postgres",
    "redis": "redis",
    "http": "http",
    "shell": None,
    "confirm": None,
    "manual": None,
    "stop": None,
    "runbook": None,
}
