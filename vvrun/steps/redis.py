"""`redis`: a command, or a high-level operation (`delete_pattern`, `info`), through redis-py.

A command line is split into words before templating (`Templater.words`), so a value is one
argument whatever its spaces or `\r\n`; values templated into a `delete_pattern` glob are
matched literally. `vvrun.steps._redis` holds the driver plumbing and the error translation.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vvrun.errors import Cancelled, Location, RunbookError, StepFailed
from vvrun.steps import _redis
from vvrun.steps._cancel import CancelWatcher
from vvrun.steps.base import (
    Connection,
    Description,
    StepIO,
    Templater,
    connection_seconds,
    pick_connection,
)

NAME = "redis"

_CONNECTION = {"type": "string",
               "description": "Name of a redis connection; default: the only one."}

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


# -- render, describe, execute ------------------------------------------------------------------

DEFAULT_SOCKET_TIMEOUT = 30.0  # seconds, when neither the step nor the connection sets one
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Commands that never return: refused whatever the step says.
NEVER_RETURN = frozenset({"MONITOR", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "SYNC", "PSYNC"})
#: Commands that block or wipe the server: refused unless the step is `danger: true`.
NEEDS_DANGER = {
    "KEYS": "KEYS blocks the server while it walks every key: use `delete_pattern` (SCAN) or "
    "`SCAN 0 MATCH <pattern> COUNT 1000`, or mark the step `danger: true`",
    "FLUSHALL": "FLUSHALL empties every database: mark the step `danger: true` if you mean it",
    "FLUSHDB": "a synchronous FLUSHDB blocks the server: use `FLUSHDB ASYNC` or "
    "`delete_pattern`, or mark the step `danger: true`",
}
_GLOB = str.maketrans({c: "\\" + c for c in "*?[]\\"})
_NEEDS_QUOTES = re.compile(r"[\s'\"\\\x00-\x1f\x7f]")
_HOLE = re.compile(r"\{\{.*?\}\}", re.S)


@dataclass(frozen=True)
class RedisAction:
    """A rendered redis step: the words (or the operation), where it goes, its settings."""

    op: str  # command | delete_pattern | info
    url: str
    connection: str
    words: tuple[str, ...] = ()
    pattern: str = ""
    batch: int = 1000
    max_per_second: float | None = None
    section: str = ""
    socket_timeout: float | None = None  # the connection's; a step timeout overrides it
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT

    def command_line(self) -> str:
        if self.op == "delete_pattern":
            return f"delete_pattern {self.pattern}"
        if self.op == "info":
            return f"INFO {self.section}".strip()
        return " ".join(_show_word(w) for w in self.words)


def render(spec: RedisSpec, tpl: Templater, conns: Mapping[str, Connection]) -> RedisAction:
    where = tpl.where or Location()
    conn = pick_connection(conns, "redis", spec.connection, where)
    if conn is None:
        raise RunbookError(
            "this redis step has no redis connection", where=where,
            hint="add one under `connections:`, e.g. `cache: {redis: \"{{ env.REDIS_URL }}\"}`",
        )
    settings = {k: tpl.text(v) for k, v in conn.settings.items()}
    common = {
        "url": str(settings.get("url", "")),
        "connection": conn.name,
        "socket_timeout": connection_seconds(settings, "socket_timeout", conn),
        "connect_timeout": (connection_seconds(settings, "connect_timeout", conn)
                            or DEFAULT_CONNECT_TIMEOUT),
    }
    if spec.op == "delete_pattern":
        return RedisAction(op="delete_pattern", pattern=_render_pattern(spec.pattern, tpl),
                           batch=spec.batch, max_per_second=spec.max_per_second, **common)
    if spec.op == "info":
        return RedisAction(op="info", section=str(tpl.text(spec.section)), **common)
    if isinstance(spec.command, str):
        words = tuple(tpl.words(spec.command))
    else:
        words = tuple(str(tpl.text(w)) for w in spec.command)
    if not words or not words[0]:
        raise RunbookError("the redis command is empty", where=where,
                           hint="write a command, e.g. `GET user:42`")
    if words[0].upper() in NEVER_RETURN:
        raise RunbookError(
            f"{words[0].upper()} never returns, so a step cannot run it", where=where,
            hint="read what you need with a command that answers (e.g. `PUBSUB CHANNELS`)",
        )
    return RedisAction(op="command", words=words, **common)


def _render_pattern(source: str, tpl: Templater) -> str:
    """Render a glob, escaping glob characters in templated values: a value is matched
    literally (an input `*` must not widen `cache:{{ inputs.user }}:*` to every user)."""
    if "{%" in source:
        return str(tpl.text(source))
    out, pos = [], 0
    for m in _HOLE.finditer(source):
        out.append(source[pos : m.start()])
        out.append(str(tpl.text(m.group(0))).translate(_GLOB))
        pos = m.end()
    out.append(source[pos:])
    return "".join(out)



def _show_word(word: str) -> str:
    """A word as redis-cli would take it: bare, or double-quoted with escapes (so `\r\n`
    shows on one line and a value with spaces visibly stays one word)."""
    if word and not _NEEDS_QUOTES.search(word):
        return word
    return json.dumps(word, ensure_ascii=False)


def describe(action: RedisAction) -> Description:
    notes = [f"connection: {action.connection}"]
    if action.op == "delete_pattern":
        notes.append(f"SCAN MATCH + UNLINK in batches of {action.batch}"
                     + (f", at most {action.max_per_second:g} keys/s" if action.max_per_second
                        else "")
                     + "; pauses during BGSAVE / AOF rewrite")
    if (refused := danger_needed(action)) is not None:
        notes.append(f"{refused[0]} runs only in a `danger: true` step")
    line = action.command_line()
    return Description(summary=line, body=line, language="text",
                       target=_redis.mask_target(action.url), notes=tuple(notes))


def execute(action: RedisAction, io: StepIO) -> dict[str, Any]:
    """Run the command (or operation) on the run's client for this connection.

    `result.value` is the decoded reply as JSON (INFO parsed into a mapping); `delete_pattern`
    gives `{scanned, deleted}`. Socket waits are always bounded: the step's timeout, else the
    connection's `socket_timeout`, else 30 s.
    """
    if io.cancel.is_set():
        raise Cancelled("cancelled before the command was sent", where=io.where,
                        nothing_done=True)
    _refuse_unless_danger(action, io)
    timeout = io.timeout or action.socket_timeout or DEFAULT_SOCKET_TIMEOUT
    client = _client(action, io, timeout)
    import redis

    try:
        if action.op == "delete_pattern":
            deadline = time.monotonic() + io.timeout if io.timeout else None
            return _redis.delete_pattern(client, action.pattern, batch=action.batch,
                                         max_per_second=action.max_per_second, io=io,
                                         deadline=deadline)
        if action.op == "info":
            reply = client.info(action.section) if action.section else client.info()
        else:
            # a blocking command (BLPOP, WAIT…) must stop at Ctrl-C, not at the socket timeout
            with CancelWatcher(client.connection_pool.disconnect, io.cancel) as watcher:
                try:
                    reply = client.execute_command(*action.words)
                except Exception as exc:
                    if not watcher.fired:
                        raise
                    io.clients.discard(_client_key(action, timeout))
                    raise Cancelled(f"`{_short(action.command_line())}` was cancelled: its "
                                    "connection was closed", where=io.where,
                                    hint="whether the command took effect is unknown: check "
                                    "before running it again") from exc
    except redis.RedisError as exc:
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            # the connection may hold a half-read reply: the next step starts afresh
            io.clients.discard(_client_key(action, timeout))
        raise _redis.translate(exc, target=_redis.mask_target(action.url),
                               command=_short(action.command_line()), where=io.where,
                               timeout=timeout) from exc
    return {"value": _redis.jsonable(reply)}


def _refuse_unless_danger(action: RedisAction, io: StepIO) -> None:
    if io.danger:
        return
    refused = danger_needed(action)
    if refused is not None:
        what, hint = refused
        raise StepFailed(f"{what} is refused in a step that is not `danger: true`",
                         where=io.where, hint=hint)


def danger_needed(action: RedisAction) -> tuple[str, str] | None:
    """(what, hint) when the action runs only in a `danger: true` step, else None."""
    if action.op == "delete_pattern" and action.pattern.strip("*") == "":
        return (f"delete_pattern {action.pattern!r} (it would delete every key)",
                "narrow the pattern, or mark the step `danger: true` if you mean it")
    if action.op != "command":
        return None
    name = action.words[0].upper()
    if name == "FLUSHDB" and any(w.upper() == "ASYNC" for w in action.words[1:]):
        return None
    if name in NEEDS_DANGER:
        return name, NEEDS_DANGER[name]
    return None


def _client(action: RedisAction, io: StepIO, timeout: float) -> Any:
    return io.clients.get(
        _client_key(action, timeout),
        lambda: _redis.make_client(action.url, socket_timeout=timeout,
                                   connect_timeout=min(action.connect_timeout, timeout),
                                   client_name=f"vvrun:{io.run_id}", where=io.where),
    )


def _client_key(action: RedisAction, timeout: float) -> str:
    # one client per connection and socket timeout: redis-py fixes the timeout per client
    return f"redis:{action.connection}:{action.url}:{timeout:g}"


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
