"""The state store: runs, the step ledger, locks and the audit trail, behind one interface.

`open_store()` picks the backend at the edge: `VVRUN_STATE=postgresql://...` (a team store),
`VVRUN_STATE=memory`, or SQLite at `$XDG_STATE_HOME/vvrun/state.db` by default.

Ledger keys: a step is keyed by its id; an item of a `for_each` step by `"<id>[<index>]"`.
A step is recorded `running` (committed) *before* its effect starts, and its outcome after.
A reader that finds `running` for a run whose process is gone reports it `uncertain`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from vvrun.state.base import Appended, LockInfo, RunRecord, Store

if TYPE_CHECKING:
    from vvrun.secrets import Masker

__all__ = ["Appended", "LockInfo", "RunRecord", "Store", "default_sqlite_path", "new_run_id",
           "open_store", "operator_name"]


def new_run_id(now: float | None = None) -> str:
    """Sortable by time, short enough to type: `261127-035212-a7f3`."""
    import os
    import time

    t = time.gmtime(now if now is not None else time.time())
    return time.strftime("%y%m%d-%H%M%S", t) + "-" + os.urandom(2).hex()


def operator_name(environ: Mapping[str, str]) -> str:
    """`$VVRUN_OPERATOR`, else `user@host`."""
    import getpass
    import socket

    if environ.get("VVRUN_OPERATOR"):
        return environ["VVRUN_OPERATOR"]
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = environ.get("USER", "unknown")
    return f"{user}@{socket.gethostname()}"


def default_sqlite_path(environ: Mapping[str, str]) -> str:
    """`$XDG_STATE_HOME/vvrun/state.db`, falling back to `~/.local/state/vvrun/state.db`."""
    import os.path

    base = environ.get("XDG_STATE_HOME", "")
    if not base or not os.path.isabs(base):  # the XDG spec says to ignore relative paths
        home = environ.get("HOME") or os.path.expanduser("~")
        base = os.path.join(home, ".local", "state")
    return os.path.join(base, "vvrun", "state.db")


def open_store(environ: Mapping[str, str], *, masker: Masker | None = None,
               audit_key: bytes | None = None) -> Store:
    """The store the environment asks for: `VVRUN_STATE=memory`, `postgresql://...` (in the
    schema `$VVRUN_STATE_SCHEMA`, default `vvrun`), a SQLite path, or by default SQLite at
    `$XDG_STATE_HOME/vvrun/state.db`. Whatever is written is masked with `masker` first.

    `audit_key` signs the audit chain; by default `audit.key` beside a SQLite store, and
    `$XDG_STATE_HOME/vvrun/audit.key` for a PostgreSQL one (a team should share one key,
    given here from `secrets.audit_key`)."""
    store = _open(environ, masker, audit_key)
    if environ.get("VVRUN_TEST_CRASH_AT"):
        from vvrun.state._crash import CrashingStore

        return CrashingStore(store, environ["VVRUN_TEST_CRASH_AT"])  # type: ignore[return-value]
    return store


def _open(environ: Mapping[str, str], masker: Masker | None, key: bytes | None) -> Store:
    import os.path

    from vvrun.errors import StateError

    target = environ.get("VVRUN_STATE", "").strip()
    if target == "memory":
        from vvrun.state.memory import MemoryStore

        return MemoryStore(masker=masker, audit_key=key)
    if target.startswith(("postgresql://", "postgres://")):
        from vvrun.state.audit_key import default_key_path, load_key
        from vvrun.state.postgres import PostgresStore

        return PostgresStore(target, schema=environ.get("VVRUN_STATE_SCHEMA") or "vvrun",
                             masker=masker,
                             audit_key=key or load_key(default_key_path(environ)))
    if "://" in target:
        from vvrun.secrets import Masker as _Masker

        raise StateError(
            f"VVRUN_STATE={_Masker().mask(target)} is not a store vvrun knows",
            hint="use a file path (SQLite), postgresql://user@host/db, or memory")
    from vvrun.state.sqlite import SqliteStore

    path = os.path.expanduser(target) if target else default_sqlite_path(environ)
    return SqliteStore(path, masker=masker, audit_key=key)
