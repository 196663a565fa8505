"""Taint through templates: what `Tainted`'s own methods cannot carry.

- every filter's result is a secret when its value or an argument is (`| b64encode`,
  `| urlencode`, `| tojson`, `| format`, `| join`, `| list | reverse | join`…);
- `a ~ b` (Jinja compiles it to a plain `"".join`) is a secret when a part is;
- in a shell command a secret becomes `"$VVRUN_SECRET_…"`, its value given in the
  environment: a secret never sits in a command line (`/proc/PID/cmdline`, SPEC §3.4).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame

from vvrun.secrets.taint import Tainted, derive_from, source_of

ENV_PREFIX = "VVRUN_SECRET_"


def propagating(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The filter `fn`, whose result is derived from a secret when any input is one."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        # `| reverse`, `| map`, `| select` hand the next filter an iterator: a list is the same
        # values, and one we can look into for a secret after the filter has read it
        args = tuple(list(a) if isinstance(a, Iterator) else a for a in args)
        result = fn(*args, **kwargs)
        if source_of(*args, *kwargs.values()) is None:
            return result
        return derive_from(result, *args, *kwargs.values())

    pass_arg = getattr(fn, "jinja_pass_arg", None)
    if pass_arg is not None:
        wrapped.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    return wrapped


def concat(parts: tuple[Any, ...]) -> str:
    """`a ~ b ~ c`: Jinja's `str_join`, keeping the taint of any part."""
    text = "".join(map(str, parts))
    source = source_of(parts)
    return text if source is None else source.derive(text)


class TaintCodeGenerator(CodeGenerator):
    """Jinja's code generator with `~` compiled to `environment.taint_concat(…)`."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.taint_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def env_name(value: Tainted, taken: dict[str, str]) -> str:
    """The variable that carries `value` into a shell command: `VVRUN_SECRET_<NAME>` for a
    named secret, `VVRUN_SECRET_<n>` for a derived one; the same value, the same variable."""
    for var, known in taken.items():
        if known == value:
            return var
    if value.name:
        var = ENV_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", value.name).upper()
        if taken.get(var, value) == value:
            return var
    n = 1
    while f"{ENV_PREFIX}{n}" in taken:
        n += 1
    return f"{ENV_PREFIX}{n}"
