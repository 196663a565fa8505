"""`stop`: end the run on purpose ("healthy again, nothing more to do"; "rolled back,
escalate"). The step itself only says how; the engine ends the run after it succeeds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vvrun.errors import Location
from vvrun.steps.base import Connection, Description, StepIO, Templater

NAME = "stop"

SCHEMA: Mapping[str, Any] = {
    "description": "End the run here, on purpose, usually with a `when`: `succeeded` (exit 0) "
    "or `failed` (exit 1); the summary says `stopped: <reason>`. Steps after it do not run.",
    "examples": ["the cache is healthy again", {"status": "failed",
                                                "reason": "rolled back; escalate to the DBA"}],
    "oneOf": [
        {"type": "string", "minLength": 1,
         "description": "The reason; the run ends `succeeded`."},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["reason"],
            "properties": {
                "status": {"type": "string", "enum": ["succeeded", "failed"],
                           "default": "succeeded",
                           "description": "How the run ends: `succeeded` (exit 0) or `failed` "
                           "(exit 1)."},
                "reason": {"type": "string", "minLength": 1,
                           "description": "Why the run stops here (a template); shown in the "
                           "summary and kept in the audit trail."},
            },
        },
    ],
}


@dataclass(frozen=True)
class StopSpec:
    """A `stop` body as written: the reason and the status the run ends with."""

    reason: str
    status: str = "succeeded"


def parse(body: Any, where: Location) -> StopSpec:
    if isinstance(body, str):
        return StopSpec(reason=body)
    return StopSpec(reason=body["reason"], status=body.get("status", "succeeded"))


@dataclass(frozen=True)
class StopAction:
    """A `stop` step, rendered: the reason as the operator reads it, and the end status."""

    reason: str
    status: str


def render(spec: StopSpec, tpl: Templater, conns: Mapping[str, Connection]) -> StopAction:
    return StopAction(reason=str(tpl.text(spec.reason)), status=spec.status)


def describe(action: StopAction) -> Description:
    return Description(summary=f"stop the run ({action.status}): {action.reason}",
                       language="text",
                       notes=(f"the run ends {action.status}; later steps do not run",))


def execute(action: StopAction, io: StepIO) -> dict[str, Any]:
    return {"status": action.status, "reason": action.reason}
