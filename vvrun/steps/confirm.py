"""`confirm`: the operator approves (or not) before the run goes on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vvrun.errors import Location

NAME = "confirm"

SCHEMA: Mapping[str, Any] = {
    "description": "Ask the operator. A `no` aborts the run (exit 4) unless `on_no: continue`. "
    "With no terminal and no `--yes`, the run pauses (exit 3).",
    "examples": ["Terminate these queries?", {"prompt": "Restore over production?",
                                              "type_to_confirm": "db-restore"}],
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "The question."},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["prompt"],
            "properties": {
                "prompt": {"type": "string", "minLength": 1, "description": "The question."},
                "default": {"type": "boolean", "default": False,
                            "description": "The answer when the operator just presses Enter."},
                "type_to_confirm": {"type": "string", "minLength": 1,
                                    "description": "A word the operator must type to confirm "
                                    "(`--yes` alone does not answer it; `--confirm-word` does)."},
                "on_no": {"type": "string", "enum": ["abort", "continue"], "default": "abort",
                          "description": "What a `no` does: abort the run, or continue."},
            },
        },
    ],
}


@dataclass(frozen=True)
class ConfirmSpec:
    prompt: str
    default: bool = False
    type_to_confirm: str | None = None
    on_no: str = "abort"


def parse(body: Any, where: Location) -> ConfirmSpec:
    if isinstance(body, str):
        return ConfirmSpec(prompt=body)
    return ConfirmSpec(
        prompt=body["prompt"],
        default=bool(body.get("default", False)),
        type_to_confirm=body.get("type_to_confirm"),
        on_no=body.get("on_no", "abort"),
    )
