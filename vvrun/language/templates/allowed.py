"""What a runbook's templates may call: an allow-list of Jinja's filters and globals, each
filter inside the render's budget.

An allow-list, not a deny-list: a filter the next Jinja release adds is not reachable until
it is listed here with its check. Every listed filter gets two checks:

- before it runs, the ones that can multiply their input (`center(10**9)`, `batch(n, fill)`,
  `tojson(indent=10**8)`, `wordwrap(1, wrapstring=…)`) have their arguments checked, because
  the text would be built before anyone could count it;
- after it runs, its result is counted against the budget (`budget.bounded`): a text, a list,
  and an iterator (`map`, `slice`, `batch`), which is read into a list right there — at most
  `MAX_ITEMS` items of it — so that no lazy value reaches the output as `<generator …>`.

Left out on purpose: `random` (a plan must be the same every time), the HTML helpers
(`urlize`, `xmlattr`, `safe`, `forceescape`), `pprint` (Python reprs), and the globals
`lipsum`, `cycler`, `joiner`, `namespace`, `dict` (Python objects, random text, or state that
outlives a loop). Jinja's tests (`is defined`, `is number`…) only answer yes or no: all stay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2.sandbox import SandboxedEnvironment

from vvrun.language.templates.budget import (
    LOOP,
    MAX_ITEMS,
    NESTED,
    SIZED,
    TURN,
    OverBudget,
    bounded,
    bounded_range,
    check_format,
    check_sizes,
    loop,
    nested,
    sized,
    turn,
)

MAX_INDENT = 32  # spaces (or characters) of one `tojson` indent level

Check = Callable[..., None]


def _join(value: Any, d: str = "", attribute: Any = None) -> None:
    if isinstance(value, list | tuple) and attribute is None:
        check_sizes(*(len(v) for v in value if isinstance(v, str)),
                    len(d) * max(len(value) - 1, 0))


def _replace(s: Any, old: Any, new: Any, count: int | None = None) -> None:
    if isinstance(s, str) and isinstance(old, str) and isinstance(new, str):
        n = s.count(old) if old else len(s) + 1
        if count is not None and count >= 0:
            n = min(n, count)
        check_sizes(len(s), n * max(len(new) - len(old), 0))


def _width(width: Any) -> int:
    return len(width) if isinstance(width, str) else width if isinstance(width, int) else 0


def _center(value: Any, width: Any = 80) -> None:
    check_sizes(len(str(value)), _width(width))


def _indent(s: Any, width: Any = 4, first: bool = False, blank: bool = False) -> None:
    text = str(s)  # the width is added to every line
    check_sizes(len(text), _width(width) * (text.count("\n") + 1))


def _format(value: Any, *args: Any, **kwargs: Any) -> None:
    check_format(value)


def _wordwrap(s: Any, width: Any = 79, break_long_words: bool = True,
              wrapstring: Any = None, break_on_hyphens: bool = True) -> None:
    # at most one line per `width` characters (or per word), each ended by `wrapstring`
    text = str(s)
    lines = len(text) // max(width, 1) + text.count("\n") + 1 if isinstance(width, int) else 1
    check_sizes(len(text), lines * len(wrapstring) if isinstance(wrapstring, str) else lines)


def _tojson(value: Any, indent: Any = None) -> None:
    size = _width(indent)
    if size > MAX_INDENT:
        raise OverBudget(f"tojson's indent of {size} is more than the {MAX_INDENT} a template "
                         "may use")


def _batch(value: Any, linecount: Any, fill_with: Any = None) -> None:
    if fill_with is not None and isinstance(linecount, int) and linecount > MAX_ITEMS:
        raise OverBudget(f"batch() of {linecount} items is more than the {MAX_ITEMS} a "
                         "template may build")


def _slice(value: Any, slices: Any, fill_with: Any = None) -> None:
    if isinstance(slices, int) and slices > MAX_ITEMS:
        raise OverBudget(f"slice() into {slices} lists is more than the {MAX_ITEMS} a "
                         "template may build")


def _sum(iterable: Any, attribute: Any = None, start: Any = 0) -> None:
    # `sum(start=[])` concatenates lists, each copy longer than the last
    if not isinstance(start, int | float):
        raise OverBudget("sum() adds numbers: its start must be a number")


# filter → the check of its arguments before it runs (None: its result is at most a few
# times its input, and is counted after it runs)
FILTERS: dict[str, Check | None] = {
    "abs": None, "attr": None, "batch": _batch, "capitalize": None, "center": _center,
    "count": None, "d": None, "default": None, "dictsort": None, "e": None, "escape": None,
    "filesizeformat": None, "first": None, "float": None, "format": _format,
    "groupby": None, "indent": _indent, "int": None, "items": None, "join": _join,
    "last": None, "length": None, "list": None, "lower": None, "map": None, "max": None,
    "min": None, "reject": None, "rejectattr": None, "replace": _replace, "reverse": None,
    "round": None, "select": None, "selectattr": None, "slice": _slice, "sort": None,
    "string": None, "striptags": None, "sum": _sum, "title": None, "tojson": _tojson,
    "trim": None, "truncate": None, "unique": None, "upper": None, "urlencode": None,
    "wordcount": None, "wordwrap": _wordwrap,
}


def checked(fn: Callable[..., Any], check: Check | None) -> Callable[..., Any]:
    """`fn` with `check` on its arguments first."""
    if check is None:
        return fn
    pass_arg = getattr(fn, "jinja_pass_arg", None)  # the env/context Jinja passes first
    if pass_arg is None:

        def plain(*args: Any, **kwargs: Any) -> Any:
            check(*args, **kwargs)
            return fn(*args, **kwargs)

        return plain

    def passing(first: Any, *args: Any, **kwargs: Any) -> Any:
        check(*args, **kwargs)
        return fn(first, *args, **kwargs)

    passing.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    return passing


def counted(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with its result counted (`budget.bounded`). Outermost, after the taint wrapper:
    an iterator a filter returns is read into a list only once that wrapper has seen it as
    it always has."""
    pass_arg = getattr(fn, "jinja_pass_arg", None)
    if pass_arg is None:

        def plain(*args: Any, **kwargs: Any) -> Any:
            return bounded(fn(*args, **kwargs))

        return plain

    def passing(first: Any, *args: Any, **kwargs: Any) -> Any:
        return bounded(fn(first, *args, **kwargs))

    passing.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    return passing


def restrict(env: SandboxedEnvironment) -> None:
    """Keep only the listed filters, each with its check, and only vvrun's globals (the
    caller wraps every filter in `counted` last)."""
    env.filters = {name: checked(env.filters[name], check)
                   for name, check in FILTERS.items() if name in env.filters}
    env.globals.clear()
    env.globals.update({"range": bounded_range, LOOP: loop, SIZED: sized, TURN: turn,
                        NESTED: nested})
