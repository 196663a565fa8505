"""The one sandboxed Jinja2 environment: undefined names are errors, `{{ }}` output goes to
the active destination (`finalize`), pathological arithmetic is refused, compiled once."""

from __future__ import annotations

import contextvars
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, Undefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

import vvrun.language.templates.allowed as allowed
import vvrun.language.templates.budget as budget
from vvrun.errors import RunbookError, StepFailed
from vvrun.language.templates.filters import (
    args_elsewhere,
    b64encode,
    ends_with,
    host,
    keeps_unknown,
    split,
    splitlines,
    starts_with,
)
from vvrun.language.templates.lookup import KeyFirst
from vvrun.language.templates.taint import TaintCodeGenerator, concat, propagating
from vvrun.language.templates.values import Ident, Raw
from vvrun.secrets import Masker, env_name_is_secret
from vvrun.secrets.taint import Tainted

MAX_POWER_EXPONENT = 256
MAX_SEQUENCE_PRODUCT = 1_000_000


class EnvVars(dict):  # type: ignore[type-arg]
    """The process environment as templates see it (`env.NAME`): a name that is not set gets a
    message that says so, instead of "'dict object' has no attribute". Given the run's masker,
    a variable that holds a secret (`*_TOKEN`, `*PASSWORD*`, a URL with a password) is read as
    a secret: what a template computes from it is masked too (SPEC §5.4)."""

    def __init__(self, environ: Mapping[str, str] = (), *,  # type: ignore[assignment]
                 masker: Masker | None = None):
        super().__init__(environ)
        self.masker = masker

    def __getitem__(self, name: str) -> Any:
        value = super().__getitem__(name)
        if self.masker is None or not isinstance(value, str) or isinstance(value, Tainted):
            return value
        if env_name_is_secret(name) or self.masker.contains_secret(value):
            return Tainted(value, self.masker, name)
        return value


class VvrunUndefined(StrictUndefined):
    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if isinstance(self._undefined_obj, EnvVars):  # never list the environment's names
            return (f"the environment variable {self._undefined_name} is not set "
                    f"(export it, or default it: env.{self._undefined_name} | default('…'))")
        if self._undefined_hint is None and isinstance(self._undefined_obj, Mapping):
            keys = ", ".join(sorted(map(str, self._undefined_obj))[:12]) or "none"
            return f"no key {self._undefined_name!r} here (its keys: {keys})"
        return super()._undefined_message


class TemplateRenderError(StepFailed):
    """A template or expression failed while rendering (undefined name, bad operation)."""


class TemplateRefused(RunbookError):
    """The sandbox refused what a template reached for (`__class__`, `mro`…): the runbook is
    wrong, whatever the values (exit 2), in a run as in a plan."""


class TemplateTooLarge(TemplateRefused):
    """A render went over its budget (`budget.py`): loops, `range()`, or text too large."""


class OutputSink:
    """Collects the values of one render for its destination."""

    def __init__(self, mode: str):
        self.mode = mode
        self.values: list[Any] = []

    def take(self, value: Any) -> str:
        self.values.append(value)
        return f"\x00vv{len(self.values) - 1}\x00"


SENTINEL = re.compile(r"\x00vv(\d+)\x00")
EXPR_IN_TEXT = re.compile(r"\{\{.*?\}\}", re.S)
ACTIVE: contextvars.ContextVar[OutputSink | None] = contextvars.ContextVar(
    "vvrun_sink", default=None)



class SandboxEnvironment(KeyFirst, ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"**", "*", "+", "%"})
    code_generator_class = TaintCodeGenerator  # `a ~ b` keeps a secret's taint

    @staticmethod
    def taint_concat(parts: tuple[Any, ...]) -> str:
        return concat(parts)

    def _parse(self, source: str, name: str | None, filename: str | None) -> Any:
        return budget.guard_tree(super()._parse(source, name, filename))

    def format_string(self, s: str, *args: Any, **kwargs: Any) -> str:
        budget.check_format(s)
        return super().format_string(s, *args, **kwargs)  # type: ignore[no-any-return]

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        # A budget for pathological expressions: `9**9**9` or `'a'*10**9` must fail fast, as
        # the budget's own refusal (exit 2 in a plan as in a run), never as a plain error.
        if operator_ == "**":
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and abs(right) > MAX_POWER_EXPONENT
                and abs(left) > 1
            ):
                raise budget.OverBudget(f"{left} ** {right} is too large to compute")
            return operator.pow(left, right)
        if operator_ == "*":
            for seq, n in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(n, int)
                    and len(seq) * n > MAX_SEQUENCE_PRODUCT
                ):
                    raise budget.OverBudget(
                        f"the result of `*` would hold {len(seq) * n} items or characters, "
                        f"more than the {MAX_SEQUENCE_PRODUCT} a template may build")
            return budget.bounded(operator.mul(left, right))
        if operator_ == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                budget.check_sizes(len(left), len(right))
                return budget.bounded(operator.add(left, right))
            return operator.add(left, right)
        if operator_ == "%":
            budget.check_format(left)
            return budget.bounded(operator.mod(left, right))
        return super().call_binop(context, operator_, left, right)

    def _load_template(self, name: Any, globals: Any) -> Any:
        # `{% include %}`, `{% import %}`, `{% extends %}`: `validate` says so where they are
        # written (`names.refusals`); a template that reaches here anyway is refused, not
        # shown "as written" in a plan.
        raise SecurityError(f"{{% include/import/extends %}} of {name!r}: a runbook's "
                            "templates cannot read other templates or files")


def finalize(value: Any) -> Any:
    if isinstance(value, Undefined):
        str(value)  # fail here, inside the render, with the template's own message
    sink = ACTIVE.get()
    if sink is None or sink.mode == "text":
        return value
    return sink.take(value)


def make_environment() -> SandboxEnvironment:
    # Jinja's `{# #}` comments would swallow bash's `${#VAR}` (string length) in shell steps;
    # runbooks have YAML comments, so template comments take a spelling nobody writes by chance.
    env = SandboxEnvironment(undefined=VvrunUndefined, finalize=finalize, autoescape=False,
                       comment_start_string="{##", comment_end_string="##}")
    allowed.restrict(env)  # Jinja's filters and globals: only the listed ones, in the budget
    env.filters["ident"] = lambda v: Ident(str(v))
    env.filters["raw"] = lambda v: Raw(str(v))
    env.filters["host"] = host
    env.filters["b64encode"] = b64encode
    env.filters["split"] = split
    env.filters["splitlines"] = splitlines
    env.filters["args"] = args_elsewhere
    env.tests["startingwith"] = starts_with
    env.tests["endingwith"] = ends_with
    for name in ("host", "b64encode", "int", "float", "length", "count", "abs", "round",
                 "urlencode", "tojson", "sum", "min", "max", "first", "last", "split",
                 "splitlines"):
        env.filters[name] = keeps_unknown(env.filters[name], name)
    for name, fn in list(env.filters.items()):  # what a filter makes of a secret is a secret
        env.filters[name] = allowed.counted(propagating(fn))
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
