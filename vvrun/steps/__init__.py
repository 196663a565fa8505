"""The explicit registry of step types: one module each, listed here (pre-commit style).

A type's module is imported the first time something asks for that type, not when the registry
is: `vvrun validate` of a runbook of sql and confirm steps never loads the http, redis or shell
code (PERF-NOTES: cold start). Iterating the registry gives the names without importing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from vvrun.steps.base import StepType

#: Every step type and the module that implements it, in the order the schema lists them.
MODULES: dict[str, str] = {
    "sql": "vvrun.steps.sql",
    "redis": "vvrun.steps.redis",
    "http": "vvrun.steps.http",
    "shell": "vvrun.steps.shell",
    "confirm": "vvrun.steps.confirm",
    "manual": "vvrun.steps.manual",
    "notify": "vvrun.steps.notify",
    "stop": "vvrun.steps.stop",
    "runbook": "vvrun.steps.runbook",
}


class _Registry(Mapping[str, StepType]):
    """`STEP_TYPES[name]` imports that type's module on first use; `in`, `len` and iteration
    over names import nothing."""

    def __init__(self, modules: Mapping[str, str]) -> None:
        self._modules = modules
        self._loaded: dict[str, StepType] = {}

    def __getitem__(self, name: str) -> StepType:
        try:
            return self._loaded[name]
        except KeyError:
            module = importlib.import_module(self._modules[name])  # KeyError: not a type
            self._loaded[name] = module  # type: ignore[assignment]
            return module  # type: ignore[return-value]

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)


STEP_TYPES: Mapping[str, StepType] = _Registry(MODULES)

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
