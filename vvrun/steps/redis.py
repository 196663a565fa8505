"""`redis`: a command, or a high-level operation (`delete_pattern`, `info`), through redis-py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vvrun.errors import Location

NAME = "redis"

_CONNECTION = {"type": "string", "description": "Name of a redis connection; default: the only one."}

SCHEMA: Mapping[str, Any] = {
    "description": "Talk to Redis (redis-py). A string is a command line (`INFO stats`, "
    "`GET user:{{ inputs.id }}`), split into words before templating so a value is always "
    "one argument.",
    "examples": ["PING", "DBSIZE", {"delete_pattern": "cache:words:*"}, {"info": "stats"}],
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "A command line."},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["command"],
            "properties": {
                "command": {
                    "description": "The command as a list of words (or one command line).",
                    "oneOf": [
                        {"type": "array", "minItems": 1, "items": {"type": ["string", "number"]}},
                        {"type": "string", "minLength": 1},
                    ],
                },
                "connection": _CONNECTION,
            },
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["delete_pattern"],
            "properties": {
                "delete_pattern": {
                    "description": "Delete every key matching a glob with SCAN + UNLINK in "
                    "pipelined batches (never KEYS); pauses during BGSAVE/AOF rewrite.",
                    "examples": ["cache:words:*"],
                    "oneOf": [
                        {"type": "string", "minLength": 1},
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["pattern"],
                            "properties": {
                                "pattern": {"type": "string", "minLength": 1,
                                            "description": "The glob, as for SCAN MATCH."},
                                "batch": {"type": "integer", "minimum": 1, "default": 1000,
                                          "description": "Keys per SCAN COUNT and UNLINK."},
                                "max_per_second": {"type": "number", "exclusiveMinimum": 0,
                                                   "description": "Throttle deletions."},
                            },
                        },
                    ],
                },
                "connection": _CONNECTION,
            },
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["info"],
            "properties": {
                "info": {"type": "string", "description": "INFO section; `result.value` is the "
                         "parsed mapping.", "examples": ["stats", "memory", "keyspace"]},
                "connection": _CONNECTION,
            },
        },
    ],
}


@dataclass(frozen=True)
class RedisSpec:
    op: str  # command | delete_pattern | info
    command: str | tuple[str, ...] = ""  # a command line (split later) or words
    pattern: str = ""
    batch: int = 1000
    max_per_second: float | None = None
    section: str = ""
    connection: str | None = None


def parse(body: Any, where: Location) -> RedisSpec:
    if isinstance(body, str):
        return RedisSpec(op="command", command=body)
    conn = body.get("connection")
    if "delete_pattern" in body:
        dp = body["delete_pattern"]
        if isinstance(dp, str):
            return RedisSpec(op="delete_pattern", pattern=dp, connection=conn)
        return RedisSpec(
            op="delete_pattern",
            pattern=dp["pattern"],
            batch=int(dp.get("batch", 1000)),
            max_per_second=dp.get("max_per_second"),
            connection=conn,
        )
    if "info" in body:
        return RedisSpec(op="info", section=body["info"], connection=conn)
    cmd = body["command"]
    return RedisSpec(
        op="command",
        command=cmd if isinstance(cmd, str) else tuple(str(w) for w in cmd),
        connection=conn,
    )
