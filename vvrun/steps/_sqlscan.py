"""A small SQL scanner for `validate`: where each `{{ }}` lands (code, a quoted string, a dollar
quote, a comment), how the text splits into statements, and the code with strings and comments
blanked out so that keyword checks (DELETE without WHERE, SET, DDL) do not see inside them.

It is not a SQL parser; it knows PostgreSQL's lexical structure, which is all these checks need.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

_DOLLAR = re.compile(r"\$(?:[^\W\d]\w*)?\$")  # $$ or $tag$; not $1
_IDENT_FILTER = re.compile(r"\|\s*ident\s*(?:-)?\}\}$")


@dataclass(frozen=True)
class Hole:
    """A `{{ ... }}` in the SQL text: where it starts and ends, and what it sits in."""

    start: int
    end: int
    context: str  # code | single_quote | double_quote | dollar_quote | line_comment | block_comment
    statement: int  # index of the statement it belongs to

    def is_ident(self, text: str) -> bool:
        return bool(_IDENT_FILTER.search(text[self.start : self.end]))


@dataclass(frozen=True)
class Scan:
    holes: tuple[Hole, ...]
    statements: tuple[tuple[int, int], ...]  # (start, end) of each non-empty statement
    code: str  # the text with strings, comments and template tags replaced by spaces/`$1`


def _skip_tag(text: str, i: int) -> int:
    """Given `{%` or `{#` at i, the index after its closing `%}` / `#}`."""
    close = "%}" if text[i + 1] == "%" else "#}"
    j = text.find(close, i + 2)
    return len(text) if j < 0 else j + 2


def scan(text: str) -> Scan:
    holes: list[Hole] = []
    code = list(text)
    state = "code"
    dollar_tag = ""
    stmt_starts = [0]
    i, n = 0, len(text)

    def blank(a: int, b: int) -> None:
        for k in range(a, min(b, n)):
            if code[k] != "\n":
                code[k] = " "

    while i < n:
        two = text[i : i + 2]
        if two == "{{":
            j = text.find("}}", i + 2)
            end = n if j < 0 else j + 2
            holes.append(Hole(i, end, state, len(stmt_starts) - 1))
            blank(i, end)
            if state == "code":
                code[i : i + 2] = ["$", "1"]
            i = end
            continue
        if two in ("{%", "{#"):
            end = _skip_tag(text, i)
            blank(i, end)
            i = end
            continue
        ch = text[i]
        if state == "code":
            if ch == "'":
                state = "single_quote"
            elif ch == '"':
                state = "double_quote"
            elif two in ("--", "/*"):
                state = "line_comment" if two == "--" else "block_comment"
                code[i] = code[i + 1] = " "
                i += 2
                continue
            elif ch == "$":
                m = _DOLLAR.match(text, i)
                if m:
                    state, dollar_tag = "dollar_quote", m.group(0)
                    i = m.end()
                    continue
            elif ch == ";":
                stmt_starts.append(i + 1)
            i += 1
            continue
        # inside something: find where it ends, blanking its content
        if (state, ch) in (("single_quote", "'"), ("double_quote", '"'), ("line_comment", "\n")):
            state = "code"
        elif state == "block_comment" and two == "*/":
            code[i] = code[i + 1] = " "
            state = "code"
            i += 2
            continue
        elif state == "dollar_quote" and text.startswith(dollar_tag, i):
            state = "code"
            i += len(dollar_tag)
            continue
        else:
            if ch != "\n":
                code[i] = " "
        i += 1
    flat = "".join(code)
    bounds = [*stmt_starts, n + 1]
    statements = tuple(
        (a, b - 1) for a, b in itertools.pairwise(bounds) if flat[a : b - 1].strip()
    )
    # renumber holes by non-empty statements
    index = {start: k for k, (start, _) in enumerate(statements)}
    renumbered = []
    for h in holes:
        start = stmt_starts[h.statement]
        renumbered.append(Hole(h.start, h.end, h.context, index.get(start, 0)))
    return Scan(tuple(renumbered), statements, flat)


_UTILITY = ("SET", "RESET", "CREATE", "ALTER", "DROP", "GRANT", "REVOKE", "COMMENT", "VACUUM",
            "REINDEX", "CLUSTER", "LISTEN", "NOTIFY", "DO", "COPY", "LOCK", "TRUNCATE")
_FIRST_WORD = re.compile(r"\s*([A-Za-z]+)")


def first_word(statement: str) -> str:
    m = _FIRST_WORD.match(statement)
    return m.group(1).upper() if m else ""


def is_utility(statement: str) -> bool:
    """SET and DDL: statements PostgreSQL cannot bind parameters in."""
    return first_word(statement) in _UTILITY


_DANGER = (
    (re.compile(r"\bDELETE\s+FROM\b", re.I), re.compile(r"\bWHERE\b", re.I),
     "DELETE without WHERE deletes every row"),
    (re.compile(r"^\s*UPDATE\b", re.I), re.compile(r"\bWHERE\b", re.I),
     "UPDATE without WHERE changes every row"),
    (re.compile(r"^\s*TRUNCATE\b", re.I), None, "TRUNCATE empties tables"),
    (re.compile(r"^\s*DROP\b", re.I), None, "DROP removes objects"),
    (re.compile(r"\bpg_terminate_backend\s*\(", re.I), None,
     "pg_terminate_backend kills sessions"),
    (re.compile(r"^\s*VACUUM\b[^;]*\bFULL\b", re.I), None,
     "VACUUM FULL locks the table for the whole rewrite"),
)


def dangers(statement: str) -> list[str]:
    """What makes a statement (with strings and comments blanked) destructive."""
    found = []
    for pattern, unless, why in _DANGER:
        if pattern.search(statement) and not (unless and unless.search(statement)):
            found.append(why)
    return found
