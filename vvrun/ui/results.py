"""A step's outcome as lines for the screen: SQL rows as a fitted table, HTTP status and a
JSON excerpt, Redis replies as redis-cli shows them, shell exit codes, manual answers, what a
notification reached.

Each function returns `Line`s (text, style, indent); the console prints them. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from vvrun.ui.tables import fit
from vvrun.ui.values import excerpt, redis_reply, short

MAX_ROWS = 20  # rows of a result table shown; the rest are counted
LOST = "?"  # a value a mapping row could not keep (a second column of the same name)


class Line(NamedTuple):
    text: str
    style: str = ""
    indent: int = 2


def _lines(text: str, style: str = "", indent: int = 2) -> list[Line]:
    return [Line(t, style, indent) for t in text.splitlines() or [""]]


def result_lines(type_: str, r: Mapping[str, Any], width: int, command: str = "") -> list[Line]:
    """What a finished (or watched) step's result looks like. `command` is the step's summary
    (a Redis reply reads by its command); `width` the screen's."""
    if "items" in r and isinstance(r["items"], list):
        return [Line(f"{len(r['items'])} items")]
    if type_ == "sql" or "columns" in r:
        return sql_lines(r, width)
    if type_ == "http" or ("status" in r and "elapsed_ms" in r):
        return http_lines(r)
    if type_ == "shell" or "exit_code" in r:
        return [Line(f"exit code {r.get('exit_code')}")]
    if type_ == "confirm" or "confirmed" in r:
        return [Line("confirmed" if r.get("confirmed") else "not confirmed")]
    if type_ == "manual" or "acknowledged" in r:
        return manual_lines(r)
    if type_ == "notify" or ("sent" in r and "off" in r):
        return notify_lines(r)
    if "deleted" in r:
        return [Line(f"scanned {r.get('scanned', '?')}, deleted {r['deleted']}")]
    if type_ == "redis" and "value" in r:
        return _lines(redis_reply(command, r["value"]))
    if "value" in r:
        return _lines(excerpt(r["value"]))
    return _lines(excerpt(dict(r)))


def sql_lines(r: Mapping[str, Any], width: int) -> list[Line]:
    rows = list(r.get("rows") or [])
    columns = [str(c) for c in (r.get("columns") or (rows[0].keys() if rows else []))]
    out: list[Line] = []
    if columns and rows:
        # positional values keep duplicate column names (`count, count`); dict rows cannot
        values = r.get("values")
        if not isinstance(values, list):
            values = [_positional(columns, row) for row in rows]
        out += [Line(t, "", 2) for t in fit(columns, values[:MAX_ROWS], width - 2,
                                            tuple(r.get("types") or ()))]
    count = r.get("rowcount")
    count = len(rows) if count is None or count < 0 else count
    more = max(count, len(rows)) - min(len(rows), MAX_ROWS)
    if columns and more > 0:
        out.append(Line(f"… {more} more rows", "dim"))
    facts = []
    if columns:
        facts.append(f"({count} row{'s' if count != 1 else ''})")
    if r.get("status"):
        facts.append(str(r["status"]))
    if facts:
        out.append(Line(" ".join(facts)))
    return out


def _positional(columns: list[str], row: Any) -> list[Any]:
    """A row's values by position. A mapping row holds only the last of two columns of one
    name: the earlier one shows `?` rather than repeating the other's value."""
    if not isinstance(row, Mapping):
        return list(row)
    return [LOST if c in columns[i + 1:] else row.get(c) for i, c in enumerate(columns)]


def http_lines(r: Mapping[str, Any]) -> list[Line]:
    line = f"HTTP {r.get('status')} {r.get('reason') or ''}".rstrip()
    if r.get("elapsed_ms") is not None:
        line += f" · {r['elapsed_ms']} ms"
    if r.get("url"):
        line += f" · {r['url']}"
    out = [Line(line)]
    if r.get("json") is not None:
        out += _lines(excerpt(r["json"]), indent=4)
    elif r.get("text"):
        out += _lines(excerpt(str(r["text"])), indent=4)
    return out


def manual_lines(r: Mapping[str, Any]) -> list[Line]:
    out = [Line("acknowledged" if r.get("acknowledged") else "not acknowledged")]
    out += [Line(f"[x] {item}", "", 4) for item in r.get("checklist") or ()]
    out += [Line(f"{k} = {short(v)}", "", 4) for k, v in (r.get("fields") or {}).items()]
    if r.get("notes"):
        out.append(Line(f"notes: {r['notes']}", "", 4))
    if r.get("verified") is not None:
        out.append(Line("verified" if r["verified"] else "not verified", "", 4))
    return out


def notify_lines(r: Mapping[str, Any]) -> list[Line]:
    """A sentence per notifier: delivered, still being sent (a failure is reported when it
    happens), or not sent and why — never the result's JSON."""
    delivered = {str(d.get("notifier")): d for d in r.get("deliveries") or ()
                 if isinstance(d, Mapping)}
    out = []
    for name in r.get("sent") or ():
        d = delivered.get(str(name))
        if d is None:
            out.append(Line(f"sending to {name} in the background"))
        elif d.get("ok"):
            out.append(Line(f"delivered to {name}" + (f" ({d['kind']})" if d.get("kind") else "")))
        else:
            out.append(Line(f"not delivered to {name}: {d.get('error') or 'failed'}", "yellow"))
    for name, why in (r.get("off") or {}).items():
        reason = off_reason(str(name), str(why))
        out.append(Line(f"not sent to {name}: " + (f"the notifier is off ({reason})"
                                                   if reason != why else reason), "yellow"))
    return out or [Line("nothing to send")]


def off_reason(name: str, why: str) -> str:
    """Why a notifier is off, without the `notifier 'x' is off: ` the reason starts with
    (the sentence around it names the notifier already)."""
    return why.removeprefix(f"notifier '{name}' is off: ")


def watch_result(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A watch redraw's result: `result` when the engine sends it, else its JSON `text`."""
    result = data.get("result")
    if isinstance(result, Mapping):
        return result
    try:
        parsed = json.loads(str(data.get("text", "")))
    except ValueError:
        return None
    return parsed if isinstance(parsed, Mapping) else None
