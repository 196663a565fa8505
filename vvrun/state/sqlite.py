"""The default store: one SQLite file, WAL, `synchronous=FULL`, private to its owner.

A store is created whole or not at all (built under a temporary name, then linked into place),
so an existing file that is empty, truncated or damaged is never mistaken for a new store: it is
reported, with its path and what to do, and no run starts over it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from vvrun.errors import StateError
from vvrun.secrets import Masker
from vvrun.state._filelocks import FileLocks
from vvrun.state._migrations import LATEST, MIGRATIONS, REKEY_AT, render
from vvrun.state._netfs import refuse_network_fs
from vvrun.state._rekey import rekey
from vvrun.state._sql import SqlStore, Tx
from vvrun.state._sqlite_locks import acquire_with_files
from vvrun.state._wal import WalWatch, wal_lost
from vvrun.state.audit_key import KEY_NAME, load_key

_TYPES = {"p": "", "int": "INTEGER", "real": "REAL",
          "serial_pk": "INTEGER PRIMARY KEY AUTOINCREMENT"}
_HEADER = b"SQLite format 3\x00"
_BUSY_TIMEOUT_MS = 30_000


class SqliteStore(SqlStore):
    #: the durable commits' setting; only the benchmark lowers it, to tell CPU from disk
    SYNCHRONOUS = "FULL"

    def __init__(self, path: str | os.PathLike[str], *, masker: Masker | None = None,
                 audit_key: bytes | None = None) -> None:
        """`audit_key`: the audit chain's key; by default `audit.key` beside the store."""
        self.path = Path(path)
        refuse_network_fs(self.path)
        if not self.path.exists():
            _create(self.path)
        super().__init__(masker=masker,
                         audit_key=audit_key or load_key(self.path.parent / KEY_NAME))
        self._sql_cache: dict[str, str] = {}
        self._conn = _open_existing(self.path, self.audit_key)
        if self.SYNCHRONOUS != "FULL":
            self._conn.execute(f"PRAGMA synchronous = {self.SYNCHRONOUS}")
        _private(self.path)
        self._wal = WalWatch(self.path)
        self._files = FileLocks(self.path)

    def describe(self) -> str:
        return str(self.path)

    def _sql(self, text: str) -> str:
        cached = self._sql_cache.get(text)
        if cached is None:
            cached = self._sql_cache[text] = text.replace("{p}", "")
        return cached

    @contextlib.contextmanager
    def _transaction(self, *, write: bool, lock: str | None = None,
                     durable: bool = True) -> Iterator[Tx]:
        # BEGIN IMMEDIATE takes the database's one write lock up front: writers queue on the
        # busy timeout instead of failing midway, and every check-then-write is atomic.
        relaxed = write and not durable
        with self._mutex:
            self._wal.check()
            cur = self._conn.cursor()
            try:
                if relaxed:  # WAL frames are ordered: the next FULL commit syncs this one too
                    cur.execute("PRAGMA synchronous = NORMAL")
                cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.Error as exc:
                self._end(cur, relaxed)
                raise _translate(self.path, exc) from exc
            try:
                yield Tx(cur, self._sql)
                cur.execute("COMMIT")
                self._wal.seen()
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    cur.execute("ROLLBACK")
                raise _translate(self.path, exc) from exc
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    cur.execute("ROLLBACK")
                raise
            finally:
                self._end(cur, relaxed)

    def _end(self, cur: sqlite3.Cursor, relaxed: bool) -> None:
        if relaxed:
            with contextlib.suppress(sqlite3.Error):
                cur.execute(f"PRAGMA synchronous = {self.SYNCHRONOUS}")
        cur.close()

    def acquire_locks(self, run_id: str, keys: tuple[str, ...], *, operator: str, host: str,
                      pid: int, ttl: float) -> int:
        return acquire_with_files(self, super().acquire_locks, run_id, keys, operator=operator,
                                  host=host, pid=pid, ttl=ttl)

    def park_locks(self, run_id: str) -> None:
        fence = self._fences.get(run_id)
        if fence is not None:  # a paused run has no process: its resume takes them again
            self._files.release(fence.keys)
        super().park_locks(run_id)

    def release_locks(self, run_id: str) -> None:
        fence = self._fences.get(run_id)
        self._files.release(fence.keys if fence is not None else None)  # files first
        super().release_locks(run_id)

    def close(self) -> None:
        with self._mutex:
            self._files.release()
            self._conn.close()


def _translate(path: Path, exc: sqlite3.Error) -> StateError:
    text = str(exc)
    if "disk is full" in text:
        return StateError(
            f"the disk holding the state store {path} is full: vvrun could not record what "
            "happened, and stopped before doing anything it could not record",
            hint=f"free space on the file system of {path.parent}, then resume the run "
                 "(`vvrun resume RUN_ID`); the store itself is intact")
    if wal_lost(path):
        return _wal_gone(path, text)
    if "locked" in text or "busy" in text:
        return StateError(f"state store {path} stayed busy for "
                          f"{_BUSY_TIMEOUT_MS // 1000}s ({text})",
                          hint="another vvrun is writing to it; try again")
    if isinstance(exc, sqlite3.DatabaseError) and ("malformed" in text or "not a database"
                                                   in text):
        return _damaged(path, text)
    return StateError(f"state store {path}: {text}",
                      hint="check the disk and the file's permissions")


def _wal_gone(path: Path, why: str) -> StateError:
    return StateError(
        f"the state store's write-ahead log {path}-wal was removed or replaced while vvrun "
        f"was using it ({why}): what was recorded since the last checkpoint may be lost",
        hint="stop; check whether the last steps took effect, then `vvrun verify RUN_ID` "
             "before resuming anything from this store")


def _damaged(path: Path, why: str) -> StateError:
    why = " ".join(why.replace("*** in database main ***", "").split())  # one line
    if len(why) > 160:
        why = why[:159] + "…"
    return StateError(
        f"state store {path} is damaged ({why}); vvrun will not start over it",
        hint=f"move it aside (`mv {path} {path}.broken`) to start a new store, "
             f"or restore it from a backup",
    )


def _connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                               timeout=_BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise StateError(f"cannot open state store {path}: {exc}",
                         hint="check that its directory exists and is writable by you, "
                              "or set VVRUN_STATE to another path") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous = FULL")  # survives power loss; WAL alone does not
    except sqlite3.Error as exc:
        conn.close()
        raise _translate(path, exc) from exc
    return conn


def _migrate(conn: sqlite3.Connection, path: Path, key: bytes | None) -> None:
    """Apply the missing migrations; `key` re-keys old chains (None: a new, empty store)."""
    cur = conn.cursor()
    cur.execute("BEGIN IMMEDIATE")
    try:
        cur.execute("CREATE TABLE IF NOT EXISTS schema_version "
                    "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
        current = cur.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
        if current > LATEST:
            raise StateError(
                f"state store {path} has schema version {current}, newer than this vvrun "
                f"knows ({LATEST})", hint="upgrade vvrun, or set VVRUN_STATE to another store")
        for version, _title, statements in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                cur.execute(render(statement, _TYPES))
            cur.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                        (version, time.time()))
            if version == REKEY_AT and key is not None:
                rekey(Tx(cur, lambda text: text.replace("{p}", "")), key)
        cur.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            cur.execute("ROLLBACK")
        raise


_create_lock = threading.Lock()


def _create(path: Path) -> None:
    """Build a new store under a temporary name and link it into place: either `path` is a
    whole, migrated store, or it does not exist. Losing the race to another process is fine."""
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}-{threading.get_ident()}")
    try:
        new_dir = not path.parent.exists()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if new_dir:
            os.chmod(path.parent, 0o700)  # mkdir's mode is filtered by the umask
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    except OSError as exc:
        raise StateError(f"cannot create state store {path}: {exc.strerror}",
                         hint="check that its directory is writable by you, or set "
                              "VVRUN_STATE to another path") from exc
    os.close(fd)
    try:
        with _create_lock:
            conn = _connect(tmp)
            try:
                conn.execute("PRAGMA journal_mode = WAL")  # persists in the file
                _migrate(conn, path, None)
            except sqlite3.Error as exc:  # a full disk, most likely: nothing was linked
                raise _translate(path, exc) from exc
            finally:
                conn.close()
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{tmp}{suffix}")


def _open_existing(path: Path, key: bytes) -> sqlite3.Connection:
    try:
        with open(path, "rb") as fh:
            header = fh.read(len(_HEADER))
    except OSError as exc:
        raise StateError(f"cannot read state store {path}: {exc.strerror}",
                         hint="check the file's permissions, or set VVRUN_STATE to another "
                              "path") from exc
    if not header:
        raise _damaged(path, "the file is empty")
    if header != _HEADER:
        raise _damaged(path, "not an SQLite database")
    if wal_lost(path):  # SQLite removes both on a clean close and leaves both after a crash
        raise StateError(
            f"state store {path}: its write-ahead log {path}-wal is missing while its index "
            f"{path}-shm is there: someone removed the log, and what it held since the last "
            "checkpoint (the latest steps' records, its locks) is lost",
            hint=f"make sure no vvrun is still running on this store (`fuser {path}`), check "
                 f"whether the last steps took effect, then remove {path}-shm and "
                 "`vvrun verify RUN_ID` before resuming")
    conn = _connect(path)
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StateError(f"state store {path} cannot use WAL mode (got {mode!r})",
                             hint="put the store on a local file system")
        check = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        if check != "ok":
            raise _damaged(path, check)
        _migrate(conn, path, key)
    except sqlite3.Error as exc:
        conn.close()
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            raise _damaged(path, str(exc)) from exc
        raise _translate(path, exc) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _private(path: Path) -> None:
    """0600 on the store and its WAL and shared-memory files: they hold what operators did."""
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            os.chmod(f"{path}{suffix}", 0o600)
