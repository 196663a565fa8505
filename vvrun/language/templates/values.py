"""What rendering produces for a destination: SQL text with its bound values kept apart,
identifiers, and shell text that opted out of quoting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Raw(str):
    """A value that opted out of escaping with `| raw` (shell only)."""


class ShellText(str):
    """A rendered shell command, and the secrets it reads from its environment
    (`"$VVRUN_SECRET_…"` stands where a secret was templated: never in argv)."""

    env: dict[str, str]

    def __new__(cls, text: str, env: Mapping[str, str] | None = None) -> ShellText:
        obj = super().__new__(cls, text)
        obj.env = dict(env or {})
        return obj


@dataclass(frozen=True)
class Ident:
    """An SQL identifier made with `| ident`; quoted as an identifier, not bound."""

    name: str

    def quoted(self) -> str:
        return '"' + self.name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Param:
    """A value bound as an SQL parameter."""

    value: Any


@dataclass(frozen=True)
class SqlText:
    """SQL with its templated values kept apart: text, Param and Ident parts in order."""

    parts: tuple[str | Param | Ident, ...]

    @property
    def params(self) -> tuple[Any, ...]:
        return tuple(p.value for p in self.parts if isinstance(p, Param))

    def display(self) -> str:
        """The query as a reviewer reads it: `$1`, `$2`… where values are bound."""
        out, n = [], 0
        for part in self.parts:
            if isinstance(part, Param):
                n += 1
                out.append(f"${n}")
            elif isinstance(part, Ident):
                out.append(part.quoted())
            else:
                out.append(part)
        return "".join(out)

    def for_driver(self) -> tuple[str, tuple[Any, ...] | None]:
        """The query in psycopg's `%s` style, with literal `%` doubled when there are params."""
        if not any(isinstance(p, Param) for p in self.parts):
            return self.display(), None
        out = []
        for part in self.parts:
            if isinstance(part, Param):
                out.append("%s")
            elif isinstance(part, Ident):
                out.append(part.quoted().replace("%", "%%"))
            else:
                out.append(part.replace("%", "%%"))
        return "".join(out), self.params
