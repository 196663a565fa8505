"""JSON Schema fragment for the top-level `secrets:` mapping (keywords `minischema` knows)."""

from __future__ import annotations

from typing import Any

_TEXT = {"type": "string", "minLength": 1}
_TIMEOUT = {"type": ["string", "number"], "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$",
            "minimum": 0, "description": "Give up after this long (default 30s)."}


def _source(kind: str, description: str, props: dict[str, Any],
            required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "description": description,
            "required": ["from", *required],
            "properties": {"from": {"const": kind, "description": "The provider."}, **props}}


SECRET: dict[str, Any] = {
    "description": "Where one secret comes from: `from: env`, `file` (mode 0600) or `command`.",
    "oneOf": [
        _source("env", "An environment variable.", {
            "name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                     "description": "The variable; default: the secret's name in upper case."}}),
        _source("file", "A file readable only by its owner (mode 0600).", {
            "path": {**_TEXT, "description": "The file (`~` expands; relative to the runbook)."},
            "key": {**_TEXT, "description": "Take this key of a JSON object or of KEY=value "
                    "lines (`vercel env pull`); default: the whole file."}}, ("path",)),
        _source("command", "Any command that prints the secret on stdout (no stdin).", {
            "run": {"description": "A bash command line, or an argument list run without a "
                    "shell.", "examples": ["op read op://prod/db/admin-url"],
                    "oneOf": [_TEXT, {"type": "array", "minItems": 1, "items": _TEXT}]},
            "timeout": _TIMEOUT}, ("run",)),
    ],
}

SECRETS: dict[str, Any] = {
    "type": "object",
    "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
    "additionalProperties": SECRET,
    "description": "Secrets by name (`secrets.<name>` in templates): fetched when first used, "
    "masked everywhere, never in plans, never stored.",
    "examples": [{"slack_webhook": {"from": "command",
                                    "run": "op read op://prod/slack/incidents-webhook"},
                  "pd_routing_key": {"from": "env", "name": "PD_ROUTING_KEY"}}],
}
