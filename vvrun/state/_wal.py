"""Noticing that a SQLite store's `-wal` file was removed, replaced or cut short under us.

While a connection is open the log only grows or is rewritten in place (vvrun never truncates
it), so a missing file, another inode or a smaller size means someone else touched it: what
this process recorded since the last checkpoint may be gone for every other reader. One
`stat` before each transaction is the price.
"""

from __future__ import annotations

import os
from pathlib import Path

from vvrun.errors import StateError


def wal_lost(path: Path) -> bool:
    """The log is missing while its shared-memory index is there (someone deleted it)."""
    return not os.path.exists(f"{path}-wal") and os.path.exists(f"{path}-shm")


class WalWatch:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.wal = f"{path}-wal"
        self._seen: tuple[int, int] | None = None  # (inode, size) after our last commit
        self.seen()

    def seen(self) -> None:
        try:
            st = os.stat(self.wal)
        except FileNotFoundError:
            return
        self._seen = (st.st_ino, st.st_size)

    def check(self) -> None:
        if self._seen is None:
            return
        try:
            st = os.stat(self.wal)
        except FileNotFoundError:
            raise self._error("was removed") from None
        if st.st_ino != self._seen[0]:
            raise self._error("was replaced by another file")
        if st.st_size < self._seen[1]:
            raise self._error(f"was cut short ({st.st_size} bytes, was {self._seen[1]})")

    def _error(self, what: str) -> StateError:
        return StateError(
            f"the state store's write-ahead log {self.wal} {what} while vvrun was using it: "
            "what was recorded since the last checkpoint may be lost to other readers",
            hint="stop; check whether the last steps took effect, and `vvrun verify RUN_ID`, "
                 "before resuming anything from this store")
