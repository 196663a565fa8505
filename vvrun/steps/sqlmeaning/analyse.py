"""SQL understood through PostgreSQL's own parser (libpg_query, through `pglast`).

`analyse(text)` says what a `sql` step's text means: its statements and their kinds, what makes
it dangerous, whether it is provably read-only, where each `{{ }}` lands (code, a string, a
comment), and a syntax error with its line and column. Every `{{ }}` is replaced by a
placeholder of the same length before parsing (`$1`, or a quoted identifier for `| ident`), so
positions in the parsed text are positions in the runbook.

pglast costs ~25–47 ms to import, so it is imported only when a text is not in the cache
(`sqlmeaning.cache`): a second `validate` of an unchanged runbook does not load it.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from vvrun.steps.sqlmeaning import cache as sql_cache
from vvrun.steps.sqlmeaning import rules as sql_rules

_HOLE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_IDENT_FILTER = re.compile(r"\|\s*ident\s*-?\}\}$")
_IDENT_PLACEHOLDER = re.compile(r"^@(\d+)$")
_CONTEXTS = {"SQL_COMMENT": "line_comment", "C_COMMENT": "block_comment"}


@dataclass(frozen=True)
class Hole:
    """A `{{ … }}` in the text: where it is, what it sits in, which statement holds it."""

    start: int
    end: int
    context: str  # code | single_quote | double_quote | dollar_quote | line_comment | block_comment
    statement: int  # index into `SqlMeaning.statements`; -1 when the text does not parse
    ident: bool  # `{{ x | ident }}`: an identifier, not a bound value


@dataclass(frozen=True)
class Statement:
    """One parsed statement: its kind, place in the text, dangers, and read-only verdict."""

    kind: str  # SELECT, DELETE, DROP TABLE, SET, BEGIN, …
    start: int
    end: int
    takes_params: bool  # utility statements (SET, DDL, VACUUM…) cannot bind values
    returns_rows: bool
    dangers: tuple[str, ...]
    not_read_only: str | None


@dataclass(frozen=True)
class ParseProblem:
    """Why a statement did not parse, and where in the text."""

    message: str
    offset: int  # 0-based character offset in the text
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.message} (line {self.line}, column {self.column})"


@dataclass(frozen=True)
class SqlMeaning:
    """What a step's SQL does as a whole: its statements and their danger."""

    statements: tuple[Statement, ...]
    holes: tuple[Hole, ...] = ()
    parse_error: ParseProblem | None = None
    values_need_literals: bool = False  # parses only with literals where the `{{ }}` are

    @property
    def count(self) -> int:
        return len(self.statements)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(s.kind for s in self.statements)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the text is dangerous, in plain words; empty when it is not."""
        return tuple(dict.fromkeys(r for s in self.statements for r in s.dangers))

    @property
    def dangerous(self) -> bool:
        return bool(self.reasons)

    @property
    def read_only_proof(self) -> str | None:
        """None when every statement is proven read-only; else why it cannot be."""
        if self.parse_error is not None:
            return f"the SQL does not parse: {self.parse_error}"
        if not self.statements:
            return "there is no statement to run"
        return next((s.not_read_only for s in self.statements if s.not_read_only), None)

    @property
    def read_only(self) -> bool:
        return self.read_only_proof is None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SqlMeaning:
        error = data["parse_error"]
        return cls(
            statements=tuple(Statement(**{**s, "dangers": tuple(s["dangers"])})
                             for s in data["statements"]),
            holes=tuple(Hole(**h) for h in data["holes"]),
            parse_error=ParseProblem(**error) if error else None,
            values_need_literals=bool(data["values_need_literals"]),
        )


@functools.lru_cache(maxsize=512)
def analyse(text: str, *, template: bool = True, cached: bool = True) -> SqlMeaning:
    """What `text` means. `template`: it is runbook source with `{{ }}` (validate, plan);
    False for rendered SQL (`$1` where values are bound), which is analysed as it is.
    `cached=False` never trusts the disk cache (the runtime read-only proof)."""
    key = sql_cache.key(("template:" if template else "rendered:") + text)
    if cached:
        hit = sql_cache.load(key)
        if hit is not None:
            try:
                return SqlMeaning.from_json(hit)
            except (KeyError, TypeError, ValueError, AttributeError):
                pass  # an old or damaged entry: parse again
    meaning = _analyse(text, template)
    sql_cache.store(key, meaning.to_json())
    return meaning


def _analyse(text: str, template: bool) -> SqlMeaning:
    from pglast import parser

    spans = [m.span() for m in _HOLE.finditer(text)] if template else []
    holes = [(a, b) for a, b in spans if text.startswith("{{", a)]
    params = _placeholders(text, spans, literal=False)
    try:
        tree = json.loads(parser.parse_sql_json(params))
        literals = False
    except parser.ParseError as exc:
        problem = _problem(params, exc)
        if not holes:
            return SqlMeaning((), parse_error=problem)
        try:  # `SET x TO {{ v }}` parses only with a literal there: say so, not "syntax error"
            tree = json.loads(parser.parse_sql_json(_placeholders(text, spans, literal=True)))
            literals = True
        except parser.ParseError:
            return SqlMeaning((), _holes(text, params, holes, ()), problem)
    statements = _statements(text, params, tree, holes)
    return SqlMeaning(statements, _holes(text, params, holes, statements), None, literals)


def _placeholders(text: str, spans: list[tuple[int, int]], *, literal: bool) -> str:
    """The text with each `{{ }}` as a placeholder of the same length (newlines kept), and
    `{% %}`/`{# #}` blanked."""
    out, pos, n = [], 0, 0
    for a, b in spans:
        out.append(text[pos:a])
        hole = text[a:b]
        if hole.startswith("{{"):
            n += 1
            mark = f'"@{n}"' if _IDENT_FILTER.search(hole) else "1" if literal else f"${n}"
        else:
            mark = ""
        out.append(mark + re.sub(r"[^\n]", " ", hole[len(mark):]))
        pos = b
    out.append(text[pos:])
    return "".join(out)


def _problem(text: str, exc: Any) -> ParseProblem:
    message = str(exc.args[0]) if exc.args else str(exc)
    offset = exc.args[1] if len(exc.args) > 1 and exc.args[1] is not None else len(text)
    offset = max(0, min(int(offset), len(text)))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return ParseProblem(message, offset, line, column)


def _statements(text: str, params: str, tree: dict[str, Any],
                holes: list[tuple[int, int]]) -> tuple[Statement, ...]:
    source = params.encode()
    chars = _char_offsets(params, source)

    def show(name: str) -> str:
        m = _IDENT_PLACEHOLDER.match(name)
        if m and int(m.group(1)) <= len(holes):
            a, b = holes[int(m.group(1)) - 1]
            return text[a:b]
        return name

    out = []
    for raw in tree.get("stmts", []):
        stmt = raw["stmt"]
        begin = raw.get("stmt_location", 0)
        length = raw.get("stmt_len", 0) or len(source) - begin
        out.append(Statement(
            kind=sql_rules.kind(stmt),
            start=chars(begin),
            end=chars(begin + length),
            takes_params=sql_rules.takes_params(stmt),
            returns_rows=sql_rules.returns_rows(stmt),
            dangers=tuple(sql_rules.dangers(stmt, source, show)),
            not_read_only=sql_rules.not_read_only(stmt),
        ))
    return tuple(out)


def _char_offsets(text: str, source: bytes) -> Any:
    """Byte offset in the UTF-8 text → character offset (the tree counts bytes)."""
    if len(source) == len(text):
        return lambda offset: offset
    return lambda offset: len(source[:offset].decode("utf-8", "ignore"))


def _holes(text: str, params: str, holes: list[tuple[int, int]],
           statements: tuple[Statement, ...]) -> tuple[Hole, ...]:
    if not holes:
        return ()
    from pglast import parser

    try:
        tokens = parser.scan(params)
    except parser.ParseError:
        tokens = []
    out = []
    for a, b in holes:
        token = next((t for t in tokens if t.start <= a <= t.end), None)
        index = next((i for i, s in enumerate(statements) if s.start <= a < s.end), -1)
        ident = bool(_IDENT_FILTER.search(text[a:b]))
        context = "code" if ident and token is not None and token.start == a else \
            _context(params, token)
        out.append(Hole(a, b, context, index, ident))
    return tuple(out)


def _context(params: str, token: Any) -> str:
    if token is None:
        return "code"
    if token.name in _CONTEXTS:
        return _CONTEXTS[token.name]
    first = params[token.start]
    if token.name == "SCONST":
        return "dollar_quote" if first == "$" else "single_quote"
    if token.name == "IDENT" and first == '"':
        return "double_quote"
    return "code"
