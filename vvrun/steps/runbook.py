"""`runbook`: call another runbook (SPEC §3.7). Its steps run as part of this run — same
state, locks and audit trail, ledger keys under this step — and its top-level `outputs:`
become this step's result and outputs. The engine runs the callee; this module only parses,
renders the inputs and describes the call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vvrun.errors import Location, StepFailed
from vvrun.steps.base import Connection, Description, StepIO, Templater

NAME = "runbook"

SCHEMA: Mapping[str, Any] = {
    "description": "Run another runbook as part of this run (shown nested, `2.3`); its "
    "top-level `outputs:` become this step's result and outputs. The path is relative to "
    "this file; `validate` checks it, its inputs, and that calls never form a cycle.",
    "examples": ["./connection-pool-exhausted.yaml",
                 {"path": "diagnostics.yaml", "inputs": {"stuck_after": "5 minutes"}}],
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "The path of the runbook to run."},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["path"],
            "properties": {
                "path": {"type": "string", "minLength": 1,
                         "description": "The runbook to run, relative to this file."},
                "inputs": {"type": "object",
                           "description": "Its inputs by name (values may be templates); "
                           "inputs it requires must be given, unknown ones are errors."},
            },
        },
    ],
}


@dataclass(frozen=True)
class CallSpec:
    path: str
    inputs: Mapping[str, Any] = field(default_factory=dict)


def parse(body: Any, where: Location) -> CallSpec:
    if isinstance(body, str):
        return CallSpec(path=body)
    return CallSpec(path=body["path"], inputs=dict(body.get("inputs") or {}))


@dataclass(frozen=True)
class CallAction:
    path: str
    inputs: Mapping[str, Any]


def render(spec: CallSpec, tpl: Templater, conns: Mapping[str, Connection]) -> CallAction:
    return CallAction(path=spec.path, inputs=tpl.value(dict(spec.inputs)))


def describe(action: CallAction) -> Description:
    shown = ", ".join(f"{k}={v}" for k, v in action.inputs.items())
    return Description(summary=f"run runbook {action.path}" + (f" ({shown})" if shown else ""),
                       language="text")


def execute(action: CallAction, io: StepIO) -> dict[str, Any]:
    raise StepFailed(f"runbook {action.path} is run by the engine, step by step",
                     where=io.where)  # pragma: no cover — the engine never calls this
