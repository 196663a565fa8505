"""Sandboxed Jinja2 templates and expressions, with escaping chosen by where a value lands.

One environment, compiled templates cached by source. Every `{{ }}` output goes through
`_finalize`, which hands the value to the active destination:

- `sql`: the value becomes a bound parameter (`| ident` an identifier), never query text;
- `shell`: the value is shell-quoted (`| raw` opts out);
- `url`: the value is percent-encoded as one path/query part (a value that starts the URL is
  taken as its base);
- `body`: a raw http body's value is escaped for its content type (a form, JSON);
- `words`: a redis command is split into words *before* templating, so a value is one argument;
- `text`: plain rendering (titles, instructions, connection strings).
"""


from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from jinja2 import TemplateSyntaxError, Undefined, UndefinedError
from jinja2.exceptions import SecurityError, TemplateError

import vvrun.language.templates.budget as budget
from vvrun.errors import Location, RunbookError, VvrunError
from vvrun.language.templates import body_context, shell_context
from vvrun.language.templates.environment import (
    ACTIVE,
    EXPR_IN_TEXT,
    SENTINEL,
    OutputSink,
    TemplateRefused,
    TemplateRenderError,
    TemplateTooLarge,
    compile_expression,
    compile_template,
)
from vvrun.language.templates.names import explain, has_template
from vvrun.language.templates.native import plain, whole_expression
from vvrun.language.templates.taint import env_name
from vvrun.language.templates.unknown import DependsOn, Unknown
from vvrun.language.templates.values import Ident, Param, Raw, ShellText, SqlText
from vvrun.secrets.taint import Tainted


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
        return explain(source, self.context)

    # -- rendering -------------------------------------------------------------------------

    def _render(self, source: str, mode: str) -> tuple[str, list[Any]]:
        sink = OutputSink(mode)
        token = ACTIVE.set(sink)
        try:
            text = budget.render(compile_template(source), self.context)
        except TemplateSyntaxError as exc:
            raise RunbookError(f"template does not parse: {exc.message}", where=self.where) from exc
        except budget.OverBudget as exc:
            raise _too_large(f"template {_short(source)!r}", exc, self.where) from exc
        except SecurityError as exc:
            raise _refused(f"template {source.strip()!r}", exc, self.where) from exc
        except (UndefinedError, TemplateError, ArithmeticError, TypeError, ValueError) as exc:
            raise TemplateRenderError(
                f"template {source.strip()!r} failed: {exc}", where=self.where
            ) from exc
        finally:
            ACTIVE.reset(token)
        return text, sink.values

    def text(self, source: Any) -> Any:
        """Plain rendering. Non-strings pass through unchanged."""
        if not has_template(source):
            return source
        return self._render(source, "text")[0]

    def value(self, source: Any) -> Any:
        """Render every string inside a nested structure (http json, headers, params). A
        string that is one whole `{{ expr }}` whose value is plain data (list, mapping,
        number, boolean, null) gives that value (`native.py`); any other, text."""
        if isinstance(source, str):
            expr = whole_expression(source) if has_template(source) else None
            if expr is not None:
                try:
                    value = self.expr(expr)
                except (VvrunError, DependsOn):
                    pass  # text rendering says what is wrong, as it always has
                else:
                    if plain(value):
                        return list(value) if isinstance(value, tuple) else value
            return self.text(source)
        if isinstance(source, Mapping):
            return {k: self.value(v) for k, v in source.items()}
        if isinstance(source, list | tuple):
            return [self.value(v) for v in source]
        return source

    def sql(self, source: str) -> SqlText:
        if not has_template(source):  # most queries: no Jinja on a step's hot path
            text = as_jinja_renders(source)
            return SqlText((text,) if text else ())
        text, values = self._render(source, "sql")
        parts: list[str | Param | Ident] = []
        pos = 0
        for m in SENTINEL.finditer(text):
            if m.start() > pos:
                parts.append(text[pos : m.start()])
            v = values[int(m.group(1))]
            parts.append(v if isinstance(v, Ident) else Param(v))
            pos = m.end()
        if pos < len(text):
            parts.append(text[pos:])
        return SqlText(tuple(parts))

    def shell(self, source: str) -> ShellText:
        """The command with every value quoted for where it stands — a word, inside `"…"` or
        `'…'`, a heredoc, backticks (`shell_context.py`); a secret (or a value computed from
        one) becomes its `$VVRUN_SECRET_…` variable, its value in `.env`: never in argv."""
        text, values = self._render(source, "shell")
        secrets: dict[str, str] = {}
        places = iter(shell_context.contexts(text, [m.span() for m in SENTINEL.finditer(text)]))

        def word(v: Any, place: str) -> str:
            if isinstance(v, Tainted):
                var = env_name(v, secrets)
                secrets[var] = str.__str__(v)
                if isinstance(v, Raw) and place == shell_context.WORD:
                    return f"${var}"
                return shell_context.variable(var, place)
            if isinstance(v, Raw | Unknown):
                return str(v)
            return shell_context.quote(str(v), place)

        def quote_one(m: re.Match[str]) -> str:
            v, place = values[int(m.group(1))], next(places)
            if isinstance(v, list | tuple):
                return " ".join(word(x, place) for x in v)
            return word(v, place)

        try:
            return ShellText(SENTINEL.sub(quote_one, text), secrets)
        except shell_context.ShellContextError as exc:
            raise TemplateRenderError(
                f"template {_short(source)!r}: {exc}", where=self.where,
                hint="pass the value in the step's `env:` and read it as \"$NAME\", or write "
                "the heredoc as `<<EOF` so that it expands") from exc

    def body(self, source: str, content_type: str | None) -> str:
        """A raw http body, each value escaped for the body's content type: percent-encoded
        in a form, a string's content or a JSON value in JSON, text otherwise
        (`body_context.py`)."""
        kind = body_context.kind_of(content_type)
        if kind is None or not has_template(source):
            return str(self.text(source))
        text, values = self._render(source, "body")
        return body_context.fill(text, values, kind)

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

        return SENTINEL.sub(encode, text)

    def words(self, source: str) -> list[str]:
        """Split a redis command line into words, then render each word on its own."""
        holes: list[str] = []

        def hide(m: re.Match[str]) -> str:
            holes.append(m.group(0))
            return f"\x00vv{len(holes) - 1}\x00"

        hidden = EXPR_IN_TEXT.sub(hide, source)
        try:
            words = shlex.split(hidden)
        except ValueError as exc:
            raise RunbookError(
                f"redis command does not split into words: {exc}", where=self.where
            ) from exc
        out = []
        for word in words:
            restored = SENTINEL.sub(lambda m: holes[int(m.group(1))], word)
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
            value = budget.evaluate(fn, self.context)
        except DependsOn:
            raise
        except budget.OverBudget as exc:
            raise _too_large(f"expression {_short(source)!r}", exc, self.where) from exc
        except SecurityError as exc:
            raise _refused(f"expression {source!r}", exc, self.where) from exc
        except (UndefinedError, TemplateError, ArithmeticError, TypeError, ValueError) as exc:
            raise TemplateRenderError(
                f"expression {source!r} failed: {exc}", where=self.where
            ) from exc
        if isinstance(value, Undefined) and issubclass(value._undefined_exception, SecurityError):
            raise _refused(f"expression {source!r}", SecurityError(value._undefined_message),
                           self.where)
        if isinstance(value, Undefined):
            # A bare name the sandbox hides (`range.__self__`) or that does not exist evaluates
            # to an Undefined without touching it; an expression must say so, not yield it.
            raise TemplateRenderError(
                f"expression {source!r} failed: {value._undefined_message}", where=self.where
            )
        return value


def _short(source: str) -> str:
    source = source.strip()
    return source if len(source) <= 80 else source[:77] + "..."


def _too_large(what: str, exc: budget.OverBudget, where: Location | None) -> VvrunError:
    return TemplateTooLarge(f"{what} is refused: {exc}", where=where,
                            hint="a runbook's templates render short texts; loop over fewer "
                            "items, or do the work in the step (sql, shell) instead")


def _refused(what: str, exc: SecurityError, where: Location | None) -> VvrunError:
    return TemplateRefused(f"{what} is refused: {exc}", where=where,
                           hint="templates read inputs, env, steps and run by key; use a "
                           "filter to transform a value")


def as_jinja_renders(text: str) -> str:
    """What Jinja makes of text with no markup: newlines normalised to `\n`, and one trailing
    newline dropped (its `keep_trailing_newline=False`). A test holds it to Jinja itself."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text[:-1] if text.endswith("\n") else text
