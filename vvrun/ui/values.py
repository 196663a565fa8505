"""How values read on the operator's screen: intervals (`2 min 13 s`), timestamps
(`2026-12-06 14:03:11 UTC`), table cells, excerpts of JSON, and Redis replies as redis-cli
shows them. Pure functions of already-masked values; nothing here prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from vvrun.text.durations import format_duration
from vvrun.text.literals import sql_literal

MAX_LINES = 20  # lines of a JSON or text excerpt
MAX_INFO_LINES = 40  # INFO has ~150 fields: the first ones, then how many more
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$")
INTERVAL_TYPES = frozenset({"interval"})


def format_timestamp(text: str) -> str | None:
    """`2026-12-06T14:03:11.5+01:00` → `2026-12-06 13:03:11 UTC`; a time without a zone keeps
    its wall-clock time and says no zone. None when `text` is not an ISO 8601 timestamp."""
    if len(text) > 40 or not _ISO.match(text):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def cell(value: Any, type_name: str | None = None) -> str:
    """One value as a table shows it: NULL, numbers as written, timestamps in UTC, intervals
    in words, anything structured as compact JSON. Never shortened (the table decides)."""
    if value is None:
        return "NULL"
    if type_name in INTERVAL_TYPES and is_number(value):
        return format_duration(float(value))
    if isinstance(value, bool):
        return "t" if value else "f"  # as psql shows a boolean
    if isinstance(value, str):
        return format_timestamp(value) or value
    if is_number(value):
        return str(value)
    return json.dumps(value, default=str, ensure_ascii=False)


def param_text(value: Any) -> str:
    """A query parameter as a reviewer reads it, the way plans write them (`'alice'`, `42`,
    `[10476, 10477]`, `NULL`, `true`): `vvrun.text.literals`."""
    return sql_literal(value)


def parameters(d: Mapping[str, Any]) -> str:
    """`parameters: $1 = [10476, 10477], $2 = 'alice'` for a Description as event data: its
    `param_texts` (written from the values themselves, before events turn a list into
    text), else its `params`; "" when it has none. The header, the danger prompt and a
    loop's table all write it this way."""
    texts = d.get("param_texts")
    if not isinstance(texts, list | tuple):
        texts = [param_text(p) for p in d.get("params") or ()]
    if not texts:
        return ""
    return "parameters: " + ", ".join(f"${i} = {t}" for i, t in enumerate(texts, 1))


def short(value: Any, limit: int = 60) -> str:
    """One line for an input, an output or a recorded field, cut at `limit` (the full value
    is above). A boolean reads as the runbook's author wrote it (`true`), not as psql's
    table cell (`t`): these are the runbook's values, not a query's."""
    text = ("true" if value else "false") if isinstance(value, bool) else cell(value)
    text = text.replace("\n", "⏎")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def excerpt(value: Any, lines: int = MAX_LINES) -> str:
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
        if len(text) > 100:  # one short line reads best; a big document needs its shape
            text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    parts = text.splitlines()
    if len(parts) > lines:
        parts = [*parts[:lines], f"… {len(parts) - lines} more lines"]
    return "\n".join(parts)


# -- Redis -------------------------------------------------------------------------------------


def redis_reply(command: str, value: Any) -> str:
    """A reply as redis-cli prints it: `PONG`, `OK`, `(integer) 3`, `"text"`, `(nil)`, numbered
    lists, INFO as `key:value` lines. `command` is the step's command line (its first word
    decides what redis-py turned a status reply into)."""
    words = command.split()
    verb = words[0].upper() if words else ""
    if verb == "INFO" or (isinstance(value, Mapping) and verb in ("", "INFO")):
        if not isinstance(value, Mapping):
            return str(value)
        # one named section gets redis-cli's `# Keyspace` heading (redis-py drops them all)
        named = len(words) == 2 and words[1].lower() not in ("all", "default", "everything")
        head = [f"# {words[1].capitalize()}"] if named else []
        return "\n".join([*head, _info(value)]).rstrip("\n")
    if value is True:
        return "PONG" if verb == "PING" else "OK"  # redis-py turns status replies into True
    return "\n".join(_reply_lines(value, 0))


def _reply_lines(value: Any, depth: int) -> list[str]:
    if value is None:
        return ["(nil)"]
    if value is False:
        return ["(integer) 0"]
    if isinstance(value, int):
        return [f"(integer) {value}"]
    if isinstance(value, float):
        return [f'"{value:g}"']
    if isinstance(value, str):
        return [json.dumps(value, ensure_ascii=False)]
    if isinstance(value, Mapping):  # HGETALL and friends: redis-cli shows field, value, …
        value = [x for pair in value.items() for x in pair]
    if isinstance(value, list):
        if not value:
            return ["(empty array)"]
        width = len(str(len(value)))
        out = []
        for i, item in enumerate(value, 1):
            head = f"{i:>{width}}) "
            inner = _reply_lines(item, depth + 1)
            out.append(head + inner[0])
            out += [" " * len(head) + line for line in inner[1:]]
        return out
    return [str(value)]


def _info(info: Mapping[str, Any]) -> str:
    lines = []
    for key, value in info.items():
        if isinstance(value, Mapping):  # db0:keys=1,expires=0
            value = ",".join(f"{k}={v}" for k, v in value.items())
        lines.append(f"{key}:{value}")
    if len(lines) > MAX_INFO_LINES:
        lines = [*lines[:MAX_INFO_LINES], f"… {len(lines) - MAX_INFO_LINES} more fields"]
    return "\n".join(lines)
