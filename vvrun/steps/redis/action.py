"""A rendered `redis` step (`RedisAction`): `render` and `describe`, both pure."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from vvrun.errors import Location, RunbookError
from vvrun.steps.base import (
    Connection,
    Description,
    Templater,
    connection_seconds,
    pick_connection,
)
from vvrun.steps.redis import classify, words
from vvrun.steps.redis.client import mask_target
from vvrun.steps.redis.spec import RedisSpec

DEFAULT_CONNECT_TIMEOUT = 10.0
#: Commands that never return: refused whatever the step says.
NEVER_RETURN = frozenset({"MONITOR", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "SYNC", "PSYNC"})
#: Commands that block or wipe the server: refused unless the step is `danger: true`.
NEEDS_DANGER = {
    "KEYS": "KEYS blocks the server while it walks every key: use `scan:`, "
    "`delete_pattern` or `SCAN 0 MATCH <pattern> COUNT 1000`, or mark the step `danger: true`",
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

    op: str  # command | delete_pattern | info | scan | eval
    url: str
    connection: str
    words: tuple[str, ...] = ()  # what is sent (EVAL's too)
    pattern: str = ""
    batch: int = 1000
    max_per_second: float | None = None
    section: str = ""
    socket_timeout: float | None = None  # the connection's; a step timeout overrides it
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    type: str | None = None
    where: str | None = None
    max_keys: int = 10000
    script: str = ""
    keys: tuple[str, ...] = ()
    args: tuple[str, ...] = ()

    def command_line(self) -> str:
        if self.op == "delete_pattern":
            return f"delete_pattern {self.pattern}"
        if self.op == "info":
            return f"INFO {self.section}".strip()
        if self.op == "scan":
            return " ".join(["SCAN MATCH", _show_word(self.pattern)]
                            + ([f"TYPE {self.type}"] if self.type else [])
                            + ([f"where {self.where}"] if self.where else []))
        if self.op == "eval":
            first = next((ln.strip() for ln in self.script.splitlines() if ln.strip()), "")
            more = "…" if len(self.script.strip().splitlines()) > 1 else ""
            return " ".join(["EVAL", _show_word(first + more), str(len(self.keys)),
                             *(_show_word(w) for w in (*self.keys, *self.args))])
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
    if spec.op == "scan":
        return RedisAction(op="scan", pattern=_render_pattern(spec.pattern, tpl),
                           type=spec.type, batch=spec.batch, where=spec.where,
                           max_keys=spec.max_keys, **common)
    if spec.op == "eval":
        keys = tuple(words.render(spec.keys, tpl))
        args = tuple(words.render(spec.args, tpl))
        script = str(tpl.text(spec.script))
        return RedisAction(op="eval", words=("EVAL", script, str(len(keys)), *keys, *args),
                           script=script, keys=keys, args=args, **common)
    raw = (words.split(spec.command, where) if isinstance(spec.command, str)
           else list(spec.command))
    rendered = tuple(words.render(raw, tpl))
    if not rendered or not rendered[0]:
        raise RunbookError("the redis command is empty", where=where,
                           hint="write a command, e.g. `GET user:42`")
    if rendered[0].upper() in NEVER_RETURN:
        raise RunbookError(
            f"{rendered[0].upper()} never returns, so a step cannot run it", where=where,
            hint="read what you need with a command that answers (e.g. `PUBSUB CHANNELS`)",
        )
    return RedisAction(op="command", words=rendered, **common)


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
    line = action.command_line()
    body, language = line, "text"
    if action.op == "delete_pattern":
        notes.append(f"SCAN MATCH + UNLINK in batches of {action.batch}"
                     + (f", at most {action.max_per_second:g} keys/s" if action.max_per_second
                        else "")
                     + "; pauses during BGSAVE / AOF rewrite")
    if action.op == "scan":
        notes.append(f"SCAN COUNT {action.batch}, never KEYS"
                     + ("; values fetched in pipelined batches" if action.where else ""))
    if action.op == "eval":
        body, language = action.script.strip("\n"), "lua"
        notes.append(f"KEYS: {', '.join(map(_show_word, action.keys)) or '(none)'}")
        if action.args:
            notes.append(f"ARGV: {', '.join(map(_show_word, action.args))}")
    if action.op in ("command", "eval"):
        why = classify.danger(action.words)
        if why is not None:
            notes.append(f"dangerous: {why}")
    if (refused := danger_needed(action)) is not None:
        notes.append(f"{refused[0]} runs only in a `danger: true` step")
    return Description(summary=line, body=body, language=language,
                       target=mask_target(action.url), notes=tuple(notes))


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
