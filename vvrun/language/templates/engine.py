"""Sandboxed Jinja2 templates and expressions, with escaping chosen by where a value lands.

One environment, compiled templates cached by source. Every `{{ }}` output goes through
`_finalize`, which hands the value to the active destination:

- `sql`: the value becomes a bound parameter (`| ident` an identifier), never query text;
- `shell`: the value is shell-quoted (`| raw` opts out);
- `url`: the value is percent-encoded as one path/query part (a value that starts the URL is
  taken as its base);
- `words`: a redis command is split into words *before* templating, so a value is one argument;
- `text`: plain rendering (titles, instructions, connection strings).
"""

from __future__ import annotations

import base64
import contextvars
import json
import operator
import re
import shlex
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from vvrun.errors import Location, RunbookError, StepFailed

MAX_POWER_EXPONENT = 256
MAX_SEQUENCE_PRODUCT = 1_000_000


class Raw(str):
    """A value that opted out of escaping with `| raw` (shell only)."""


@dataclass(frozen=True)
class Ident:
    """An SQL identifier made with `| ident`; quoted as an identifier, not bound."""

    name: str

    def quoted(self) -> str:
        return '"' + self.name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Param:
    """A value bound as an SQL parameter."""

    value: Any


@dataclass(frozen=True)
class SqlText:
    """SQL with its templated values kept apart: text, Param and Ident parts in order."""

    parts: tuple[str | Param | Ident, ...]

    @property
    def params(self) -> tuple[Any, ...]:
        return tuple(p.value for p in self.parts if isinstance(p, Param))

    def display(self) -> str:
        """The query as a reviewer reads it: `$1`, `$2`… where values are bound."""
        out, n = [], 0
        for part in self.parts:
            if isinstance(part, Param):
                n += 1
                out.append(f"${n}")
            elif isinstance(part, Ident):
                out.append(part.quoted())
            else:
                out.append(part)
        return "".join(out)

    def for_driver(self) -> tuple[str, tuple[Any, ...] | None]:
        """The query in psycopg's `%s` style, with literal `%` doubled when there are params."""
        if not any(isinstance(p, Param) for p in self.parts):
            return self.display(), None
        out = []
        for part in self.parts:
            if isinstance(part, Param):
                out.append("%s")
            elif isinstance(part, Ident):
                out.append(part.quoted().replace("%", "%%"))
            else:
                out.append(part.replace("%", "%%"))
        return "".join(out), self.params


class Unknown:
    """A value only a live run can know (plans): renders as `⟨path⟩`, and any attribute,
    item or operation on it gives another Unknown. Truth-testing raises `DependsOn`."""

    __slots__ = ("path",)

    def __init__(self, path: str):
        self.path = path

    def __getattr__(self, name: str) -> Unknown:
        if name.startswith("__"):
            raise AttributeError(name)
        return Unknown(f"{self.path}.{name}")

    def __getitem__(self, key: Any) -> Unknown:
        if isinstance(key, slice):
            return Unknown(f"{self.path}[…]")
        return Unknown(f"{self.path}[{key!r}]")

    def __str__(self) -> str:
        return f"⟨{self.path}⟩"

    __repr__ = __str__

    def __bool__(self) -> bool:
        raise DependsOn(self.path)

    def __iter__(self):  # a loop over an unknown list is one unknown item
        yield Unknown(f"{self.path}[…]")

    def __reversed__(self) -> Unknown:  # `| reverse` keeps the placeholder (⟨secret⟩ stays it)
        return Unknown(self.path)

    def __len__(self) -> int:
        raise DependsOn(self.path)

    def __eq__(self, other: object) -> Unknown:  # type: ignore[override]
        return Unknown(self.path)

    __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __eq__
    __hash__ = object.__hash__

    def _op(self, *_: Any) -> Unknown:
        return Unknown(self.path)

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _op
    __truediv__ = __rtruediv__ = __floordiv__ = __mod__ = __neg__ = __pow__ = _op
    __contains__ = _op


class DependsOn(Exception):
    """Raised when a plan needs the truth of a value only a live run knows."""

    def __init__(self, path: str):
        super().__init__(path)
        self.path = path


class EnvVars(dict):  # type: ignore[type-arg]
    """The process environment as templates see it (`env.NAME`): a name that is not set gets a
    message that says so, instead of "'dict object' has no attribute"."""


class _Undefined(StrictUndefined):
    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if isinstance(self._undefined_obj, EnvVars):
            return (f"the environment variable {self._undefined_name} is not set "
                    f"(export it, or default it: env.{self._undefined_name} | default('…'))")
        return super()._undefined_message


class TemplateRenderError(StepFailed):
    """A template or expression failed while rendering (undefined name, bad operation)."""


class _Sink:
    """Collects the values of one render for its destination."""

    def __init__(self, mode: str):
        self.mode = mode
        self.values: list[Any] = []

    def take(self, value: Any) -> str:
        self.values.append(value)
        return f"\x00vv{len(self.values) - 1}\x00"


_SENTINEL = re.compile(r"\x00vv(\d+)\x00")
_EXPR_IN_TEXT = re.compile(r"\{\{.*?\}\}", re.S)
_active: contextvars.ContextVar[_Sink | None] = contextvars.ContextVar("vvrun_sink", default=None)


def _keeps_unknown(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """A filter that passes an Unknown through (as `⟨x | name⟩`) instead of computing on its
    placeholder text: a plan must show what it cannot know, never a wrong value."""

    pass_arg = getattr(fn, "jinja_pass_arg", None)  # filters that take the env/context first
    if pass_arg is None:

        def wrapped(value: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(value, Unknown):
                return Unknown(f"{value.path} | {name}")
            return fn(value, *args, **kwargs)

        return wrapped

    def wrapped_passing(first: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, Unknown):
            return Unknown(f"{value.path} | {name}")
        return fn(first, value, *args, **kwargs)

    wrapped_passing.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    return wrapped_passing


def _host(value: Any) -> str:
    return urlsplit(str(value)).hostname or ""


def _b64encode(value: Any) -> str:
    data = value if isinstance(value, bytes) else str(value).encode()
    return base64.b64encode(data).decode()


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"**", "*"})

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        # A budget for pathological expressions: `9**9**9` or `'a'*10**9` must fail fast.
        if operator_ == "**":
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and abs(right) > MAX_POWER_EXPONENT
                and abs(left) > 1
            ):
                raise SecurityError(f"{left} ** {right} is too large to compute")
            return operator.pow(left, right)
        if operator_ == "*":
            for seq, n in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(n, int)
                    and len(seq) * n > MAX_SEQUENCE_PRODUCT
                ):
                    raise SecurityError("the result of `*` would be too large")
            return operator.mul(left, right)
        return super().call_binop(context, operator_, left, right)


def _finalize(value: Any) -> Any:
    sink = _active.get()
    if sink is None or sink.mode == "text":
        return value
    return sink.take(value)


def make_environment() -> _Environment:
    # Jinja's `{# #}` comments would swallow bash's `${#VAR}` (string length) in shell steps;
    # runbooks have YAML comments, so template comments take a spelling nobody writes by chance.
    env = _Environment(undefined=_Undefined, finalize=_finalize, autoescape=False,
                       comment_start_string="{##", comment_end_string="##}")
    env.filters["ident"] = lambda v: Ident(str(v))
    env.filters["raw"] = lambda v: Raw(str(v))
    env.filters["host"] = _host
    env.filters["b64encode"] = _b64encode
    for name in ("host", "b64encode", "int", "float", "length", "count", "abs", "round",
                 "urlencode", "tojson", "sum", "min", "max", "first", "last"):
        env.filters[name] = _keeps_unknown(env.filters[name], name)
    return env


ENV = make_environment()
_templates: dict[str, Any] = {}
_expressions: dict[str, Any] = {}


def compile_template(source: str) -> Any:
    """Compile once, cached by source. Raises jinja2.TemplateSyntaxError."""
    tpl = _templates.get(source)
    if tpl is None:
        tpl = _templates[source] = ENV.from_string(source)
    return tpl


def compile_expression(source: str) -> Callable[..., Any]:
    """Compile a bare expression once, cached by source. Raises jinja2.TemplateSyntaxError."""
    expr = _expressions.get(source)
    if expr is None:
        expr = _expressions[source] = ENV.compile_expression(source, undefined_to_none=False)
    return expr


@lru_cache(maxsize=4096)
def referenced_names(source: str, *, expression: bool = False) -> tuple[tuple[str, ...], ...]:
    """Dotted paths a template or expression reads from its context, e.g. ('steps', 'x',
    'result', 'rows', '0'), without the names it defines itself ({% set %}, loop variables).
    Raises jinja2.TemplateSyntaxError. Cached: the same snippets recur across steps and files."""
    return template_names(ENV.parse("{{ " + source + " }}" if expression else source))


def template_names(ast: nodes.Node) -> tuple[tuple[str, ...], ...]:
    """The paths a parsed template reads (see `referenced_names`)."""
    local = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    if any(True for _ in ast.find_all(nodes.For)):
        local.add("loop")
    local |= set(ENV.globals)
    return tuple(p for p in _walk(ast) if p[0] not in local)


def _walk(node: nodes.Node) -> Iterator[tuple[str, ...]]:
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        chain: list[str] = []
        cur: nodes.Node = node
        while isinstance(cur, nodes.Getattr | nodes.Getitem):
            if isinstance(cur, nodes.Getattr):
                chain.append(cur.attr)
            elif isinstance(cur.arg, nodes.Const) and isinstance(cur.arg.value, str | int):
                chain.append(str(cur.arg.value))
            else:
                chain.clear()
                yield from _walk(cur.arg)
            cur = cur.node
        if isinstance(cur, nodes.Name) and cur.ctx == "load":
            yield (cur.name, *reversed(chain))
        else:
            yield from _walk(cur)
        return
    if isinstance(node, nodes.Name) and node.ctx == "load":
        yield (node.name,)
        return
    for child in node.iter_child_nodes():
        yield from _walk(child)


MAX_SHOWN = 200  # characters of one value shown when an expression does not hold


def explain(source: str, tpl: Templater, mask: Callable[[str], str] = str) -> str:
    """`result.rowcount = 3, inputs.limit = 2`: the values an expression read, for the message
    of an `expect`, `retry.until` or `verify` that does not hold."""
    try:
        paths = referenced_names(source, expression=True)
    except TemplateSyntaxError:  # a bad expression already failed with its own message
        return ""
    seen: list[str] = []
    for path in paths:
        name = ".".join(path)
        if name in seen or any(s.startswith(name + " =") for s in seen):
            continue
        found, value = _lookup(tpl.context, path)
        if not found:
            continue
        text = repr(value) if isinstance(value, str) else json.dumps(
            value, default=str, ensure_ascii=False)
        if len(text) > MAX_SHOWN:
            text = text[: MAX_SHOWN - 1] + "…"
        seen.append(f"{name} = {mask(text)}")
    return ", ".join(seen)


def _lookup(context: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    if not path or path[0] not in context:
        return False, None
    value: Any = context[path[0]]
    for part in path[1:]:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def has_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


class Templater:
    """Renders a step's templates against one context; the only way values reach actions."""

    def __init__(self, context: Mapping[str, Any], *, where: Location | None = None):
        self.context = dict(context)
        self.where = where

    def child(self, **extra: Any) -> Templater:
        """The same context plus names (`result`, `item`, `loop`)."""
        return Templater({**self.context, **extra}, where=self.where)

    def only(self, **context: Any) -> Templater:
        """A templater over just these names (to explain an expression about `result`)."""
        return Templater(context, where=self.where)

    def explain(self, source: str) -> str:
        """The values the expression `source` read, for the message of a check that failed."""
        return explain(source, self)

    # -- rendering -------------------------------------------------------------------------

    def _render(self, source: str, mode: str) -> tuple[str, list[Any]]:
        sink = _Sink(mode)
        token = _active.set(sink)
        try:
            text = compile_template(source).render(self.context)
        except TemplateSyntaxError as exc:
            raise RunbookError(f"template does not parse: {exc.message}", where=self.where) from exc
        except (UndefinedError, SecurityError, TemplateError, ArithmeticError, TypeError) as exc:
            raise TemplateRenderError(
                f"template {source.strip()!r} failed: {exc}", where=self.where
            ) from exc
        finally:
            _active.reset(token)
        return text, sink.values

    def text(self, source: Any) -> Any:
        """Plain rendering. Non-strings pass through unchanged."""
        if not has_template(source):
            return source
        return self._render(source, "text")[0]

    def value(self, source: Any) -> Any:
        """Render every string inside a nested structure (http json, headers, params)."""
        if isinstance(source, str):
            return self.text(source)
        if isinstance(source, Mapping):
            return {k: self.value(v) for k, v in source.items()}
        if isinstance(source, list | tuple):
            return [self.value(v) for v in source]
        return source

    def sql(self, source: str) -> SqlText:
        text, values = self._render(source, "sql")
        parts: list[str | Param | Ident] = []
        pos = 0
        for m in _SENTINEL.finditer(text):
            if m.start() > pos:
                parts.append(text[pos : m.start()])
            v = values[int(m.group(1))]
            parts.append(v if isinstance(v, Ident) else Param(v))
            pos = m.end()
        if pos < len(text):
            parts.append(text[pos:])
        return SqlText(tuple(parts))

    def shell(self, source: str) -> str:
        text, values = self._render(source, "shell")

        def quote_one(m: re.Match[str]) -> str:
            v = values[int(m.group(1))]
            if isinstance(v, Raw):
                return str(v)
            if isinstance(v, Unknown):
                return str(v)
            if isinstance(v, list | tuple):
                return " ".join(shlex.quote(str(x)) for x in v)
            return shlex.quote(str(v))

        return _SENTINEL.sub(quote_one, text)

    def url(self, source: str) -> str:
        text, values = self._render(source, "url")

        def encode(m: re.Match[str]) -> str:
            v = values[int(m.group(1))]
            if m.start() == 0 or isinstance(v, Unknown):
                return str(v)  # a value that starts the URL is its base (scheme and host)
            s = str(v)
            if s in (".", ".."):
                return s.replace(".", "%2E")  # no dot segments: they would climb the path
            return quote(s, safe="")

        return _SENTINEL.sub(encode, text)

    def words(self, source: str) -> list[str]:
        """Split a redis command line into words, then render each word on its own."""
        holes: list[str] = []

        def hide(m: re.Match[str]) -> str:
            holes.append(m.group(0))
            return f"\x00vv{len(holes) - 1}\x00"

        hidden = _EXPR_IN_TEXT.sub(hide, source)
        try:
            words = shlex.split(hidden)
        except ValueError as exc:
            raise RunbookError(
                f"redis command does not split into words: {exc}", where=self.where
            ) from exc
        out = []
        for word in words:
            restored = _SENTINEL.sub(lambda m: holes[int(m.group(1))], word)
            out.append(str(self.text(restored)))
        return out

    # -- expressions -----------------------------------------------------------------------

    def expr(self, source: str) -> Any:
        """Evaluate a bare expression (`when`, `expect`, `outputs`, `retry.until`)."""
        try:
            fn = compile_expression(source)
        except TemplateSyntaxError as exc:
            raise RunbookError(
                f"expression {source!r} does not parse: {exc.message}", where=self.where
            ) from exc
        try:
            value = fn(**self.context)
        except DependsOn:
            raise
        except (UndefinedError, SecurityError, TemplateError, ArithmeticError, TypeError) as exc:
            raise TemplateRenderError(
                f"expression {source!r} failed: {exc}", where=self.where
            ) from exc
        if isinstance(value, Undefined):
            # A bare name the sandbox hides (`range.__self__`) or that does not exist evaluates
            # to an Undefined without touching it; an expression must say so, not yield it.
            raise TemplateRenderError(
                f"expression {source!r} failed: {value._undefined_message}", where=self.where
            )
        return value
