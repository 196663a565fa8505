"""A SQLite store's locks: the rows in the database, plus a file lock per key (`_filelocks`)
that outlives the loss of the database's `-wal` file.

Order matters: rows first, then files when taking; files first, then rows when releasing. So
a file lock is only ever held over a committed row, and a busy file lock over a key that had no
row means the database lost that row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vvrun.errors import LockHeld


def acquire_with_files(store: Any, acquire_rows: Callable[..., int], run_id: str,
                       keys: tuple[str, ...], **kwargs: Any) -> int:
    wanted = tuple(sorted(set(keys)))
    had_row = {key for key in wanted if store.lock_info(key) is not None}
    token = acquire_rows(run_id, wanted, **kwargs)
    files = store._files
    for key in wanted:
        if files.try_take(key):
            files.mark(key, run_id, token)
            continue
        if key in had_row:
            continue  # a take-over the rows allowed (the rows decide, as they always did)
        holder = files.holder(key)
        if holder is not None and _broken(store, key, *holder):
            continue
        store.release_locks(run_id)
        who = f"run {holder[0]}" if holder else "another process"
        raise LockHeld(
            f"lock '{key}' is held by {who} on this host, but the state store "
            f"{store.path} has no record of it: the store lost it (was its -wal file removed?)",
            hint="do not start or resume anything on this target until that process ends; "
                 "then check the store with `vvrun verify RUN_ID`")
    return token


def _broken(store: Any, key: str, run_id: str, token: int) -> bool:
    """The holder's lock was broken on purpose (`vvrun unlock`), as its trail says."""
    return any(e["kind"] == "lock_broken" and e["data"].get("key") == key
               and e["data"].get("token") == token for e in store.events(run_id))
