"""`vvrun resume RUN --ack STEP [--ack STEP2] --field [STEP.]NAME=VALUE`: manual steps answered
from the command line, checked before the run is touched — a mistyped field or a value the
step would refuse is a usage error (exit 2) and the run stays as it was, paused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vvrun.errors import UsageError
from vvrun.text.suggest import did_you_mean


def ack_prompters(book: Any, done: Mapping[str, Any], run_id: str, acks: tuple[str, ...],
                  fields: tuple[str, ...], note: str, *, fallback: Any) -> dict[str, Any]:
    """One `AckPrompter` per acknowledged step, with the fields meant for it. `fallback` (a
    terminal prompter, or None) asks what the command line left out."""
    from vvrun.ui.prompter import AckPrompter

    specs = {ack: _manual(book, done, run_id, ack) for ack in acks}
    given = _assign(fields, specs)
    out = {}
    for ack, spec in specs.items():
        values = given.get(ack, {})
        _check_values(ack, spec, values, run_id, asks=fallback is not None)
        out[ack] = AckPrompter(values, notes=note, fallback=fallback, step_id=ack)
    return out


def _manual(book: Any, done: Mapping[str, Any], run_id: str, ack: str) -> Any:
    step = book.step(ack.split("[", 1)[0])
    if step.type != "manual":
        raise UsageError(f"--ack {ack}: step '{ack}' is a {step.type} step, not manual",
                         hint="--ack completes a manual step")
    previous = done.get(ack)
    if previous is not None and previous.status.value == "succeeded":
        raise UsageError(f"step '{ack}' was already acknowledged in run {run_id}")
    return step.spec


def _assign(fields: tuple[str, ...], specs: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """`--field` values by the step they are for: `STEP.NAME=V`, or `NAME=V` when only one
    acknowledged step records NAME."""
    out: dict[str, dict[str, str]] = {}
    for pair in fields:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--field {pair!r} is not name=value",
                             hint="write it as --field ticket_url=https://...")
        step, dot, rest = name.partition(".")
        if dot and step in specs:
            out.setdefault(step, {})[rest] = value
            continue
        owners = [a for a, spec in specs.items() if name in _names(spec)]
        if len(owners) > 1:
            raise UsageError(f"--field {name}: steps {', '.join(owners)} all record {name!r}",
                             hint=f"say which: --field {owners[0]}.{name}={value}")
        if not owners and len(specs) > 1:
            known = [f"{a}.{n}" for a, spec in specs.items() for n in _names(spec)]
            raise UsageError(f"--field {name}: no step given to --ack records {name!r}",
                             hint=did_you_mean(name, known) or
                             f"the fields they record: {', '.join(known) or 'none'}")
        out.setdefault(owners[0] if owners else next(iter(specs)), {})[name] = value
    return out


def _check_values(ack: str, spec: Any, values: Mapping[str, str], run_id: str, *,
                  asks: bool) -> None:
    from vvrun.steps.manual import field_problem

    record = {f.name: f for f in spec.record}
    for name, value in values.items():
        if name not in record:
            raise UsageError(
                f"--field {name}: step '{ack}' records no field {name!r}",
                hint=did_you_mean(name, list(record)) or
                f"it records: {', '.join(record) or 'nothing'}")
        problem = field_problem(record[name], value)
        if problem is not None:
            raise UsageError(f"--field {name}: {problem}",
                             hint=f"the run is unchanged; give a value step '{ack}' accepts")
    missing = [n for n, f in record.items()
               if n not in values and not getattr(f, "optional", False)]
    if missing and not asks:  # nobody to ask for them later: say so now, not mid-run
        example = " ".join(f"--field {n}=..." for n in missing)
        raise UsageError(f"step '{ack}' records {', '.join(map(repr, missing))}, and --ack "
                         "did not give it", hint=f"add `{example}` (run {run_id} is unchanged)")


def _names(spec: Any) -> list[str]:
    return [f.name for f in getattr(spec, "record", ())]
