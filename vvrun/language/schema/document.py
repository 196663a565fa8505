"""The runbook language as JSON Schema (2020-12): the common keys plus each step type's fragment.

`runbook_schema()` is the one contract: `vvrun schema` prints it, editors use the committed copy
(`schema/runbook.schema.json`, regenerated with `make schema`, checked by a test).

Validation does not throw the whole schema at a document: a step's type is decided by its type
key, so the document is validated with the step bodies left open, then each body with its own
type's fragment alone (PERF-NOTES: 2.0 ms per 40-step document), and each connection with its
kind's schema. Errors become `Problem`s in plain words (`validate_document`).
"""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from vvrun.language.schema.step_keys import (
    ID_PATTERN,
    ON_FAILURE,
    RETRY,
    TAGS,
    common_step_properties,
    duration,
)
from vvrun.steps import STEP_TYPES

SCHEMA_ID = "https://vvrun.dev/schema/runbook.schema.json"
TYPE_KEYS: tuple[str, ...] = tuple(STEP_TYPES)
CONNECTION_KINDS = ("postgres", "redis", "http", "ssh")

NAME_PATTERN = "^[a-z0-9][a-z0-9-]*$"


def _step_schema(bodies: Mapping[str, Any]) -> dict[str, Any]:
    props = common_step_properties()
    for name, body in bodies.items():
        props[name] = body
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["id"],
        "description": "A step: an `id`, exactly one type key (" + ", ".join(TYPE_KEYS)
        + ") or `steps` (a group), and the common keys.",
        "properties": props,
    }


_INPUT = {
    "type": "object",
    "additionalProperties": False,
    "description": "A value the operator supplies (`--var name=value`).",
    "properties": {
        "type": {"type": "string", "enum": ["string", "integer", "number", "boolean", "list"],
                 "default": "string",
                 "description": "`list` takes `--var a,b,c` or a YAML list."},
        "default": {"description": "The value when none is given; matches `type`, `pattern` "
                    "and `choices`. Without a default (or `env`) the input is required.",
                    "examples": ["5 minutes", 10]},
        "description": {"type": "string", "description": "What the operator should supply."},
        "pattern": {"type": "string", "format": "regex",
                    "description": "A regular expression a string value must match.",
                    "examples": [r"^\d+ (seconds|minutes|hours)$"]},
        "choices": {"type": "array", "minItems": 1,
                    "items": {"type": ["string", "number", "boolean"]},
                    "description": "The value must be one of these."},
        "env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                "description": "Taken from this environment variable when not given with --var.",
                "examples": ["DATABASE_URL"]},
        "secret": {"type": "boolean", "default": False,
                   "description": "Masked everywhere, never persisted, re-asked on resume."},
    },
}

_URL = {"type": "string", "minLength": 1}

_CONNECTION_POSTGRES = {
    "type": "object",
    "additionalProperties": False,
    "required": ["postgres"],
    "description": "A PostgreSQL server for `sql` steps.",
    "properties": {
        "postgres": {**_URL, "description": "The connection URL (a template).",
                     "examples": ["{{ inputs.database_url }}"]},
        "statement_timeout": duration("Session `statement_timeout` (a step's own `timeout` "
                                       "wins for that step)."),
        "lock_timeout": duration("Session `lock_timeout`: give up waiting for a lock.", ["5s"]),
        "connect_timeout": duration("Give up connecting after this long.", ["10s"]),
        "application_name": {"type": "string", "description": "Shown in pg_stat_activity.",
                             "examples": ["vvrun"]},
    },
}

_CONNECTION_REDIS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["redis"],
    "description": "A Redis server for `redis` steps.",
    "properties": {
        "redis": {
            "description": "The URL (a template), or `{url, socket_timeout, connect_timeout}`.",
            "examples": ["{{ env.REDIS_URL }}",
                         {"url": "redis://cache:6379/0", "socket_timeout": "5s"}],
            "oneOf": [
                {**_URL, "description": "The connection URL."},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["url"],
                    "properties": {
                        "url": {**_URL, "description": "The connection URL (a template)."},
                        "socket_timeout": duration("Give up on a command after this long."),
                        "connect_timeout": duration("Give up connecting after this long."),
                    },
                },
            ],
        },
    },
}

_CONNECTION_HTTP = {
    "type": "object",
    "additionalProperties": False,
    "required": ["http"],
    "description": "An HTTP API for `http` steps.",
    "properties": {
        "http": {
            "type": "object",
            "additionalProperties": False,
            "required": ["base_url"],
            "description": "`{base_url, headers, timeout, verify}`.",
            "examples": [{"base_url": "https://api.example.com",
                          "headers": {"Accept": "application/json"}}],
            "properties": {
                "base_url": {**_URL, "description": "Relative step URLs join this."},
                "headers": {"type": "object", "additionalProperties": {"type": "string"},
                            "description": "Headers sent with every request (templates)."},
                "timeout": duration("Request timeout unless the step sets one."),
                "verify": {"type": "boolean", "default": True,
                           "description": "Verify TLS certificates."},
            },
        },
    },
}

_DEFAULTS = {
    "type": "object",
    "additionalProperties": False,
    "description": "Step settings applied unless a step sets its own.",
    "examples": [{"timeout": "2m"}],
    "properties": {
        "timeout": duration("Default step timeout."),
        "grace": duration("Default `grace` (SIGTERM to SIGKILL after a timeout or cancel)."),
        "retry": RETRY,
        "on_failure": {**ON_FAILURE, "pattern": "^(abort|continue|ignore)$",
                       "description": "Default `on_failure`: `abort`, `continue` or `ignore`."},
        "idempotent": {"type": "boolean", "default": False,
                       "description": "Default `idempotent`."},
    },
}


def _top(step: Mapping[str, Any], connection: Mapping[str, Any],
          defs: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "vvrun runbook",
        "description": "A declarative runbook for vvrun: inputs, connections and steps.",
        "type": "object",
        "additionalProperties": False,
        "required": ["version", "name", "title", "steps"],
        "properties": {
            "version": {"type": "integer", "const": 1,
                        "description": "The language version; required.", "examples": [1]},
            "name": {"type": "string", "pattern": NAME_PATTERN,
                     "description": "A slug `[a-z0-9][a-z0-9-]*`; names runs and locks.",
                     "examples": ["db-emergency"]},
            "title": {"type": "string", "minLength": 1, "description": "The runbook's title.",
                      "examples": ["Database emergency"]},
            "description": {"type": "string", "description": "Markdown; shown at start, in "
                            "plans and in docs."},
            "tags": TAGS,
            "inputs": {
                "type": "object",
                "propertyNames": {"pattern": ID_PATTERN},
                "additionalProperties": {"$ref": "#/$defs/input"},
                "description": "What the operator supplies, by name (`inputs.<name>`).",
            },
            "connections": {
                "type": "object",
                "propertyNames": {"pattern": ID_PATTERN},
                "additionalProperties": connection,
                "description": "Named targets; a step uses the only one of its kind unless "
                "it names one with `connection:`.",
            },
            "defaults": {"$ref": "#/$defs/defaults"},
            "locks": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "description": "Extra lock keys (templates over `inputs`/`env`) held for the "
                "whole run; the runbook's name is always one.",
                "examples": [["pg:{{ inputs.database_url | host }}"]],
            },
            "steps": {"type": "array", "minItems": 1, "items": step,
                      "description": "The steps, run in order."},
            **_integrations(),
            "schedule": _schedule(),
            "outputs": {
                "type": "object",
                "propertyNames": {"pattern": ID_PATTERN},
                "additionalProperties": {"type": "string", "minLength": 1},
                "description": "`{name: expression}` over `steps.*` and `inputs.*`, evaluated "
                "when the runbook ends: what a runbook that calls this one (a `runbook` step) "
                "gets as that step's result and outputs.",
                "examples": [{"stuck": "steps.find.result.rowcount"}],
            },
        },
        "$defs": defs,
    }


def _schedule() -> Any:
    from vvrun.language.schedule import SCHEMA

    return SCHEMA


def _integrations() -> dict[str, Any]:
    """Top-level keys of notifiers (SPEC §3.8) and secrets providers (§5.4): their fragments."""
    from vvrun.notify.schema import NOTIFIERS, RUN_NOTIFY
    from vvrun.secrets.schema import SECRETS

    return {"secrets": SECRETS, "notifiers": NOTIFIERS, "notify": RUN_NOTIFY}


class _Defs(Mapping[str, Any]):
    """The shared `$defs`, with each `<type>_body` taken from its step module only when a
    validator or a schema walk reaches it: a runbook of sql steps never loads the shell code
    (PERF-NOTES: cold start). Iterating lists every name; values load on access."""

    def __init__(self, common: Mapping[str, Any]) -> None:
        self._common = common

    def __getitem__(self, name: str) -> Any:
        if name in self._common:
            return self._common[name]
        if name.endswith("_body") and name[:-5] in STEP_TYPES:
            return STEP_TYPES[name[:-5]].SCHEMA  # shared, never changed: exports copy it
        if name == "connection_ssh":  # beside the code that reads it, in the shell step
            return importlib.import_module("vvrun.steps.shell.connection").SSH_CONNECTION
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        yield from self._common
        yield "connection_ssh"
        yield from (f"{name}_body" for name in TYPE_KEYS)

    def __len__(self) -> int:
        return len(self._common) + 1 + len(TYPE_KEYS)

    def with_entry(self, name: str, schema: Any) -> _Defs:
        return _Defs({**self._common, name: schema})


@cache
def _defs() -> Mapping[str, Any]:
    return _Defs({
        "input": _INPUT,
        "defaults": _DEFAULTS,
        "connection_postgres": _CONNECTION_POSTGRES,
        "connection_redis": _CONNECTION_REDIS,
        "connection_http": _CONNECTION_HTTP,
    })


@cache
def _walkable_schema() -> dict[str, Any]:
    """The full schema with its step bodies loaded only when reached (see `_Defs`)."""
    bodies = {name: {"$ref": f"#/$defs/{name}_body"} for name in TYPE_KEYS}
    step = _step_schema(bodies)
    step["oneOf"] = [{"required": [name]} for name in (*TYPE_KEYS, "steps")]
    connection = {
        "description": "A named target: exactly one of `postgres`, `redis`, `http`, `ssh`.",
        "oneOf": [{"$ref": f"#/$defs/connection_{k}"} for k in CONNECTION_KINDS],
    }
    defs = _defs().with_entry("step", step).with_entry("connection", connection)
    return _top({"$ref": "#/$defs/step"}, {"$ref": "#/$defs/connection"}, defs)


@cache
def runbook_schema() -> dict[str, Any]:
    """The full schema, for editors and `vvrun schema`: every step type's body, loaded and
    copied. Treat it as read-only."""
    walkable = _walkable_schema()
    return copy.deepcopy({**walkable, "$defs": dict(walkable["$defs"])})


def schema_text() -> str:
    """The schema as `vvrun schema` prints it: deterministic JSON."""
    return json.dumps(runbook_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# -- validators used at run time (dispatch instead of oneOf) --------------------------------


def _document_schema() -> dict[str, Any]:
    """The top level with step bodies and connections left open: they are checked on their own."""
    step = _step_schema({name: True for name in TYPE_KEYS})
    # a group's steps: the same open step, checked by type key later
    return _top(step, True, _defs().with_entry("step", step))


@cache
def _validator(which: str) -> Any:
    """A cached validator. `schema.validator`, not jsonschema: importing jsonschema alone would
    cost as much as the rest of `validate` (PERF-NOTES); tests check that both agree."""
    from vvrun.language.schema.validator import Validator

    # keywords are checked once by a test (test_schema), not on every start
    if which == "document":
        return Validator(_document_schema(), check=False)
    return Validator({"$defs": _defs(), "$ref": f"#/$defs/{which}"}, check=False)


def document_validator() -> Any:
    return _validator("document")


def body_validator(type_key: str) -> Any:
    return _validator(f"{type_key}_body")


def connection_validator(kind: str) -> Any:
    return _validator(f"connection_{kind}")



# -- YAML text kept where the schema wants a string ------------------------------------------


def _branches(schema: Any, defs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A schema with its `$ref`s followed and its oneOf/anyOf flattened into alternatives."""
    if not isinstance(schema, Mapping):
        return [{}] if schema is True else []
    if "$ref" in schema:
        return _branches(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    alternatives = schema.get("oneOf") or schema.get("anyOf")
    if alternatives and "type" not in schema and "properties" not in schema:
        return [b for alt in alternatives for b in _branches(alt, defs)]
    return [schema]


def _types(schema: Mapping[str, Any]) -> set[str] | None:
    t = schema.get("type")
    if t is None:
        return None
    return {t} if isinstance(t, str) else set(t)


def _child(schema: Mapping[str, Any], key: str | int) -> Any:
    if isinstance(key, int):
        return schema.get("items")
    props = schema.get("properties") or {}
    if key in props:
        return props[key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else None


def accepted_types(path: tuple[Any, ...]) -> set[str] | None:
    """The JSON types the schema accepts at a document path (None: anything or unknown)."""
    full = _walkable_schema()
    defs = full["$defs"]
    current = _branches(full, defs)
    for key in path:
        nxt = []
        for branch in current:
            sub = _child(branch, key)
            if sub is not None:
                nxt.extend(_branches(sub, defs))
        current = nxt
        if not current:
            return None
    out: set[str] = set()
    for branch in current:
        t = _types(branch)
        if t is None:
            return None
        out |= t
    return out


def coerce_strings(data: Any, texts: Mapping[tuple[Any, ...], str]) -> None:
    """Where YAML made a number or a boolean of a value the schema says is text, put back the
    text as written (`title: 1.10` is "1.10", not 1.1). Changes `data` in place."""
    for path, text in texts.items():
        types = accepted_types(path)
        if not types or "string" not in types:
            continue
        parent: Any = data
        for key in path[:-1]:
            parent = parent[key]
        value = parent[path[-1]]
        if isinstance(value, bool):
            kind = "boolean"
        elif isinstance(value, int):
            kind = "integer"
        else:
            kind = "number"
        if kind in types or (kind == "integer" and "number" in types):
            continue
        parent[path[-1]] = text
