"""The budget of one render: how many numbers a `range()` gives, how many turns all its loops
take, and how much text it and each string it builds may hold.

A runbook is reviewed as text, and a plan renders every template in it: nested `range` loops,
`'x' * n` joined a thousand times, or `center(10**9)` must fail fast, with a message, instead
of growing until the machine runs out of memory (SPEC §8, issue 14).
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError

MAX_RANGE = 10_000  # numbers one range() may give
MAX_ITERATIONS = 100_000  # turns of all the loops of one render together
MAX_OUTPUT = 1024 * 1024  # characters of one render, and of any one string it builds

LOOP = "__vvrun_loop__"
SIZED = "__vvrun_sized__"
_SIZE_IN_FORMAT = re.compile(r"%[-#0 +]*(\d+)|%[-#0 +]*\d*\.(\d+)|\{[^}]*?(\d{4,})")


class OverBudget(SecurityError):
    """A render went over its budget; the message says which one and by how much."""


class _Budget:
    def __init__(self) -> None:
        self.iterations = 0


_CURRENT: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "vvrun_budget", default=None)


def bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise OverBudget(f"range() of {len(numbers)} numbers is more than the {MAX_RANGE} a "
                         "template may use")
    return numbers


def loop(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every `{% for %}` iterates through here: turns are counted across the whole render."""
    budget = _CURRENT.get()
    for item in iterable:
        if budget is not None:
            budget.iterations += 1
            if budget.iterations > MAX_ITERATIONS:
                raise OverBudget(f"the loops of one template take more than {MAX_ITERATIONS} "
                                 "turns")
        yield item


def sized(value: Any) -> Any:
    """A string built by `~` (or any text) is checked once built."""
    if isinstance(value, str) and len(value) > MAX_OUTPUT:
        raise too_long(len(value))
    return value


def too_long(n: int) -> OverBudget:
    return OverBudget(f"a text of {n} characters is longer than the {MAX_OUTPUT} a template "
                      "may build")


def check_sizes(*sizes: int) -> None:
    total = sum(sizes)
    if total > MAX_OUTPUT:
        raise too_long(total)


def check_format(spec: Any) -> None:
    """`'%1000000000s' % x` and `'{:1000000000}'.format(x)` allocate before anyone can count."""
    if isinstance(spec, str):
        for m in _SIZE_IN_FORMAT.finditer(spec):
            width = int(next(g for g in m.groups() if g))
            if width > MAX_OUTPUT:
                raise too_long(width)


def guard_tree(tree: nodes.Template) -> nodes.Template:
    """Route every loop through `loop` and every `~` through `sized`, in the parsed template."""
    for node in tree.find_all(nodes.For):
        node.iter = nodes.Call(nodes.Name(LOOP, "load"), [node.iter], [], None, None,
                               lineno=node.lineno)
    for parent in list(tree.find_all(nodes.Node)):
        for field in parent.fields:
            value = getattr(parent, field, None)
            if isinstance(value, nodes.Concat):
                setattr(parent, field, _sized_call(value))
            elif isinstance(value, list):
                setattr(parent, field, [_sized_call(v) if isinstance(v, nodes.Concat) else v
                                        for v in value])
    return tree


def _sized_call(node: nodes.Concat) -> nodes.Call:
    return nodes.Call(nodes.Name(SIZED, "load"), [node], [], None, None, lineno=node.lineno)


def render(template: Any, context: Mapping[str, Any]) -> str:
    """`template.render(context)`, within the budget: output is counted as it is produced."""
    token = _CURRENT.set(_Budget())
    try:
        chunks, size = [], 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise OverBudget(f"the template renders more than {MAX_OUTPUT} characters")
            chunks.append(chunk)
        return "".join(chunks)
    finally:
        _CURRENT.reset(token)


def evaluate(expression: Any, context: Mapping[str, Any]) -> Any:
    """A compiled expression, within the same budget as a render."""
    token = _CURRENT.set(_Budget())
    try:
        return expression(**context)
    finally:
        _CURRENT.reset(token)


def _join(join: Any) -> Any:
    def guarded(context: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        if isinstance(value, Iterator):  # a `map` or `select`: count what it gives
            value = list(value)
        if isinstance(value, list | tuple) and attribute is None:
            check_sizes(*(len(v) for v in value if isinstance(v, str)),
                        len(d) * max(len(value) - 1, 0))
        return join(context, value, d, attribute)

    guarded.jinja_pass_arg = join.jinja_pass_arg  # type: ignore[attr-defined]
    return guarded


def _replace(replace: Any) -> Any:
    def guarded(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> Any:
        if isinstance(s, str) and isinstance(old, str) and isinstance(new, str):
            n = s.count(old) if old else len(s) + 1
            if count is not None and count >= 0:
                n = min(n, count)
            check_sizes(len(s), n * max(len(new) - len(old), 0))
        return replace(eval_ctx, s, old, new, count)

    guarded.jinja_pass_arg = replace.jinja_pass_arg  # type: ignore[attr-defined]
    return guarded


def _widened(original: Any, width_at: int) -> Any:
    """`center(width)`, `indent(width)`: a width over the budget is refused before the text
    is built (indent multiplies it by the number of lines)."""

    def guarded(value: Any, *args: Any, **kwargs: Any) -> Any:
        width = kwargs.get("width", args[width_at] if len(args) > width_at else 0)
        size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        lines = str(value).count("\n") + 1 if original.__name__ == "do_indent" else 1
        check_sizes(len(str(value)), size * lines)
        return original(value, *args, **kwargs)

    return guarded


def _format(original: Any) -> Any:
    def guarded(value: Any, *args: Any, **kwargs: Any) -> Any:
        check_format(value)
        return original(value, *args, **kwargs)

    return guarded


def guard_filters(filters: dict[str, Any]) -> None:
    """The built-in filters that can multiply a text's length, with their budget checked
    before they build it."""
    filters["join"] = _join(filters["join"])
    filters["replace"] = _replace(filters["replace"])
    filters["center"] = _widened(filters["center"], 0)
    filters["indent"] = _widened(filters["indent"], 0)
    filters["format"] = _format(filters["format"])
