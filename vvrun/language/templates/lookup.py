"""Key-first lookup (SPEC §4): `x.name` on a mapping is always its key `name`, and no Python
method of any value is reachable from a template — a step called `items`, an input called
`keys`, works like any other name, and `'a,b'.split(',')` fails with the filter to use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Undefined
from jinja2.exceptions import SecurityError
from jinja2.utils import Namespace

from vvrun.language.templates.unknown import Unknown

# What to write instead of a method a Python programmer would reach for.
INSTEAD = {
    "split": "| split(',')", "splitlines": "| splitlines", "strip": "| trim",
    "lower": "| lower", "upper": "| upper", "replace": "| replace('a', 'b')",
    "join": "| join(',')", "startswith": "is startingwith('x')",
    "endswith": "is endingwith('x')", "get": "x['key'] | default('…')",
    "items": "| dictsort, or | items", "keys": "| list", "values": "| dictsort",
    "format": "| format(…)", "count": "| length", "title": "| title",
    "capitalize": "| capitalize",
}


def method_message(obj: Any, name: str) -> str:
    """Why `obj.name` is refused, and what to write instead."""
    instead = INSTEAD.get(name)
    return (f"{name!r} is a Python method of {type(obj).__name__}; templates reach only keys "
            f"and values, never methods" + (f" — use `{instead}`" if instead else
                                             " — use a filter"))


def refused(name: str) -> bool:
    """A name the sandbox never resolves on any value (dunders, privates)."""
    return name.startswith("_") or name in ("mro", "gi_frame", "f_globals", "func_globals")


class KeyFirst:
    """Mixin for the sandboxed environment: attribute and item lookup go to keys first and
    never to methods; Unknown (plans) and Jinja's own `namespace()` keep their behaviour."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Unknown) and not refused(attribute):
            return obj.__getattr__(attribute)  # a placeholder stays one (plans)
        if isinstance(obj, Mapping) and not isinstance(obj, Namespace):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                if refused(attribute):
                    return self._attribute(obj, attribute)
                return self.undefined(obj=obj, name=attribute)  # type: ignore[attr-defined]
        return self._attribute(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Unknown) and not (isinstance(argument, str) and refused(argument)):
            return obj[argument]
        try:
            return obj[argument]
        except (TypeError, LookupError):
            pass
        if isinstance(argument, str) and not isinstance(obj, Mapping):
            return self._attribute(obj, argument)
        return self.undefined(obj=obj, name=argument)  # type: ignore[attr-defined]

    def _attribute(self, obj: Any, name: str) -> Any:
        if isinstance(obj, Undefined):
            return obj  # the first thing that failed is the one to report
        if refused(name):
            return self.undefined(  # type: ignore[attr-defined]
                f"{name!r} is refused by the sandbox (templates never reach Python internals)",
                obj=obj, name=name, exc=SecurityError)
        if isinstance(obj, Namespace):
            return super().getattr(obj, name)  # type: ignore[misc]
        try:
            value = getattr(obj, name)
        except AttributeError:
            return self.undefined(obj=obj, name=name)  # type: ignore[attr-defined]
        if callable(value):
            return self.undefined(method_message(obj, name), obj=obj,  # type: ignore[attr-defined]
                                  name=name)
        if not self.is_safe_attribute(obj, name, value):  # type: ignore[attr-defined]
            return self.unsafe_undefined(obj, name)  # type: ignore[attr-defined]
        return value  # a plain attribute of a value: a date's `year`, a number's `real`
