"""vvrun's own template filters, and the wrapper that passes an `Unknown` through any filter."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from vvrun.language.templates.unknown import Unknown


def keeps_unknown(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
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


def host(value: Any) -> str:
    return urlsplit(str(value)).hostname or ""


def b64encode(value: Any) -> str:
    data = value if isinstance(value, bytes) else str(value).encode()
    return base64.b64encode(data).decode()


def split(value: Any, sep: str | None = None, maxsplit: int = -1) -> list[str]:
    """`'a,b' | split(',')`: the words of a string (on whitespace without `sep`)."""
    return str(value).split(sep, maxsplit)


def splitlines(value: Any) -> list[str]:
    return str(value).splitlines()


def starts_with(value: Any, prefix: str) -> bool:
    """`x is startingwith('cache:')`."""
    return isinstance(value, str) and value.startswith(prefix)


def ends_with(value: Any, suffix: str) -> bool:
    return isinstance(value, str) and value.endswith(suffix)


def args_elsewhere(value: Any) -> Any:
    """`{{ list | args }}` means one argument per item only as a whole word of a redis command,
    where the redis step expands it itself; anywhere else it is refused, never guessed."""
    from jinja2.exceptions import TemplateRuntimeError

    raise TemplateRuntimeError("`| args` expands a list only as a whole word of a redis "
                               "command (e.g. `DEL {{ steps.find.result.keys | args }}`)")
