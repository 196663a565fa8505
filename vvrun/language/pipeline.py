"""The front end in one call: text → checked model, stage by stage, in the order data flows.

    check_file(path)   -> (Runbook | None, [Problem])   every error and warning, one pass
    load_runbook(path) -> Runbook                        raises RunbookInvalid on any error

Stages: load (YAML, positions) → schema (by type key) → build (the model) → meaning checks.
Later stages run as far as the earlier ones allow, so one pass reports everything it can.
"""

from __future__ import annotations

import os.path
from typing import Any

from vvrun.errors import Problem, RunbookInvalid
from vvrun.language.build import build
from vvrun.language.calls import resolve_calls
from vvrun.language.checks import run_checks
from vvrun.language.load import Loaded, load_file
from vvrun.language.model import Runbook
from vvrun.language.schema.explain import validate


def load_runbook(path: str) -> Runbook:
    """The runbook at `path`, or RunbookInvalid with every error (warnings are ignored)."""
    runbook, problems = check_file(path, warnings=False)
    errors = [p for p in problems if p.severity == "error"]
    if errors or runbook is None:
        raise RunbookInvalid(errors)
    return runbook


def check_file(path: str, *, warnings: bool = True,
               stack: tuple[str, ...] = ()) -> tuple[Runbook | None, list[Problem]]:
    """Every problem in the file (errors and warnings) and the runbook when it has no error.
    `stack`: the files calling this one through `runbook` steps (to refuse cycles)."""
    return check_loaded(load_file(path), warnings=warnings,
                        stack=stack or (os.path.abspath(path),))


def _load_callee(path: str, stack: tuple[str, ...]) -> tuple[Runbook | None, list[Problem]]:
    return check_file(path, warnings=False, stack=stack)


def check_loaded(loaded: Loaded, *, warnings: bool = True,
                 stack: tuple[str, ...] = ()) -> tuple[Runbook | None, list[Problem]]:
    problems = list(loaded.problems)
    if loaded.data is None:
        return None, _sorted(problems)
    schema_problems, bad = validate(loaded)
    problems += schema_problems
    built = build(loaded, bad)
    problems += run_checks(built, warnings=warnings)
    runbook, call_problems = resolve_calls(
        built.runbook, _load_callee, stack or (os.path.abspath(loaded.path),))
    problems = _sorted(problems + call_problems)
    if any(p.severity == "error" for p in problems):
        return None, problems
    return runbook, problems


def _sorted(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for p in problems:
        key = (p.where.line, p.where.column, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return sorted(out, key=lambda p: (p.where.line or 0, p.where.column or 0))
