"""A bound value as a reviewer reads it, everywhere it is shown: SQL-style literals — `'alice'`,
`42`, `[10476, 10477]`, `NULL`, `true`. The plan, the step header, the danger prompt and a
loop's table write parameters this one way (they used to write a list three ways)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def _nothing(value: Any) -> str | None:
    return None


def sql_literal(value: Any, as_is: Callable[[Any], str | None] = _nothing) -> str:
    """`value` as a literal; `as_is(value)` first, at any depth, for what a caller writes its
    own way (a plan's ⟨placeholders⟩)."""
    own = as_is(value)
    if own is not None:
        return own
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(sql_literal(v, as_is) for v in value) + "]"
    try:
        return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)
