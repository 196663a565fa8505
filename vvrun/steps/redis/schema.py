"""The JSON Schema of a `redis` step's body: a command line, or one high-level operation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_CONNECTION = {"type": "string",
               "description": "Name of a redis connection; default: the only one."}
_WORD = {"type": ["string", "number"]}


def _op(key: str, value: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": [key],
            "properties": {key: value, "connection": _CONNECTION}}


_COMMAND = {
    "description": "The command as a list of words (or one command line). A word that is "
    "exactly `{{ list | args }}` becomes one argument per item.",
    "oneOf": [{"type": "array", "minItems": 1, "items": _WORD},
              {"type": "string", "minLength": 1}],
}
_DELETE = {
    "description": "Delete every key matching a glob with SCAN + UNLINK in pipelined batches "
    "(never KEYS); pauses during BGSAVE/AOF rewrite.",
    "examples": ["cache:words:*"],
    "oneOf": [
        {"type": "string", "minLength": 1},
        {"type": "object", "additionalProperties": False, "required": ["pattern"],
         "properties": {
             "pattern": {"type": "string", "minLength": 1,
                         "description": "The glob, as for SCAN MATCH."},
             "batch": {"type": "integer", "minimum": 1, "default": 1000,
                       "description": "Keys per SCAN COUNT and UNLINK."},
             "max_per_second": {"type": "number", "exclusiveMinimum": 0,
                                "description": "Throttle deletions."}}},
    ],
}
_SCAN = {
    "description": "Find keys with SCAN (never KEYS), optionally keeping only those for which "
    "`where` holds; `result.keys` lists them (sorted), `result.scanned` counts what SCAN saw.",
    "examples": [{"match": "session:*", "type": "hash", "where": "value.user_id == '42'"}],
    "type": "object", "additionalProperties": False, "required": ["match"],
    "properties": {
        "match": {"type": "string", "minLength": 1,
                  "description": "The glob, as for SCAN MATCH; templated values match "
                  "literally."},
        "type": {"type": "string", "enum": ["string", "hash", "list", "set", "zset", "stream"],
                 "description": "Only keys of this type (SCAN TYPE)."},
        "count": {"type": "integer", "minimum": 1, "default": 1000,
                  "description": "SCAN COUNT: how much work each SCAN call does."},
        "where": {"type": "string", "minLength": 1,
                  "description": "A bare expression over `key` and `value` (the value "
                  "fetched by type in pipelined batches: a string, a hash as a mapping, a "
                  "list, a set or zset as a list); only keys where it is true are kept."},
        "max_keys": {"type": "integer", "minimum": 1, "default": 10000,
                     "description": "Fail rather than keep more keys than this."},
    },
}
_EVAL = {
    "description": "Run a Lua script (EVAL). It is dangerous unless every `redis.call` in it "
    "is a read command named by a string literal; plans show it as multi-line code.",
    "examples": [{"script": "return redis.call('HGETALL', KEYS[1])", "keys": ["user:42"]}],
    "type": "object", "additionalProperties": False, "required": ["script"],
    "properties": {
        "script": {"type": "string", "minLength": 1,
                   "description": "The Lua code; pass values through `keys` and `args` "
                   "(KEYS[1], ARGV[1]), not by templating the code."},
        "keys": {"type": "array", "items": _WORD, "description": "KEYS, one word each."},
        "args": {"type": "array", "items": _WORD, "description": "ARGV, one word each."},
    },
}

SCHEMA: Mapping[str, Any] = {
    "description": "Talk to Redis (redis-py). A string is a command line (`INFO stats`, "
    "`GET user:{{ inputs.id }}`), split into words before templating so a value is always "
    "one argument. Writes and admin commands (from Redis's own command table) are dangerous: "
    "the operator confirms them unless the step says `danger: false`.",
    "examples": ["PING", "DBSIZE", {"delete_pattern": "cache:words:*"}, {"info": "stats"},
                 {"scan": {"match": "session:*", "where": "value.user_id == '42'"}}],
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "A command line."},
        _op("command", _COMMAND),
        _op("delete_pattern", _DELETE),
        _op("info", {"type": "string", "description": "INFO section; `result.value` is the "
                     "parsed mapping.", "examples": ["stats", "memory", "keyspace"]}),
        _op("scan", _SCAN),
        _op("eval", _EVAL),
    ],
}
