"""Taint: a secret, and every value computed from it, stays a secret (SPEC §5.4).

    token = taint(value, masker, "api_token")    # what templates see as `secrets.api_token`
    token.upper(), token[2:8], token[::-1], "Bearer " + token, "%s" % token
                                                 # each a Tainted, each masked from now on

`Tainted` is a `str` whose operations return `Tainted` and register their result with the
run's Masker *when it is computed*, so a derived value (`| upper`, a slice, a base64 of
`user:password`) is masked whole before anything can print or store it. What `str` methods
cannot carry (Jinja's filters, `~`, `str.join`) the template layer re-taints with
`derive_from` (`vvrun/language/templates/taint.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vvrun.secrets.mask import Masker

_UNSET: Any = object()
MAX_SCAN = 1_000  # items looked at when asking whether a container holds a secret


class Tainted(str):
    """A secret or a value derived from one. `name` is the secret's own name (an input, a
    `secrets:` entry, an environment variable), None for a derived value."""

    masker: Masker | None
    name: str | None

    def __new__(cls, value: str, masker: Masker | None = None,
                name: str | None = None) -> Tainted:
        obj = super().__new__(cls, value)
        obj.masker = masker
        obj.name = name
        if masker is not None:
            masker.add(str.__str__(obj))
        return obj

    def derive(self, value: Any) -> Any:
        """`value`, computed from this secret, as a secret: strings (and the strings inside
        lists, tuples and mappings) become Tainted and are registered; numbers stay numbers."""
        if isinstance(value, Tainted) and value.masker is self.masker:
            return value
        if isinstance(value, str):
            cls = type(self) if type(self) is not Tainted and isinstance(value, type(self)) \
                else _tainted_class(value)
            return cls(str.__str__(value), self.masker)
        if isinstance(value, list | tuple):
            return type(value)(self.derive(v) for v in value) if type(value) in (list, tuple) \
                else value
        if isinstance(value, Mapping) and type(value) is dict:
            return {k: self.derive(v) for k, v in value.items()}
        return value

    def __str__(self) -> str:  # `str(secret)` (Jinja's filters call it) stays a secret
        return self

    def __format__(self, spec: str) -> str:
        return self.derive(str.__format__(self, spec))

    def __getitem__(self, key: Any) -> str:  # type: ignore[override]
        return self.derive(str.__getitem__(self, key))

    def __add__(self, other: Any) -> str:  # type: ignore[override]
        if not isinstance(other, str):
            return NotImplemented
        return self.derive(str.__add__(self, other))

    def __radd__(self, other: Any) -> str:
        if not isinstance(other, str):
            return NotImplemented
        return self.derive(str.__add__(other, str.__str__(self)))

    def __mod__(self, args: Any) -> str:  # type: ignore[override]
        return self.derive(str.__mod__(self, args))

    def __rmod__(self, fmt: Any) -> str:  # `"%s" % secret`: Python asks the subclass first
        if not isinstance(fmt, str):
            return NotImplemented
        return self.derive(str.__mod__(fmt, self))

    def __mul__(self, n: Any) -> str:  # type: ignore[override]
        return self.derive(str.__mul__(self, n))

    __rmul__ = __mul__

    # a copy (deepcopy of results, pickling to a worker) is the plain value: already masked
    def __reduce__(self) -> tuple[Any, ...]:
        return (str, (str.__str__(self),))

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return self.__reduce__()

    def __copy__(self) -> Tainted:
        return self

    def __deepcopy__(self, memo: Any) -> Tainted:
        return self


def _derived_method(name: str) -> Any:
    method = getattr(str, name)

    def derived(self: Tainted, *args: Any, **kwargs: Any) -> Any:
        return self.derive(method(self, *args, **kwargs))

    derived.__name__ = name
    return derived


for _name in ("upper", "lower", "title", "capitalize", "swapcase", "casefold", "strip",
              "lstrip", "rstrip", "replace", "center", "ljust", "rjust", "zfill", "expandtabs",
              "format", "format_map", "join", "split", "rsplit", "splitlines", "partition",
              "rpartition", "translate", "removeprefix", "removesuffix"):
    setattr(Tainted, _name, _derived_method(_name))

_SUBCLASSES: dict[type, type] = {}


def _tainted_class(value: str) -> type[Tainted]:
    """Tainted, or a Tainted that keeps what `value` is (`Raw` from `| raw`)."""
    kind = type(value)
    if kind is str or issubclass(kind, Tainted):
        return Tainted if kind is str else kind
    cls = _SUBCLASSES.get(kind)
    if cls is None:
        try:
            cls = _SUBCLASSES[kind] = type(f"Tainted{kind.__name__}", (Tainted, kind), {})
        except TypeError:  # a str subclass that cannot be mixed in: a plain secret then
            cls = _SUBCLASSES[kind] = Tainted
    return cls


def taint(value: Any, masker: Masker, name: str | None = None) -> Any:
    """A secret's value as templates see it: a string becomes Tainted; anything else is
    registered as it is (numbers) and returned unchanged."""
    if isinstance(value, str):
        return Tainted(value, masker, name)
    if value is not None:
        masker.add(value)
    return value


def source_of(*values: Any) -> Tainted | None:
    """The first Tainted among `values`, looking one level into lists, tuples and mappings."""
    for value in values:
        if isinstance(value, Tainted):
            return value
        if isinstance(value, Mapping):
            items: Any = list(value.values())[:MAX_SCAN]
        elif isinstance(value, list | tuple):
            items = value[:MAX_SCAN]
        else:
            continue
        for item in items:
            if isinstance(item, Tainted):
                return item
            if isinstance(item, list | tuple | Mapping):
                found = source_of(item)
                if found is not None:
                    return found
    return None


def derive_from(result: Any, *inputs: Any) -> Any:
    """`result` as a secret when any of `inputs` is one (a filter's value and arguments)."""
    source = source_of(*inputs)
    return result if source is None else source.derive(result)


def taint_secrets(value: Any, masker: Masker, *, masked: Any = _UNSET) -> Any:
    """A step's result as later templates see it: every string in it that holds a secret the
    masker knows (or one found by its shape) becomes Tainted, so a secret a step printed goes
    on to a later command through the environment, never its argv (SPEC §5.4). The rest is
    returned as it is; tuples become lists, as in the result's JSON.

    `masked`: `masker.mask_obj(value)`, when the caller has it. Equal to `value` means that
    masking changed no string, key or tuple in it: nothing to taint, and no walk."""
    if masked is not _UNSET and type(value) is type(masked) and masked == value:
        return value
    if isinstance(value, Tainted):
        return value
    if isinstance(value, str):
        return Tainted(value, masker) if masker.mask(value) != value else value
    if isinstance(value, Mapping):
        return {k: taint_secrets(v, masker) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [taint_secrets(v, masker) for v in value]
    return value
