"""`runbook` steps (SPEC §3.7): find each called file (relative to the calling one), check
it, its inputs and that calls never form a cycle, and attach the called runbooks to the model
(`Runbook.callees`) so that the engine and plans never read a file mid-run."""

from __future__ import annotations

import dataclasses
import errno
import os.path
import stat
from collections.abc import Callable, Iterator

from vvrun.errors import Problem
from vvrun.language.model import Group, Runbook, Step
from vvrun.text.suggest import nearest_path

Load = Callable[[str, tuple[str, ...]], tuple[Runbook | None, list[Problem]]]


def call_steps(steps: tuple[Step, ...]) -> Iterator[Step]:
    for step in steps:
        if step.type == "runbook":
            yield step
        elif isinstance(step.spec, Group):
            yield from call_steps(step.spec.steps)


def resolve_calls(runbook: Runbook, load: Load, stack: tuple[str, ...]
                  ) -> tuple[Runbook, list[Problem]]:
    """The runbook with its callees attached, and the problems of its calls. `stack` holds
    the absolute paths of the files calling this one (itself last), to refuse cycles."""
    problems: list[Problem] = []
    callees: dict[str, Runbook] = {}
    for step in call_steps(runbook.steps):
        key = os.path.normpath(os.path.join(os.path.dirname(runbook.path), step.spec.path))
        where = step.where
        absolute = os.path.abspath(key)
        if absolute in stack:
            chain = [os.path.basename(p) for p in stack[stack.index(absolute):]]
            problems.append(Problem(
                "runbook calls form a cycle: " + " → ".join([*chain, chain[0]]), where,
                hint="a runbook cannot call itself, directly or through another",
                code="runbook-cycle"))
            continue
        trouble = _not_a_file(step.spec.path, key)
        if trouble is not None:
            problems.append(Problem(trouble[0], where, hint=trouble[1], code="runbook-path"))
            continue
        callee, found = load(key, (*stack, absolute))
        errors = [p for p in found if p.severity == "error"]
        if callee is None or errors:
            first = errors[0].format() if errors else "it does not load"
            problems.append(Problem(
                f"the called runbook {step.spec.path!r} has {len(errors) or 1} error(s); "
                f"first: {first}", where, hint=f"run `vvrun validate {key}`",
                code="runbook-invalid"))
            continue
        callees[key] = callee
        problems += _inputs(step, callee)
    return dataclasses.replace(runbook, callees=callees), problems


def _not_a_file(given: str, key: str) -> tuple[str, str] | None:
    """(what is wrong, what to do) when `key` — `given`, resolved — is not a runbook file to
    read; None when it is a regular file."""
    relative = "the path is relative to this file"
    at = "" if os.path.isabs(given) else f" (at {key})"
    try:
        mode = os.stat(key).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return (f"runbook {given!r} cannot be read{at}: {exc.strerror} (a symbolic link "
                    "loop)", "point the link at a runbook file")
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            return f"runbook {given!r} cannot be read{at}: {exc.strerror}", relative
        near = nearest_path(key)
        if near is not None:  # spelt as the author spelt the path, not as it resolved
            near = os.path.join(os.path.dirname(given), os.path.basename(near))
        return (f"runbook {given!r} not found (looked for {key})",
                f"did you mean {near!r}? ({relative})" if near else relative)
    if stat.S_ISREG(mode):
        return None
    kind = ("a folder" if stat.S_ISDIR(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "not a regular file")
    return (f"runbook {given!r} is {kind}{at}, not a runbook file",
            "give the path of a runbook's YAML file, relative to this file")


def _inputs(step: Step, callee: Runbook) -> list[Problem]:
    out = []
    given = step.spec.inputs
    for name in given:
        if name not in callee.inputs:
            known = ", ".join(callee.inputs) or "none"
            out.append(Problem(f"runbook {step.spec.path!r} has no input '{name}'", step.where,
                               hint=f"its inputs: {known}", code="runbook-input"))
    for name, inp in callee.inputs.items():
        if inp.required and name not in given:
            out.append(Problem(f"runbook {step.spec.path!r} requires input '{name}'",
                               step.where, hint=f"add it under `runbook: {{inputs: {{{name}: "
                               "...}}`", code="runbook-input"))
    return out
