"""Where each value of a loaded document was written, and where a character inside a string
value was: the table every `file:line:col` of the front end comes from.

A string's value is not its source text: YAML folds lines (plain, quoted and `>` scalars),
strips indentation (`|`, `>`), undoes escapes (`"\\u00e9"`) and doubled quotes (`'it''s'`).
`at_offset` maps a character of the value back by walking value and source together: every
character that is not a blank must come next in the source (after blanks, an escape or a
doubled quote); a blank of the value that is a folded line break maps to that break. When the
walk cannot match the value, the answer is where the scalar starts — never a wrong column.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

Path = tuple[str | int, ...]

_BLANKS = " \t\r\n"
# double-quoted escapes: the character after the backslash → the character it stands for
_ESCAPES = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f",
    "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85",
    "_": "\xa0", "L": "\u2028", "P": "\u2029",
}
_HEX = {"x": 2, "u": 4, "U": 8}


@dataclass
class Positions:
    """Where each value (and each mapping key) starts, by path: 1-based (line, column)."""

    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    # string scalars: (style, index in `text` where their content starts)
    blocks: dict[Path, tuple[str | None, int]] = field(default_factory=dict)
    text: str = ""  # the document's text, to map offsets inside strings
    _starts: list[int] = field(default_factory=list, repr=False)

    def value(self, path: Path) -> tuple[int, int] | None:
        """The position of the value at `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            pos = self.values.get(path)
            if pos is not None:
                return pos
            path = path[:-1]
        return self.values.get(())

    def key(self, path: Path) -> tuple[int, int] | None:
        """The position of the key naming `path` (falls back to the value's)."""
        return self.keys.get(tuple(path)) or self.value(path)

    def at_offset(self, path: Path, text: str, offset: int) -> tuple[int, int] | None:
        """The position of character `offset` of the string value `text` at `path`."""
        path = tuple(path)
        base = self.values.get(path)
        block = self.blocks.get(path)
        if base is None:
            return self.value(path)
        if block is None or not 0 <= offset < len(text):
            return base
        style, start = block
        index = _source_index(text, offset, self.text, start, style)
        return base if index is None else self._line_col(index)

    def _line_col(self, index: int) -> tuple[int, int]:
        if not self._starts:
            self._starts = [0] + [i + 1 for i, c in enumerate(self.text) if c == "\n"]
        line = bisect_right(self._starts, index)
        return line, index - self._starts[line - 1] + 1


def content_start(text: str, index: int, style: str | None) -> int:
    """Where a scalar's characters start in `text`, given where the scalar does (`index`):
    after the opening quote, or on the line after a block scalar's `|`/`>` header."""
    if style in ("'", '"'):
        return index + 1
    if style in ("|", ">"):
        newline = text.find("\n", index)
        return len(text) if newline < 0 else newline + 1
    return index


def _source_index(value: str, offset: int, src: str, ptr: int, style: str | None) -> int | None:
    """The index in `src` of character `offset` of `value`, whose source starts at `ptr`."""
    for n, char in enumerate(value[: offset + 1]):
        at = None
        while at is None:
            if ptr >= len(src):
                return None
            s = src[ptr]
            if style == '"' and s == "\\":
                decoded, width = _escape(src, ptr)
                if decoded is None:  # an escaped line break: no character of the value
                    ptr += width
                    continue
                if decoded != char:
                    return None
                at, ptr = ptr, ptr + width
            elif style == "'" and s == "'" and src.startswith("''", ptr):
                if char != "'":
                    return None
                at, ptr = ptr, ptr + 2
            elif s == char:
                at, ptr = ptr, ptr + 1
            elif s in _BLANKS and char in " \n":
                at = ptr  # a line break folded into a space (or blank lines into breaks)
            elif s in _BLANKS:
                ptr += 1  # indentation, or the break a folded blank stood for
            else:
                return None
        if n == offset:
            return at
    return None


def _escape(src: str, ptr: int) -> tuple[str | None, int]:
    """The character a double-quoted escape at `src[ptr]` stands for, and its width; None for
    an escaped line break (with the next line's indentation, which it drops)."""
    nxt = src[ptr + 1 : ptr + 2]
    if nxt in ("\n", "\r"):
        end = ptr + (3 if src.startswith("\r\n", ptr + 1) else 2)
        while end < len(src) and src[end] in " \t":
            end += 1
        return None, end - ptr
    if nxt in _HEX:
        digits = src[ptr + 2 : ptr + 2 + _HEX[nxt]]
        try:
            return chr(int(digits, 16)), 2 + _HEX[nxt]
        except ValueError:
            return "", 1  # cannot be: YAML refused it; matches nothing, so the walk gives up
    return _ESCAPES.get(nxt, ""), 2
