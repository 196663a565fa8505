"""YAML → plain data plus a table of where every key and value was written.

The loader is strict where YAML is lenient, because a runbook is run at 3 a.m. by someone who
did not write it: duplicate keys, custom tags (`!!python/...`), alias bombs, absurd nesting or
size, and bytes that are not UTF-8 are refused with a position and a hint.

Scalars are resolved like YAML 1.2's core schema, not YAML 1.1: `yes`/`no`/`on`/`off`, `1:30`,
dates and `1_000` stay strings, and `010` is ten. The text of every scalar that did resolve to a
number or a boolean is kept (`Loaded.texts`), so a field the schema says is a string gets the
text as written (`version: 1.10` stays "1.10", not 1.1) — see `schema.document.coerce_strings`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml

from vvrun.errors import Location, Problem
from vvrun.language.source import (
    LIMIT_ENV,
    MAX_BYTES,
    SourceRefused,
    decode_utf8,
    max_bytes,
    read_source,
    show_size,
)

__all__ = ["MAX_BYTES", "Loaded", "Positions", "iter_paths", "load_bytes", "load_file"]

MAX_DEPTH = 40  # nesting levels of mappings and lists
MAX_NODES = 100_000  # values after alias expansion (a "billion laughs" stops here)
MAX_ALIASES = 200  # uses of `*anchor` in one file

Path = tuple[str | int, ...]

_BaseLoader: Any = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader

_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge")}


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """PyYAML's (C, when present) safe loader with YAML 1.2 core resolution."""

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {}


def _resolver(tag: str, pattern: str, first: str) -> None:
    _Loader.add_implicit_resolver(_TAG + tag, re.compile(pattern, re.X), list(first))


_resolver("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF")
_resolver("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""])  # type: ignore[arg-type]
_resolver("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789")
_resolver(
    "float",
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    "-+0123456789.",
)
_resolver("merge", r"^(?:<<)$", "<")


@dataclass
class Positions:
    """Where each value (and each mapping key) starts, by path: 1-based (line, column)."""

    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    # for string scalars: (style, first content line, indent) to place an offset inside them
    blocks: dict[Path, tuple[str | None, int, int]] = field(default_factory=dict)

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
        """The position of character `offset` of the string value at `path`."""
        path = tuple(path)
        base = self.values.get(path)
        block = self.blocks.get(path)
        if base is None:
            return self.value(path)
        if block is None:
            return base
        style, first_line, indent = block
        before = text[:offset]
        nl = before.count("\n")
        col = offset - (before.rfind("\n") + 1)
        if style == "|":
            return first_line + nl, indent + col + 1
        if nl == 0:
            return base[0], base[1] + col + (1 if style in ("'", '"') else 0)
        return base


@dataclass
class Loaded:
    """A loaded file: its data (None when it could not be loaded) and what went wrong."""

    path: str
    source: bytes
    data: Any = None
    positions: Positions = field(default_factory=Positions)
    texts: dict[Path, str] = field(default_factory=dict)  # scalars that became numbers/bools
    problems: list[Problem] = field(default_factory=list)


class _Refused(Exception):
    def __init__(self, message: str, line: int | None, column: int | None, hint: str | None,
                 code: str):
        super().__init__(message)
        self.message, self.line, self.column, self.hint, self.code = (
            message, line, column, hint, code)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _scalar(node: yaml.ScalarNode, where: tuple[int, int]) -> Any:
    tag, text = node.tag, node.value
    if tag == _TAG + "str":
        return text
    if tag == _TAG + "null":
        if text not in ("", "~", "null", "Null", "NULL"):
            raise _Refused(f"{text!r} is not null", *where, "remove the `!!null` tag", "yaml-tag")
        return None
    if tag == _TAG + "bool":
        low = text.lower()
        if low not in ("true", "false"):
            raise _Refused(f"{text!r} is not a boolean", *where, "write true or false", "yaml-tag")
        return low == "true"
    if tag == _TAG + "int":
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        try:
            if digits.startswith(("0x", "0X")):
                return sign * int(digits[2:], 16)
            if digits.startswith(("0o", "0O")):
                return sign * int(digits[2:], 8)
            return sign * int(digits, 10)
        except ValueError:
            raise _Refused(f"{text!r} is not an integer", *where, "remove the `!!int` tag",
                           "yaml-tag") from None
    if tag == _TAG + "float":
        low = text.lower().lstrip("+")
        if low in (".inf", "-.inf"):
            return -math.inf if low.startswith("-") else math.inf
        if low == ".nan":
            return math.nan
        try:
            return float(text)
        except ValueError:
            raise _Refused(f"{text!r} is not a number", *where, "remove the `!!float` tag",
                           "yaml-tag") from None
    raise AssertionError(tag)  # tags are checked before


class _Builder:
    """Turns a composed node tree into plain data, filling the positions table."""

    def __init__(self, loaded: Loaded, lines: list[str]):
        self.loaded = loaded
        self.positions = loaded.positions
        self.lines = lines
        self.nodes = 0
        self.aliases = 0
        self.seen: set[int] = set()

    def build(self, node: yaml.Node, path: Path, depth: int) -> Any:
        where = _mark(node)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Refused(
                f"the document expands to more than {MAX_NODES} values (aliases of aliases?)",
                *where, "use fewer `*alias` references; a runbook does not need an alias bomb",
                "yaml-aliases")
        if depth > MAX_DEPTH:
            raise _Refused(f"nesting deeper than {MAX_DEPTH} levels", *where,
                           "flatten the structure (or a `*alias` refers to its own anchor)",
                           "yaml-depth")
        if id(node) in self.seen and not isinstance(node, yaml.ScalarNode):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _Refused(f"more than {MAX_ALIASES} alias uses", *where,
                               "write the values out; aliases this many are hard to review",
                               "yaml-aliases")
        self.seen.add(id(node))
        if node.tag not in _ALLOWED_TAGS:
            raise _Refused(
                f"the tag {node.tag.replace(_TAG, '!!')!r} is not allowed",
                *where, "runbooks use plain YAML values only: remove the tag (quote the value "
                "if it should be text)", "yaml-tag")
        self.positions.values[path] = where
        if isinstance(node, yaml.ScalarNode):
            value = _scalar(node, where)
            if isinstance(value, str):
                self._record_block(node, path, where)
            elif not node.style and value is not None:
                self.loaded.texts[path] = node.value
            return value
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        return self._mapping(node, path, depth)

    def _record_block(self, node: yaml.ScalarNode, path: Path, where: tuple[int, int]) -> None:
        style = node.style
        if style == "|":
            first = where[0] + 1
            indent = 0
            for line in self.lines[first - 1 :]:
                if line.strip():
                    indent = len(line) - len(line.lstrip(" "))
                    break
                first += 1
            self.positions.blocks[path] = (style, first, indent)
        else:
            self.positions.blocks[path] = (style or None, where[0], where[1])

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_seen: dict[str, tuple[int, int]] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_where = _mark(key_node)
            if key_node.tag == _TAG + "merge":
                merged.update(self._merge(value_node, path, depth))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Refused("a mapping key must be a plain word, not a list or mapping",
                               *key_where, "use a simple key like `name:`", "yaml-key")
            if key_node.tag not in _ALLOWED_TAGS:
                raise _Refused(f"the tag {key_node.tag.replace(_TAG, '!!')!r} is not allowed",
                               *key_where, "remove the tag", "yaml-tag")
            key = key_node.value  # the key as written: `on:` is "on", `1:` is "1"
            if key in first_seen:
                first = first_seen[key]
                self.loaded.problems.append(Problem(
                    f"duplicate key '{key}' (first at line {first[0]})",
                    Location(self.loaded.path, *key_where),
                    hint=f"remove one of the two '{key}' keys (lines {first[0]} and "
                    f"{key_where[0]}); YAML would silently keep only the last",
                    code="yaml-duplicate-key"))
                continue
            first_seen[key] = key_where
            self.positions.keys[(*path, key)] = key_where
            out[key] = self.build(value_node, (*path, key), depth + 1)
        for key, value in merged.items():
            out.setdefault(key, value)
        return out

    def _merge(self, node: yaml.Node, path: Path, depth: int) -> dict[str, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out: dict[str, Any] = {}
        for src in sources:
            if not isinstance(src, yaml.MappingNode):
                raise _Refused("`<<` merges mappings only", *_mark(src),
                               "write `<<: *anchor` where the anchor is a mapping", "yaml-merge")
            for key, value in self._mapping(src, path, depth + 1).items():
                out.setdefault(key, value)
        return out


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


def _syntax_hint(message: str) -> str:
    for needle, hint in _SYNTAX_HINTS:
        if needle in message:
            return hint
    return "check the YAML syntax around this position (quotes, indentation, colons)"


#: errors whose problem mark is where PyYAML gave up (often the end of the file or the next
#: line), while the context mark is where the mistake is: an unclosed quote, a key with no ':'
_AT_CONTEXT = ("while scanning a quoted scalar", "while scanning a simple key",
               "while scanning a double-quoted scalar", "while scanning a single-quoted scalar")


_SHOWN = 100  # characters of the source line shown under a syntax error


def _syntax_error(exc: yaml.MarkedYAMLError, text: str) -> _Refused:
    """A YAML syntax error at the line and column of the mistake, with that source line and a
    caret under the column, and a hint (`tab` when a tab is the cause)."""
    mark = exc.problem_mark or exc.context_mark
    if exc.context_mark is not None and (exc.context or "") in _AT_CONTEXT:
        mark = exc.context_mark
    message = " ".join(p for p in (exc.context, exc.problem) if p)
    hint = _syntax_hint(str(exc))
    if mark is None:
        return _Refused(f"YAML syntax: {message}", None, None, hint, "yaml-syntax")
    lines = text.splitlines()
    source = lines[mark.line] if mark.line < len(lines) else ""
    column = mark.column
    if len(source) > _SHOWN:  # show the part of a huge line around the mistake, not all of it
        start = max(0, min(column - _SHOWN // 2, len(source) - _SHOWN))
        source, column = source[start : start + _SHOWN], column - start
    if "\t" in source[: max(column, len(source) - len(source.lstrip()))]:
        hint = "this line is indented with a tab: YAML allows only spaces"
    if source.strip():
        number = str(mark.line + 1)
        # tabs shown as one space each, so the caret stays under the column
        message += (f"\n  {number} | {source.replace(chr(9), ' ')}"
                    f"\n  {' ' * len(number)} | {' ' * column}^")
    return _Refused(f"YAML syntax: {message}", mark.line + 1, mark.column + 1, hint,
                    "yaml-syntax")


#: what each kind of document is, for the messages that name it
_KINDS = {
    "runbook": ("the file", "split it into several runbooks"),
    "vars": ("--vars-file", "keep the values a runbook needs, one `name: value` per line"),
    "value": ("the value", "give a shorter value"),
}
_CODES = {"file-size": "yaml-size", "encoding": "yaml-encoding"}


def _refused(exc: SourceRefused) -> _Refused:
    return _Refused(exc.message, exc.line, exc.column, exc.hint, _CODES.get(exc.code, exc.code))


def load_bytes(raw: bytes, path: str, *, kind: str = "runbook") -> Loaded:
    """Load a document's bytes (`kind`: "runbook", "vars" — a `--vars-file` —, or "value").
    Never raises for bad input: problems are in `Loaded.problems`."""
    loaded = Loaded(path=path, source=raw)
    try:
        _load_into(loaded, raw, kind)
    except _Refused as exc:
        loaded.data = None
        loaded.problems.append(Problem(exc.message, Location(path, exc.line, exc.column),
                                       hint=exc.hint, code=exc.code))
    if loaded.problems and any(p.code != "yaml-duplicate-key" for p in loaded.problems):
        loaded.data = None
    return loaded


def load_file(path: str, *, kind: str = "runbook") -> Loaded:
    """Read (a regular file, within the size limit) and load it; an unreadable file is a
    problem too."""
    what, split_hint = _KINDS[kind]
    try:
        raw = read_source(path, what, split_hint=split_hint)
    except SourceRefused as exc:
        loaded = Loaded(path=path, source=b"")
        loaded.problems.append(Problem(exc.message, Location(path, exc.line, exc.column),
                                       hint=exc.hint, code=_CODES.get(exc.code, exc.code)))
        return loaded
    return load_bytes(raw, path, kind=kind)


def _load_into(loaded: Loaded, raw: bytes, kind: str) -> None:
    what, split_hint = _KINDS[kind]
    try:
        limit = max_bytes()
        if len(raw) > limit:
            raise SourceRefused(f"{what} is larger than {show_size(limit)} (the limit)",
                                f"{split_hint}, or raise the limit with {LIMIT_ENV}",
                                "file-size", 1, 1)
        text = decode_utf8(raw, what)
    except SourceRefused as exc:
        raise _refused(exc) from None
    if not text.strip() or all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        if kind != "runbook":
            return
        raise _Refused("the file is empty", 1, 1,
                       "a runbook starts with `version: 1`, `name:`, `title:` and `steps:`",
                       "yaml-empty")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text) from None
    except yaml.YAMLError as exc:
        raise _Refused(f"YAML: {exc}", 1, 1, _syntax_hint(str(exc)), "yaml-syntax") from None
    except RecursionError:  # the pure-Python composer on absurd nesting
        raise _Refused(f"nesting deeper than {MAX_DEPTH} levels", 1, 1,
                       "flatten the structure", "yaml-depth") from None
    finally:
        loader.dispose()
    if node is None:
        if kind != "runbook":
            return
        raise _Refused("the file is empty", 1, 1, "a runbook starts with `version: 1`",
                       "yaml-empty")
    if kind != "value" and not isinstance(node, yaml.MappingNode):
        shape = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
        hint = ("a runbook is a mapping: `version: 1`, `name: ...`, `title: ...`, "
                "`steps: [...]`") if kind == "runbook" else "write one `name: value` per line"
        message = (f"the top level is {shape}, not a mapping" if kind == "runbook" else
                   f"{what} must hold a mapping of name: value, not {shape}")
        raise _Refused(message, *_mark(node), hint, "yaml-top")
    loaded.data = _Builder(loaded, text.splitlines()).build(node, (), 0)


def iter_paths(data: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every (path, value) in a loaded document, parents before children."""
    yield path, data
    if isinstance(data, dict):
        for k, v in data.items():
            yield from iter_paths(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from iter_paths(v, (*path, i))
