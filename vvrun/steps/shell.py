"""`shell`: a command for `bash -o pipefail -c`, in its own process group."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vvrun.errors import Location

NAME = "shell"

SCHEMA: Mapping[str, Any] = {
    "description": "Run a command with `bash -o pipefail -c`. Every `{{ }}` is shell-quoted "
    "(`| raw` opts out); output streams live and is kept as `result.stdout`/`stderr`.",
    "examples": ["vercel list | head -5", {"run": "pg_dump \"$DATABASE_URL\" > backup.sql",
                                          "ok_codes": [0]}],
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "The command."},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["run"],
            "properties": {
                "run": {"type": "string", "minLength": 1, "description": "The command."},
                "env": {"type": "object", "description": "Extra environment variables "
                        "(values may be templates; secrets go here, never into argv).",
                        "additionalProperties": {"type": ["string", "number", "boolean"]}},
                "cwd": {"type": "string", "description": "Working directory."},
                "ok_codes": {"type": "array", "minItems": 1, "default": [0],
                             "items": {"type": "integer", "minimum": 0, "maximum": 255},
                             "description": "Exit codes that count as success."},
            },
        },
    ],
}


@dataclass(frozen=True)
class ShellSpec:
    run: str
    env: Mapping[str, Any] = field(default_factory=dict)
    cwd: str | None = None
    ok_codes: tuple[int, ...] = (0,)


def parse(body: Any, where: Location) -> ShellSpec:
    if isinstance(body, str):
        return ShellSpec(run=body)
    return ShellSpec(
        run=body["run"],
        env=body.get("env") or {},
        cwd=body.get("cwd"),
        ok_codes=tuple(body.get("ok_codes", [0])),
    )
