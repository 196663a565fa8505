"""Text from the world (query results, command output, values templated into an action) made
safe to print on an operator's terminal.

A value can carry terminal control sequences: `ESC [2J` clears the screen, `ESC ]52;…` writes
the clipboard, `\\r` overwrites the start of a line, and Unicode's bidirectional overrides
reorder what is read. Any of them lets a row in a database fake a prompt or hide a line of the
action being confirmed. So do characters that print as nothing: a zero-width space inside
`users` names another table that reads the same, an implicit direction mark (LRM, RLM, ALM)
reorders the neutral characters around it, and U+2028/U+2029 break a line where some terminals
do not. Every such character is shown as its escape (`\\x1b`, `\\r`, `\\u202e`, `\\u200b`);
tabs and line breaks stay what they are. The zero-width joiners (U+200C, U+200D) are written
text in Persian, the Indic scripts and emoji sequences: they are escaped only where they touch
ASCII (or the start or end), where no script needs them and where they would hide in a name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# C0 controls but tab and line feed, DEL, C1 controls; the bidirectional embeddings, overrides
# and isolates (U+202A–U+202E, U+2066–U+2069) and marks (U+061C, U+200E, U+200F); characters
# that print as nothing (soft hyphen, Mongolian vowel separator, zero-width space, word joiner
# and invisible operators, BOM) and the line and paragraph separators; the joiners next to ASCII.
_ALWAYS = ("\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u061c\u180e\u200b\u200e\u200f\u2028\u2029"
           "\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff")
_CONTROLS = re.compile(f"[{_ALWAYS}]"
                       "|[\u200c\u200d](?![^\\x00-\\x7f])|(?<![^\\x00-\\x7f])[\u200c\u200d]")
# One character class is what almost every string is searched with (it is on the path of every
# line shown); the lookarounds run only on a string that holds one of these characters.
_ANY = re.compile(f"[{_ALWAYS}\u200c\u200d]")
_NAMED = {"\r": "\\r", "\x0b": "\\v", "\x0c": "\\f", "\x08": "\\b", "\x07": "\\a"}


def _escape(m: re.Match[str]) -> str:
    c = m.group(0)
    if c in _NAMED:
        return _NAMED[c]
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def visible(text: str) -> str:
    """`text` with every terminal control character shown as its escape."""
    return _CONTROLS.sub(_escape, text) if _ANY.search(text) else text


def visible_obj(value: Any) -> Any:
    """`visible` applied to every string inside event data (mappings, lists, tuples)."""
    kind = type(value)  # exact types first: this walks every event the terminal shows
    if kind is str:
        return visible(value)
    if kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is dict or isinstance(value, Mapping):
        return {k: visible_obj(v) for k, v in value.items()}
    if kind is list or kind is tuple or isinstance(value, list | tuple):
        return [visible_obj(v) for v in value]
    if isinstance(value, str):  # a str subclass (a tainted value)
        return visible(value)
    return value
