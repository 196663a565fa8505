"""Result tables that fit the terminal, as psql draws them (`\\x auto`).

A table that fits the width is drawn aligned — numbers to the right — and one that does not
(or holds a multi-line value) is drawn expanded, one `-[ RECORD n ]-` block per row, values
wrapped at spaces and never cut: the operator must be able to read the whole query or error.
Columns are positions, not names, so `count, count` keeps both. Pure text, no rich.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Sequence
from typing import Any

from vvrun.ui.values import cell, is_number

MIN_VALUE_WIDTH = 20  # an expanded value never wraps narrower than this
# a one-character mark and its space, or a `label: ` word, that continuation lines hang under
_MARK = re.compile(r"^(?:[^\w\s(\[{'\"`$-] |hint: )")


def text_width(text: str) -> int:
    """Columns a string takes on a terminal (wide East Asian characters take two)."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * max(0, width - text_width(text))
    return gap + text if right else text + gap


def grid(columns: Sequence[str], rows: Sequence[Sequence[Any]],
         types: Sequence[str | None] = ()) -> tuple[list[list[str]], list[bool]]:
    """Every value as its cell text, and which columns are numeric (right-aligned)."""
    n = len(columns)
    kinds = list(types)[:n] + [None] * (n - len(types))
    cells = [[cell(row[i] if i < len(row) else None, kinds[i]) for i in range(n)]
             for row in rows]
    numeric = []
    for i in range(n):
        seen = [row[i] for row in rows if i < len(row) and row[i] is not None]
        numeric.append(bool(seen) and all(is_number(v) for v in seen))
    return cells, numeric


def aligned(columns: Sequence[str], cells: Sequence[Sequence[str]],
            numeric: Sequence[bool]) -> list[str]:
    """psql's aligned format: header, rule, one line per row."""
    widths = [max([text_width(c), *(text_width(r[i]) for r in cells)])
              for i, c in enumerate(columns)]
    lines = [" | ".join(_pad(c, w, False) for c, w in zip(columns, widths, strict=True)),
             "-+-".join("-" * w for w in widths)]
    for row in cells:
        lines.append(" | ".join(_pad(v, w, right)
                                for v, w, right in zip(row, widths, numeric, strict=True)))
    return [line.rstrip() for line in lines]


def expanded(columns: Sequence[str], cells: Sequence[Sequence[str]], width: int,
             first: int = 1) -> list[str]:
    """psql's expanded display: a `-[ RECORD n ]-` block per row, `column | value` lines."""
    key = max((text_width(c) for c in columns), default=0)
    room = max(MIN_VALUE_WIDTH, width - key - 3)
    lines = []
    for n, row in enumerate(cells, first):
        body = []
        for name, value in zip(columns, row, strict=True):
            parts = wrap(value, room)
            body.append(f"{_pad(name, key, False)} | {parts[0]}".rstrip())
            body += [f"{' ' * key} | {p}".rstrip() for p in parts[1:]]
        widest = max(text_width(b) for b in body) if body else 0
        title = f"-[ RECORD {n} ]"
        lines.append(title + "-" * max(1, min(width, widest) - len(title)))
        lines += body
    return lines


def wrap(value: str, room: int) -> list[str]:
    """A value's lines, each wrapped at spaces to `room` columns; a word longer than the room
    stays whole (the terminal shows it all), and nothing is dropped."""
    out: list[str] = []
    for line in value.split("\n") or [""]:
        if text_width(line) <= room:
            out.append(line)
            continue
        out += textwrap.wrap(line, room, break_long_words=False, break_on_hyphens=False,
                             replace_whitespace=False, drop_whitespace=True) or [""]
    return out or [""]


def fold(line: str, width: int) -> list[str]:
    """One of vvrun's own lines (a note, an error, a status) folded at spaces to `width`
    columns, so that the terminal never breaks it mid-word. Continuation lines hang under the
    text: past the line's indent and a leading mark (`⚠ `, `↻ `, `… `, `hint: `). A word
    longer than the room stays whole."""
    if text_width(line) <= width:
        return [line]
    body = line.lstrip(" ")
    lead = len(line) - len(body)
    mark = _MARK.match(body)
    hang = " " * (lead + (len(mark.group(0)) if mark else 0))
    if width - len(hang) < MIN_VALUE_WIDTH:  # too narrow to hang: keep the text readable
        hang = " " * min(lead, max(0, width - MIN_VALUE_WIDTH))
    return textwrap.wrap(body, max(1, width), initial_indent=" " * lead,
                         subsequent_indent=hang, break_long_words=False,
                         break_on_hyphens=False) or [line]


def fit(columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int,
        types: Sequence[str | None] = ()) -> list[str]:
    """The rows as an aligned table when it fits `width` and no value spans lines, else
    expanded (`\\x auto`)."""
    cells, numeric = grid(columns, rows, types)
    table = aligned(columns, cells, numeric)
    fits = all(text_width(line) <= width for line in table)
    if fits and not any("\n" in v for row in cells for v in row):
        return table
    return expanded(columns, cells, width)


def clip(text: str, width: int) -> str:
    """One line cut to `width` columns with `…` (headers and summary notes, never values)."""
    if text_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = text_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"
