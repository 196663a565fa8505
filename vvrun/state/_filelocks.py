"""Advisory file locks beside a SQLite store, one per lock key, held while a run holds it.

They live outside the database, so they outlast the loss of its `-wal` file: a store that lost
a live run's lock row still cannot give that lock to someone else. The kernel releases them
when their process dies, so they never need breaking by hand. Each file holds the holder's
run id and fencing token, so a lock broken on purpose (`vvrun unlock`) is told apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path


class FileLocks:
    def __init__(self, store_path: Path) -> None:
        self.dir = store_path.with_name(f".{store_path.name}.locks")
        self._held: dict[str, int] = {}  # lock key → open fd

    def _path(self, key: str) -> Path:
        return self.dir / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".lock")

    def try_take(self, key: str) -> bool:
        """Whether this handle now holds `key`'s file lock (False: another holds it)."""
        if key in self._held:
            return True
        if not self.dir.exists():
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self._path(key), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._held[key] = fd
        return True

    def holder(self, key: str) -> tuple[str, int] | None:
        """(run id, token) the holder of `key`'s file lock wrote, if any."""
        with contextlib.suppress(OSError, ValueError):
            run_id, token = self._path(key).read_text().split()
            return run_id, int(token)
        return None

    def mark(self, key: str, run_id: str, token: int) -> None:
        fd = self._held.get(key)
        if fd is not None:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{run_id} {token}\n".encode(), 0)

    def release(self, keys: tuple[str, ...] | None = None) -> None:
        for key in list(self._held) if keys is None else keys:
            fd = self._held.pop(key, None)
            if fd is not None:
                os.close(fd)  # closing the only descriptor drops the flock
