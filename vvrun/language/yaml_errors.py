"""YAML's own errors as vvrun says them: where the mistake is (line, column, the source line and
a caret under it), what it is, and what to do; the loader's refusals (`Refused`) likewise."""

from __future__ import annotations

import re

import yaml

MAX_DEPTH = 40  # nesting levels of mappings and lists


class Refused(Exception):
    """Input the loader will not load: a message, where, a hint and a stable code."""

    def __init__(self, message: str, line: int | None, column: int | None, hint: str | None,
                 code: str):
        super().__init__(message)
        self.message, self.line, self.column, self.hint, self.code = (
            message, line, column, hint, code)


_SYNTAX_HINTS = (
    ("mapping values are not allowed", "a value containing ': ' must be quoted"),
    ("found character '\\t'", "indent with spaces; YAML forbids tabs"),
    ("tab character", "indent with spaces; YAML forbids tabs"),
    ("found undefined alias", "define the `&anchor` before using `*anchor`"),
    ("expected a single document", "a runbook is one document: remove the `---` separators"),
    ("could not find expected ':'", "check the indentation and that every key ends with ':'"),
    ("found unexpected end of stream", "a quote or bracket is not closed"),
    ("while scanning a quoted scalar", "a quote is not closed"),
    ("did not find expected key", "check the indentation of this line and the one before"),
    ("exceeded maximum nesting depth", f"flatten the structure (at most {MAX_DEPTH} levels)"),
)


def syntax_hint(message: str) -> str:
    for needle, hint in _SYNTAX_HINTS:
        if needle in message:
            return hint
    return "check the YAML syntax around this position (quotes, indentation, colons)"


#: errors whose problem mark is where PyYAML gave up (often the end of the file or the next
#: line), while the context mark is where the mistake is: an unclosed quote, a key with no ':'
_AT_CONTEXT = ("while scanning a quoted scalar", "while scanning a simple key",
               "while scanning a double-quoted scalar", "while scanning a single-quoted scalar")


_SHOWN = 100  # characters of the source line shown under a syntax error


def syntax_error(exc: yaml.MarkedYAMLError, text: str) -> Refused:
    """A YAML syntax error at the line and column of the mistake, with that source line and a
    caret under the column, and a hint (`tab` when a tab is the cause)."""
    mark = exc.problem_mark or exc.context_mark
    if exc.context_mark is not None and (exc.context or "") in _AT_CONTEXT:
        mark = exc.context_mark
    message = " ".join(p for p in (exc.context, exc.problem) if p)
    hint = syntax_hint(str(exc))
    if mark is None:
        return Refused(f"YAML syntax: {message}", None, None, hint, "yaml-syntax")
    lines = text.splitlines()
    source = lines[mark.line] if mark.line < len(lines) else ""
    if "\t" in source[: max(mark.column, len(source) - len(source.lstrip()))]:
        hint = "this line is indented with a tab: YAML allows only spaces"
    return Refused(f"YAML syntax: {message}{excerpt(source, mark.line, mark.column)}",
                    mark.line + 1, mark.column + 1, hint, "yaml-syntax")


def excerpt(source: str, line: int, column: int) -> str:
    """The source line (0-based `line`) and a caret under `column`, to follow a message."""
    if not source.strip():
        return ""
    if len(source) > _SHOWN:  # show the part of a huge line around the mistake, not all of it
        start = max(0, min(column - _SHOWN // 2, len(source) - _SHOWN))
        source, column = source[start : start + _SHOWN], column - start
    # tabs shown as one space each, control characters as their one-column pictures (␀, ␛),
    # so the caret stays under the column and the terminal is not driven by the file
    source = _PICTURES.sub(lambda m: chr(0x2400 + ord(m.group())) if m.group() < " " else "?",
                           source.replace("\t", " "))
    number = str(line + 1)
    return f"\n  {number} | {source}\n  {' ' * len(number)} | {' ' * column}^"


_PICTURES = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_NAMES = {0: "NUL", 0x1b: "ESC", 0x7f: "DEL", 0xfeff: "a byte order mark"}


def reader_error(exc: yaml.reader.ReaderError, text: str) -> Refused:
    """A character YAML does not allow (NUL, ESC, …): where it is, and the line it is in. The
    error has a position, not a mark (in bytes from the C reader, in characters from Python's),
    and the reader stops at the first such character, so that is the first in the text."""
    char = exc.character if isinstance(exc.character, str) else chr(exc.character)
    offset = text.find(char)
    name = _CONTROL_NAMES.get(ord(char), f"U+{ord(char):04X}")
    message = f"the file holds a control character ({name}), which YAML does not allow"
    hint = ("remove it; in a double-quoted string write it as an escape (`\\x00`, `\\e` "
            "for ESC)")
    if offset < 0:
        return Refused(message, 1, 1, hint, "yaml-syntax")
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    source = text[start : end if end >= 0 else len(text)].rstrip("\r")
    return Refused(message + excerpt(source, line, offset - start), line + 1,
                    offset - start + 1, hint, "yaml-syntax")
