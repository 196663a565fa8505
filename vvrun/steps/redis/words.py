"""A redis command line → its words, split *before* templating so a value is one argument.

The one way a value becomes several arguments is a word that is exactly `{{ list | args }}`:
it expands to one argument per item (`DEL {{ steps.find.result.keys | args }}`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Any

from vvrun.errors import Location, RunbookError
from vvrun.steps.base import Templater

_HOLE = re.compile(r"\{\{.*?\}\}", re.S)
_HIDDEN = re.compile(r"\x00vvr(\d+)\x00")
_ARGS = re.compile(r"^\{\{-?\s*(?P<expr>.+?)\s*\|\s*args\s*-?\}\}$", re.S)
#: A word where `| args` stands alone: the whole word is one template.
ARGS_FILTER = re.compile(r"\|\s*args\b")


def split(source: str, where: Location | None = None) -> list[str]:
    """The words of a command line as written, templates intact (shell-like quoting; a
    `{{ … }}` belongs to the word it stands in, whatever spaces it holds)."""
    holes: list[str] = []

    def hide(m: re.Match[str]) -> str:
        holes.append(m.group(0))
        return f"\x00vvr{len(holes) - 1}\x00"

    try:
        words = shlex.split(_HOLE.sub(hide, source))
    except ValueError as exc:
        raise RunbookError(f"the redis command does not split into words: {exc}", where=where,
                           hint="close the quote, or quote the word that holds it") from exc
    return [_HIDDEN.sub(lambda m: holes[int(m.group(1))], w) for w in words]


def is_args(word: str) -> bool:
    return _ARGS.match(word) is not None


def render(words: Sequence[Any], tpl: Templater) -> list[str]:
    """Each word rendered on its own; a `{{ list | args }}` word expands into its items."""
    out: list[str] = []
    for word in words:
        m = _ARGS.match(word) if isinstance(word, str) else None
        if m is None:
            out.append(str(tpl.text(word)))
            continue
        value = tpl.expr(m.group("expr"))
        if isinstance(value, str | bytes) or not isinstance(value, Sequence | set | frozenset):
            if _is_unknown(value):  # a plan: what only a run knows stays one visible word
                out.append(str(value))
                continue
            raise RunbookError(f"{word} needs a list, not {type(value).__name__}",
                               where=tpl.where, hint="give `| args` a list of values, e.g. "
                               "`steps.find.result.keys`")
        out.extend(str(v) for v in value)
    return out


def _is_unknown(value: Any) -> bool:
    return type(value).__name__ == "Unknown"


def known(words: Sequence[Any]) -> list[str | None]:
    """The words as validate sees them: a templated word is None (only a run knows it);
    an `| args` word hides how many arguments follow, so nothing after it is known."""
    out: list[str | None] = []
    for word in words:
        text = str(word)
        if is_args(text):
            out.append(None)
            break
        out.append(None if "{{" in text or "{%" in text else text)
    return out
