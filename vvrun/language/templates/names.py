"""Which names a template reads (for checks and plans), and the values an expression saw
(for the message of a check that failed)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, nodes

from vvrun.language.templates.environment import ENV
from vvrun.language.templates.lookup import INSTEAD, refused
from vvrun.text.suggest import closest


@lru_cache(maxsize=4096)
def parse_template(source: str, expression: bool = False) -> nodes.Template:
    """A template's (or a bare expression's) syntax tree, parsed once for every reader of it
    (the checks, `refusals`, `referenced_names`, plans): each parse cost about as much as the
    walk that follows it. Raises jinja2.TemplateSyntaxError. The tree is shared: read it,
    never change it (compiling, which may, parses its own)."""
    return ENV.parse("{{ " + source + " }}" if expression else source)


@lru_cache(maxsize=4096)
def referenced_names(source: str, *, expression: bool = False) -> tuple[tuple[str, ...], ...]:
    """Dotted paths a template or expression reads from its context, e.g. ('steps', 'x',
    'result', 'rows', '0'), without the names it defines itself ({% set %}, loop variables).
    Raises jinja2.TemplateSyntaxError. Cached: the same snippets recur across steps and files."""
    return template_names(parse_template(source, expression))


def template_names(ast: nodes.Node) -> tuple[tuple[str, ...], ...]:
    """The paths a parsed template reads (see `referenced_names`)."""
    local = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    local |= {n.name for n in ast.find_all(nodes.Macro)}
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


def explain(source: str, context: Mapping[str, Any], mask: Callable[[str], str] = str) -> str:
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
        found, value = _lookup(context, path)
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
    """Whether Jinja would act on `value`: a `{{ value }}`, a `{% block %}` or a `{## comment
    ##}` (the spelling `environment.py` gives comments)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value or "{##" in value)


TAGS: dict[type[nodes.Node], str] = {nodes.Include: "include", nodes.Import: "import",
                                     nodes.FromImport: "from", nodes.Extends: "extends"}


@lru_cache(maxsize=4096)
def refusals(source: str, *, expression: bool = False) -> tuple[tuple[str, str], ...]:
    """What the sandbox will refuse in a template, found without running it: `(name, why)`
    for `{% include %}` and its kind, filters and tests that do not exist (`random`), Python
    internals (`__class__`, `mro`) and methods (`.split(',')`). Empty when the source does not
    parse (that has its own message)."""
    try:
        ast = parse_template(source, expression)
    except TemplateSyntaxError:
        return ()
    out: list[tuple[str, str]] = []
    for node in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        tag = TAGS[type(node)]
        out.append((tag, f"`{{% {tag} %}}` reads another template, which a runbook's "
                         "templates never do: there are no template files to read"))
    for node in ast.find_all((nodes.Filter, nodes.Test)):
        known = ENV.filters if isinstance(node, nodes.Filter) else ENV.tests
        if node.name not in known:
            kind = "filter" if isinstance(node, nodes.Filter) else "test"
            close = closest(node.name, list(known))
            out.append((node.name, f"unknown {kind} '{node.name}'"
                        + (f" — did you mean '{close}'?" if close else "")))
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Call, nodes.Filter)):
        name = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value if isinstance(node.arg.value, str) else None
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args and (
                isinstance(node.args[0], nodes.Const)):
            name = str(node.args[0].value)
        if name is not None and refused(name):
            out.append((name, f"{name!r} is refused by the sandbox: templates never reach "
                              "Python internals"))
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr) and (
                node.node.attr in INSTEAD):
            attr = node.node.attr
            out.append((attr, f"`.{attr}(…)` calls a Python method, which templates never "
                              f"reach — use `{INSTEAD[attr]}`"))
    return tuple(dict.fromkeys(out))
