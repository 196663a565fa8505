"""What a plan cannot know: `Unknown` stands for a value only a run has (`⟨steps.x.result⟩`)
and carries through every operation; `DependsOn` stops a plan where a branch needs one."""

from __future__ import annotations

from typing import Any


class Unknown:
    """A value only a live run can know (plans): renders as `⟨path⟩`, and any attribute,
    item or operation on it gives another Unknown. Truth-testing raises `DependsOn`."""

    __slots__ = ("path",)

    def __init__(self, path: str):
        self.path = path

    def __getattr__(self, name: str) -> Unknown:
        if name.startswith("__"):
            raise AttributeError(name)
        return Unknown(f"{self.path}.{name}")

    def __getitem__(self, key: Any) -> Unknown:
        if isinstance(key, slice):
            return Unknown(f"{self.path}[…]")
        return Unknown(f"{self.path}[{key!r}]")

    def __str__(self) -> str:
        return f"⟨{self.path}⟩"

    __repr__ = __str__

    def __bool__(self) -> bool:
        raise DependsOn(self.path)

    def __iter__(self):  # a loop over an unknown list is one unknown item
        yield Unknown(f"{self.path}[…]")

    def __reversed__(self) -> Unknown:  # `| reverse` keeps the placeholder (⟨secret⟩ stays it)
        return Unknown(self.path)

    def __len__(self) -> int:
        raise DependsOn(self.path)

    def __eq__(self, other: object) -> Unknown:  # type: ignore[override]
        return Unknown(self.path)

    __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __eq__
    __hash__ = object.__hash__

    def _op(self, *_: Any) -> Unknown:
        return Unknown(self.path)

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _op
    __truediv__ = __rtruediv__ = __floordiv__ = __mod__ = __neg__ = __pow__ = _op
    __contains__ = _op


class DependsOn(Exception):
    """Raised when a plan needs the truth of a value only a live run knows."""

    def __init__(self, path: str):
        super().__init__(path)
        self.path = path
