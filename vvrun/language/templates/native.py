"""A value that is one whole template keeps its type where the destination is structured data
(an http `json:` body, a called runbook's `inputs:`, a notifier's settings):
`"{{ steps.find.outputs.ids }}"` is the list itself, not its text. Text around it, a string
result, or anything that is not plain data (a plan's `⟨unknown⟩`, a secret) stays text."""

from __future__ import annotations

import re
from typing import Any

_WHOLE = re.compile(r"\s*\{\{-?(?P<expr>.*?)-?\}\}\s*", re.S)
_SCALARS = (int, float, bool, type(None))


def whole_expression(source: str) -> str | None:
    """The expression of a string that is exactly one `{{ expr }}`, else None."""
    m = _WHOLE.fullmatch(source)
    if m is None:
        return None
    expr = m.group("expr")
    if "{{" in expr or "}}" in expr or "{%" in expr or "{#" in expr:
        return None  # two templates, or a literal that only looks like one
    return expr.strip() or None


def plain(value: Any, depth: int = 0) -> bool:
    """Whether `value` is JSON-like data of exactly the built-in types (not a str: text
    rendering already gives a string, with its escaping and taint)."""
    if depth > 64:
        return False
    if type(value) in _SCALARS:
        return True
    if type(value) in (list, tuple):
        return all(type(v) is str or plain(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and (type(v) is str or plain(v, depth + 1))
                   for k, v in value.items())
    return False
