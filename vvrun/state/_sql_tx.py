"""One transaction of a SQL store, speaking the store's SQL (`?` placeholders, `{p}` prefix)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Tx:
    """A DB-API cursor inside one transaction; `sql` turns the shared SQL into the dialect."""

    def __init__(self, cursor: Any, sql: Callable[[str], str], *, for_update: str = "",
                 share_lock: str = "") -> None:
        self._cur = cursor
        self._sql = sql
        #: row-lock clauses where the dialect has them (PostgreSQL); SQLite's write
        #: transactions already exclude every other writer
        self.for_update = for_update
        self.share_lock = share_lock

    def run(self, text: str, params: tuple[Any, ...] = ()) -> int:
        self._cur.execute(self._sql(text), params)
        return int(self._cur.rowcount)

    def one(self, text: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        self._cur.execute(self._sql(text), params)
        row = self._cur.fetchone()
        return tuple(row) if row is not None else None

    def all(self, text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        self._cur.execute(self._sql(text), params)
        return [tuple(r) for r in self._cur.fetchall()]
