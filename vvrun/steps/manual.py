"""`manual`: a human does it; vvrun shows the instructions and keeps the evidence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vvrun.errors import Location

NAME = "manual"

_EXPRESSIONS = {
    "description": "An expression, or a list of them, about `result`; all must hold.",
    "oneOf": [{"type": "string", "minLength": 1},
              {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}],
}

SCHEMA: Mapping[str, Any] = {
    "description": "A human does it: Markdown instructions, a checklist, fields to record. With "
    "no terminal the run pauses (exit 3); `vvrun resume RUN --ack STEP --field k=v` continues.",
    "examples": ["Post the incident link in #incidents.",
                 {"instructions": "Open a ticket with the provider.", "record": ["ticket_url"]}],
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "Markdown instructions."},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["instructions"],
            "properties": {
                "instructions": {"type": "string", "minLength": 1,
                                 "description": "Markdown instructions."},
                "checklist": {"type": "array", "items": {"type": "string", "minLength": 1},
                              "description": "Items the operator ticks."},
                "record": {
                    "type": "array",
                    "description": "Fields the operator types, kept as evidence in "
                    "`result.fields.<name>`.",
                    "items": {
                        "oneOf": [
                            {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                            {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$",
                                             "description": "The field's name."},
                                    "description": {"type": "string",
                                                    "description": "What to type."},
                                    "choices": {"type": "array", "minItems": 1,
                                                "items": {"type": "string"},
                                                "description": "The answer must be one of these."},
                                    "pattern": {"type": "string", "format": "regex",
                                                "description": "The answer must match."},
                                },
                            },
                        ],
                    },
                },
                "verify": {
                    "type": "object",
                    "description": "A check run after the acknowledgement (one step body of "
                    "sql, redis, http or shell, with `expect`); the operator stays at the "
                    "step until it holds.",
                    "additionalProperties": False,
                    "minProperties": 2,
                    "required": ["expect"],
                    "properties": {
                        "sql": {"$ref": "#/$defs/sql_body"},
                        "redis": {"$ref": "#/$defs/redis_body"},
                        "http": {"$ref": "#/$defs/http_body"},
                        "shell": {"$ref": "#/$defs/shell_body"},
                        "expect": _EXPRESSIONS,
                    },
                },
            },
        },
    ],
}


@dataclass(frozen=True)
class RecordField:
    name: str
    description: str = ""
    choices: tuple[str, ...] = ()
    pattern: str | None = None


@dataclass(frozen=True)
class Verify:
    type: str  # sql | redis | http | shell
    spec: Any  # that type's parsed spec
    expect: tuple[str, ...]


@dataclass(frozen=True)
class ManualSpec:
    instructions: str
    checklist: tuple[str, ...] = ()
    record: tuple[RecordField, ...] = ()
    verify: Verify | None = None


def parse(body: Any, where: Location) -> ManualSpec:
    if isinstance(body, str):
        return ManualSpec(instructions=body)
    fields = tuple(
        RecordField(name=f) if isinstance(f, str) else RecordField(
            name=f["name"], description=f.get("description", ""),
            choices=tuple(f.get("choices", ())), pattern=f.get("pattern"))
        for f in body.get("record", ())
    )
    verify = None
    if body.get("verify"):
        from vvrun.steps import STEP_TYPES  # the registry imports this module

        v = body["verify"]
        kind = next(k for k in ("sql", "redis", "http", "shell") if k in v)
        expect = v["expect"]
        verify = Verify(
            type=kind,
            spec=STEP_TYPES[kind].parse(v[kind], where),
            expect=(expect,) if isinstance(expect, str) else tuple(expect),
        )
    return ManualSpec(
        instructions=body["instructions"],
        checklist=tuple(body.get("checklist", ())),
        record=fields,
        verify=verify,
    )
