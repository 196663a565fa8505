"""Values templated into a raw http `body:`, escaped for what the body is (SPEC §4: escaping
depends on where a value lands).

- `application/x-www-form-urlencoded`: a value is percent-encoded, so `x&admin=true` stays
  one field's value instead of adding a field;
- JSON (`application/json`, `…+json`): inside a JSON string a value is that string's escaped
  content, so `", "admin": true, "` cannot close the string; outside a string it is one JSON
  value: data as JSON, text that is exactly one JSON value (`| tojson`, `"5"`) as it is, any
  other text as a quoted string — never more than the one value its place holds;
- any other body is text, as written.

`| raw` opts out, as in shell text. A plan's placeholders (`Unknown`) are shown as they are.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

from vvrun.language.templates.environment import SENTINEL
from vvrun.language.templates.native import plain
from vvrun.language.templates.unknown import Unknown
from vvrun.language.templates.values import Raw

FORM = "form"
JSON = "json"


def kind_of(content_type: str | None) -> str | None:
    """FORM, JSON, or None (text) for a Content-Type header's value."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        return FORM
    if media == "application/json" or (media.startswith("application/")
                                       and media.endswith("+json")):
        return JSON
    return None


def fill(text: str, values: list[Any], kind: str) -> str:
    """`text` (a render with a sentinel where each value goes) with the values escaped."""
    matches = list(SENTINEL.finditer(text))
    inside = _in_json_strings(text, [m.span() for m in matches]) if kind == JSON else []
    out, pos = [], 0
    for i, m in enumerate(matches):
        out.append(text[pos:m.start()])
        out.append(_escape(values[int(m.group(1))], kind, bool(inside and inside[i])))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def _escape(value: Any, kind: str, in_string: bool) -> str:
    if isinstance(value, Raw | Unknown):
        return str(value)
    if kind == FORM:
        return quote_plus(str(value), safe="")
    if in_string:
        return json.dumps(str(value), ensure_ascii=False)[1:-1]
    if isinstance(value, str):
        try:  # text that is exactly one JSON value (`| tojson`, "5") fills the slot, no more
            json.loads(value)
        except ValueError:
            return json.dumps(str(value), ensure_ascii=False)
        return str(value)
    return json.dumps(value if plain(value) else str(value), ensure_ascii=False)


def _in_json_strings(text: str, spans: list[tuple[int, int]]) -> list[bool]:
    """For each span, whether it stands inside a JSON string literal of `text`."""
    out: list[bool] = []
    in_string = escaped = False
    pos = 0
    for start, end in spans:
        for ch in text[pos:start]:
            if escaped:
                escaped = False
            elif in_string and ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = not in_string
        out.append(in_string)
        pos = end
    return out
