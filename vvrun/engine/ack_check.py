"""`vvrun resume RUN --ack STEP --field k=v`: refuse a value the step would not accept before
the run is touched — choices from an expression are rendered over what the run recorded."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from vvrun.engine.context import step_view
from vvrun.errors import UsageError, VvrunError
from vvrun.language.model import Runbook
from vvrun.language.templates import EnvVars, Templater
from vvrun.results import StepResult
from vvrun.steps.manual import field_problem, record_choices


def check_ack_fields(runbook: Runbook, ack: str, fields: Mapping[str, str],
                     inputs: Mapping[str, Any], results: Mapping[str, StepResult],
                     environ: Mapping[str, str], run_id: str) -> None:
    """Raise UsageError naming the field, the value and what is allowed, for the first
    `--field` the manual step `ack` would refuse. Choices that cannot be rendered here (they
    need a loop's item, or a secret) are checked by the step when it runs."""
    step = runbook.step(ack.split("[", 1)[0])
    views = {key: step_view(r.status.value, r.result, r.outputs)
             for key, r in results.items() if "[" not in key and "." not in key}
    tpl = Templater({"inputs": inputs, "env": EnvVars(environ), "steps": views,
                     "run": {"id": run_id, "dry_run": False}}, where=step.where)
    for f in step.spec.record:
        if f.name not in fields:
            continue
        try:
            choices = record_choices(f, tpl)
        except VvrunError:
            continue
        problem = field_problem(dataclasses.replace(f, choices=choices), fields[f.name])
        if problem is not None:
            allowed = (f"one of: {', '.join(choices)}" if choices else
                       f"a value matching {f.pattern}" if f.pattern else "a value")
            raise UsageError(f"--field {f.name}: {problem}", where=step.where.with_step(ack),
                             hint=f"give {allowed}; the run {run_id} was not changed")
