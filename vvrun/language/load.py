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
from yaml.composer import Composer
from yaml.events import AliasEvent

from vvrun.errors import Location, Problem
from vvrun.language.positions import Path, Positions, content_start
from vvrun.language.source import (
    LIMIT_ENV,
    MAX_BYTES,
    SourceRefused,
    decode_utf8,
    max_bytes,
    read_source,
    show_size,
)
from vvrun.language.yaml_errors import (
    MAX_DEPTH,
    Refused,
    reader_error,
    syntax_error,
    syntax_hint,
)

__all__ = ["MAX_BYTES", "MAX_DEPTH", "Loaded", "Positions", "iter_paths", "load_bytes", "load_file"]

MAX_NODES = 100_000  # values after alias expansion (a "billion laughs" stops here)
MAX_ALIASES = 200  # uses of `*anchor` in one file
# characters that aliases repeat: a 200 KB string used 2,000 times is 400 MB for every later
# pass (schema, templates, masking) though the file is small; as much again as a file may hold
MAX_REPEATED = 1_000_000

Where = tuple[int, int]

_BaseLoader: Any = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader

_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge")}


class _Alias:
    """An `*alias` in the node tree: the node it repeats and where the alias is written."""

    __slots__ = ("node", "where")

    def __init__(self, node: yaml.Node, where: Where):
        self.node, self.where = node, where


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """PyYAML's (C, when present) safe loader with YAML 1.2 core resolution.

    The tree is composed in Python from the C parser's events (about 0.4 ms more for a
    40-step runbook): the C composer hands back an alias as the anchored node itself, so a
    problem inside a repeated value could only be shown at the anchor, and it recurses
    without a bound of its own.
    """

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {}
    get_single_node = Composer.get_single_node
    compose_document = Composer.compose_document
    compose_scalar_node = Composer.compose_scalar_node
    compose_sequence_node = Composer.compose_sequence_node
    compose_mapping_node = Composer.compose_mapping_node

    def __init__(self, stream: str):
        super().__init__(stream)
        self.anchors: dict[str, yaml.Node] = {}
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            return _Alias(Composer.compose_node(self, parent, index),
                          (event.start_mark.line + 1, event.start_mark.column + 1))
        self.depth += 1
        if self.depth > MAX_DEPTH + 1:  # the builder says it for aliased nesting too
            raise Refused(f"nesting deeper than {MAX_DEPTH} levels", event.start_mark.line + 1,
                           event.start_mark.column + 1, "flatten the structure", "yaml-depth")
        try:
            return Composer.compose_node(self, parent, index)
        finally:
            self.depth -= 1


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
class Loaded:
    """A loaded file: its data (None when it could not be loaded) and what went wrong."""

    path: str
    source: bytes
    data: Any = None
    positions: Positions = field(default_factory=Positions)
    texts: dict[Path, str] = field(default_factory=dict)  # scalars that became numbers/bools
    problems: list[Problem] = field(default_factory=list)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _scalar(node: yaml.ScalarNode, where: tuple[int, int]) -> Any:
    tag, text = node.tag, node.value
    if tag == _TAG + "str":
        return text
    if tag == _TAG + "null":
        if text not in ("", "~", "null", "Null", "NULL"):
            raise Refused(f"{text!r} is not null", *where, "remove the `!!null` tag", "yaml-tag")
        return None
    if tag == _TAG + "bool":
        low = text.lower()
        if low not in ("true", "false"):
            raise Refused(f"{text!r} is not a boolean", *where, "write true or false", "yaml-tag")
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
            raise Refused(f"{text!r} is not an integer", *where, "remove the `!!int` tag",
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
            raise Refused(f"{text!r} is not a number", *where, "remove the `!!float` tag",
                           "yaml-tag") from None
    raise AssertionError(tag)  # tags are checked before


class _Builder:
    """Turns a composed node tree into plain data, filling the positions table."""

    def __init__(self, loaded: Loaded):
        self.loaded = loaded
        self.positions = loaded.positions
        self.nodes = 0
        self.aliases = 0
        self.repeated = 0  # characters of text that aliases repeat

    def build(self, node: Any, path: Path, depth: int, alias_at: Where | None = None) -> Any:
        """`alias_at`: inside a value an `*alias` repeats, the alias's position, where every
        problem with that value is reported (the anchor's text is not where it was used)."""
        if isinstance(node, _Alias):
            alias_at = alias_at or node.where
            node, again = node.node, True
        else:
            again = False
        where = alias_at or _mark(node)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            if self.aliases:
                raise Refused(
                    f"the document expands to more than {MAX_NODES:,} values through its "
                    "aliases", *where, "use fewer `*alias` references (an alias of a list of "
                    "aliases multiplies); a runbook does not need an alias bomb", "yaml-aliases")
            raise Refused(f"the file holds more than {MAX_NODES:,} values", *where,
                           "split it into several runbooks", "yaml-size")
        if depth > MAX_DEPTH:
            raise Refused(f"nesting deeper than {MAX_DEPTH} levels", *where,
                           "flatten the structure (or a `*alias` refers to its own anchor)",
                           "yaml-depth")
        if again:
            self._alias(where)
        if alias_at and isinstance(node, yaml.ScalarNode):
            self.repeated += len(node.value)
            if self.repeated > MAX_REPEATED:
                raise Refused(f"aliases repeat more than {MAX_REPEATED:,} characters of text",
                               *where, "write a long value once (an input's default, say) "
                               "instead of repeating it with `*alias`", "yaml-aliases")
        if node.tag not in _ALLOWED_TAGS:
            raise Refused(
                f"the tag {node.tag.replace(_TAG, '!!')!r} is not allowed",
                *where, "runbooks use plain YAML values only: remove the tag (quote the value "
                "if it should be text)", "yaml-tag")
        self.positions.values[path] = where
        if isinstance(node, yaml.ScalarNode):
            value = _scalar(node, where)
            if isinstance(value, str) and not alias_at:  # a repeat is shown at its alias
                self.positions.blocks[path] = (node.style or None, content_start(
                    self.positions.text, node.start_mark.index, node.style))
            elif not isinstance(value, str) and not node.style and value is not None:
                self.loaded.texts[path] = node.value
            return value
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1, alias_at)
                    for i, item in enumerate(node.value)]
        return self._mapping(node, path, depth, alias_at)

    def _alias(self, where: Where) -> None:
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise Refused(f"more than {MAX_ALIASES} alias uses", *where,
                           "write the values out; aliases this many are hard to review",
                           "yaml-aliases")

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int,
                 alias_at: Where | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_seen: dict[str, tuple[int, int]] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_where = alias_at or _mark(key_node)
            if key_node.tag == _TAG + "merge":
                merged.update(self._merge(value_node, path, depth, alias_at))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise Refused("a mapping key must be a plain word, not a list or mapping",
                               *key_where, "use a simple key like `name:`", "yaml-key")
            if key_node.tag not in _ALLOWED_TAGS:
                raise Refused(f"the tag {key_node.tag.replace(_TAG, '!!')!r} is not allowed",
                               *key_where, "remove the tag", "yaml-tag")
            key = key_node.value  # the key as written: `on:` is "on", `1:` is "1"
            if key in first_seen:
                if alias_at:
                    continue  # reported where the anchor's text is
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
            out[key] = self.build(value_node, (*path, key), depth + 1, alias_at)
        for key, value in merged.items():
            out.setdefault(key, value)
        return out

    def _merge(self, node: Any, path: Path, depth: int,
               alias_at: Where | None) -> dict[str, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out: dict[str, Any] = {}
        for src in sources:
            at = alias_at
            if isinstance(src, _Alias):  # `<<: *base`: its values are repeated text too
                self._alias(src.where)
                src, at = src.node, at or src.where
            if not isinstance(src, yaml.MappingNode):
                raise Refused("`<<` merges mappings only", *(at or _mark(src)),
                               "write `<<: *anchor` where the anchor is a mapping", "yaml-merge")
            for key, value in self._mapping(src, path, depth + 1, at).items():
                out.setdefault(key, value)
        return out


#: what each kind of document is, for the messages that name it
_KINDS = {
    "runbook": ("the file", "split it into several runbooks"),
    "vars": ("--vars-file", "keep the values a runbook needs, one `name: value` per line"),
    "value": ("the value", "give a shorter value"),
}
_CODES = {"file-size": "yaml-size", "encoding": "yaml-encoding"}


def _refused(exc: SourceRefused) -> Refused:
    return Refused(exc.message, exc.line, exc.column, exc.hint, _CODES.get(exc.code, exc.code))


def load_bytes(raw: bytes, path: str, *, kind: str = "runbook") -> Loaded:
    """Load a document's bytes (`kind`: "runbook", "vars" — a `--vars-file` —, or "value").
    Never raises for bad input: problems are in `Loaded.problems`."""
    loaded = Loaded(path=path, source=raw)
    try:
        _load_into(loaded, raw, kind)
    except Refused as exc:
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
        raise Refused("the file is empty", 1, 1,
                       "a runbook starts with `version: 1`, `name:`, `title:` and `steps:`",
                       "yaml-empty")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise syntax_error(exc, text) from None
    except yaml.reader.ReaderError as exc:
        raise reader_error(exc, text) from None
    except yaml.YAMLError as exc:
        raise Refused(f"YAML: {exc}", 1, 1, syntax_hint(str(exc)), "yaml-syntax") from None
    except RecursionError:  # the pure-Python composer on absurd nesting
        raise Refused(f"nesting deeper than {MAX_DEPTH} levels", 1, 1,
                       "flatten the structure", "yaml-depth") from None
    finally:
        loader.dispose()
    if node is None:
        if kind != "runbook":
            return
        raise Refused("the file is empty", 1, 1, "a runbook starts with `version: 1`",
                       "yaml-empty")
    if kind != "value" and not isinstance(node, yaml.MappingNode):
        shape = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
        hint = ("a runbook is a mapping: `version: 1`, `name: ...`, `title: ...`, "
                "`steps: [...]`") if kind == "runbook" else "write one `name: value` per line"
        message = (f"the top level is {shape}, not a mapping" if kind == "runbook" else
                   f"{what} must hold a mapping of name: value, not {shape}")
        raise Refused(message, *_mark(node), hint, "yaml-top")
    loaded.positions.text = text
    loaded.data = _Builder(loaded).build(node, (), 0)


def iter_paths(data: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every (path, value) in a loaded document, parents before children."""
    yield path, data
    if isinstance(data, dict):
        for k, v in data.items():
            yield from iter_paths(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from iter_paths(v, (*path, i))
