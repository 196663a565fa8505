"""The budget of one render: how many numbers a `range()` gives, how many turns all its loops
take, and how much text it and each string it builds may hold.

A runbook is reviewed as text, and a plan renders every template in it: nested `range` loops,
`'x' * n` joined a thousand times, or `center(10**9)` must fail fast, with a message, instead
of growing until the machine runs out of memory (SPEC §8, issue 14).
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError

MAX_RANGE = 10_000  # numbers one range() may give
MAX_ITERATIONS = 100_000  # turns of all the loops of one render together
MAX_OUTPUT = 1024 * 1024  # characters of one render, and of any one string it builds
MAX_ITEMS = 100_000  # items of any one list it builds (a filter's list is a loop in disguise)
MAX_BUILT = 64 * MAX_OUTPUT  # characters and items that all its filters and operators build

LOOP = "__vvrun_loop__"
SIZED = "__vvrun_sized__"
TURN = "__vvrun_turn__"
NESTED = "__vvrun_nested__"
_SIZE_IN_FORMAT = re.compile(r"%[-#0 +]*(\d+)|%[-#0 +]*\d*\.(\d+)|\{[^}]*?(\d{4,})")


class OverBudget(SecurityError):
    """A render went over its budget; the message says which one and by how much."""


class _Budget:
    __slots__ = ("built", "iterations")

    def __init__(self) -> None:
        self.iterations = 0
        self.built = 0


_CURRENT: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "vvrun_budget", default=None)


class _Global:
    """A function templates call by name, shown as its name: `{{ range }}` must not print
    `<function … at 0x7f…>`, which differs from one plan to the next."""

    __slots__ = ("fn", "name")

    def __init__(self, name: str, fn: Callable[..., Any]):
        self.name, self.fn = name, fn

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def __repr__(self) -> str:
        return f"<{self.name}()>"


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise OverBudget(f"range() of {len(numbers)} numbers is more than the {MAX_RANGE} a "
                         "template may use")
    return numbers


def turn() -> bool:
    """One turn of a loop (or one call of a macro): counted across the whole render."""
    budget = _CURRENT.get()
    if budget is not None:
        budget.iterations += 1
        if budget.iterations > MAX_ITERATIONS:
            raise OverBudget(f"the loops of one template take more than {MAX_ITERATIONS} "
                             "turns")
    return True


def loop(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every `{% for %}` iterates through here: turns are counted across the whole render."""
    for item in iterable:
        turn()
        yield item


def sized(value: Any) -> Any:
    """A string built by `~` (or any text) is checked once built."""
    if isinstance(value, str):
        charge(len(value))
        if len(value) > MAX_OUTPUT:
            raise too_long(len(value))
    return value


bounded_range = _Global("range", _range)


def charge(n: int) -> None:
    """What one render builds, in all: a loop that builds a large text at every turn is slow
    even when each text is within its budget."""
    budget = _CURRENT.get()
    if budget is not None:
        budget.built += n
        if budget.built > MAX_BUILT:
            raise OverBudget(f"the template builds more than {MAX_BUILT} characters in all")


def bounded(value: Any) -> Any:
    """The result of a filter or an operator, counted: a text or a list over its budget is
    refused, and an iterator (`map`, `select`, `slice`, `batch`) is read into a list, at most
    `MAX_ITEMS` items of it, so that it is counted too and never rendered as `<generator …>`."""
    if isinstance(value, str):
        charge(len(value))
        if len(value) > MAX_OUTPUT:
            raise too_long(len(value))
    elif isinstance(value, list | tuple):
        if len(value) > MAX_ITEMS:
            raise too_many(len(value))
        weigh(value)
    elif isinstance(value, Iterator):
        value = list(islice(value, MAX_ITEMS + 1))
        if len(value) > MAX_ITEMS:
            raise too_many()
        weigh(value)
    return value


def weigh(value: Any) -> Any:
    """A list, tuple or mapping a template built, counted the way `str()` or `tojson` would
    write it out: a list that holds another list twice counts it twice, so
    `{% set a = [a, a] %}` forty times is refused before `{{ a }}` writes 2**40 items. The
    walk stops at the budget, so it costs at most `MAX_ITEMS` steps."""
    items = chars = 0
    stack = [value]
    while stack:
        v = stack.pop()
        items += 1
        if isinstance(v, str):
            chars += len(v)
        elif isinstance(v, list | tuple):
            stack.extend(v)
        elif isinstance(v, Mapping):
            stack.extend(v.keys())
            stack.extend(v.values())
        if items > MAX_ITEMS:
            raise too_many()
    if chars + items > MAX_OUTPUT:
        raise too_long(chars + items)
    charge(items)
    return value


nested = weigh  # (vvrun's own names are plain functions: Jinja calls them fastest)


def too_long(n: int) -> OverBudget:
    return OverBudget(f"a text of {n} characters is longer than the {MAX_OUTPUT} a template "
                      "may build")


def too_many(n: int | None = None) -> OverBudget:
    if n is None:  # counted until the budget ran out
        return OverBudget(f"a list (with the lists inside it) of more than {MAX_ITEMS} items "
                          "is more than a template may build")
    return OverBudget(f"a list of {n} items is more than the {MAX_ITEMS} a template may build")


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
    """Route every loop through `loop` and every `~` through `sized`, in the parsed template;
    count every call of a macro, a `{% call %}` block, a `{% block %}` (`self.name()`) and a
    recursive loop's `loop(…)` as a turn, since calling itself twice doubles the work."""
    for node in tree.find_all(nodes.For):
        node.iter = nodes.Call(nodes.Name(LOOP, "load"), [node.iter], [], None, None,
                               lineno=node.lineno)
    for node in tree.find_all((nodes.For, nodes.Macro, nodes.CallBlock, nodes.Block)):
        if not isinstance(node, nodes.For) or node.recursive:
            test = nodes.Call(nodes.Name(TURN, "load"), [], [], None, None, lineno=node.lineno)
            node.body = [nodes.If(test, node.body, [], [], lineno=node.lineno)]
    for parent in list(tree.find_all(nodes.Node)):
        for field in parent.fields:
            value = getattr(parent, field, None)
            if isinstance(value, nodes.Node):
                setattr(parent, field, _guarded(value))
            elif isinstance(value, list):
                setattr(parent, field, [_guarded(v) if isinstance(v, nodes.Node) else v
                                        for v in value])
    return tree


def _guarded(node: nodes.Node) -> nodes.Node:
    """`a ~ b` through `sized`; a list, tuple or dict written with a value that is not a
    constant in it (`[a, a]`) through `nested`."""
    if isinstance(node, nodes.Concat):
        name = SIZED
    elif (isinstance(node, nodes.List | nodes.Dict)
          or (isinstance(node, nodes.Tuple) and node.ctx == "load")) and not all(
              isinstance(n, nodes.Const) for n in node.iter_child_nodes()
              for n in ((n.key, n.value) if isinstance(n, nodes.Pair) else (n,))):
        name = NESTED
    else:
        return node
    return nodes.Call(nodes.Name(name, "load"), [node], [], None, None, lineno=node.lineno)


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
    except (MemoryError, RecursionError) as exc:
        raise _exhausted(exc) from None
    finally:
        _CURRENT.reset(token)


def evaluate(expression: Any, context: Mapping[str, Any]) -> Any:
    """A compiled expression, within the same budget as a render."""
    token = _CURRENT.set(_Budget())
    try:
        return expression(**context)
    except (MemoryError, RecursionError) as exc:
        raise _exhausted(exc) from None
    finally:
        _CURRENT.reset(token)


def _exhausted(exc: BaseException) -> OverBudget:
    # what the checks above missed still ends as the budget's refusal, not as a traceback
    if isinstance(exc, RecursionError):
        return OverBudget("the template nests or calls itself too deeply")
    return OverBudget("the template ran out of memory")
