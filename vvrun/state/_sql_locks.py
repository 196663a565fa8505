"""The `locks` table: leases with fencing tokens, taken all or nothing for a run.

Every write of a run this handle holds locks for checks the fencing token *inside* the writing
transaction, so a writer whose lock was broken or taken over cannot write any more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import vvrun.state._liveness as live
from vvrun.errors import StateError
from vvrun.state._sql_events import last_by_kind
from vvrun.state._sql_tx import Tx
from vvrun.state.base import Fence, LockInfo

LOCK_COLUMNS = "key, run_id, operator, host, pid, since, expires_at, token"

#: appends an event to a run's chain inside the same transaction
Append = Callable[..., Any]


def lock_from_row(row: tuple[Any, ...]) -> LockInfo:
    key, run_id, operator, host, pid, since, expires_at, token = row
    return LockInfo(key, run_id, operator, host, int(pid), float(since), float(expires_at),
                    int(token))


def check_fence(tx: Tx, run_id: str, fence: Fence) -> None:
    rows = tx.all(f"SELECT key FROM {{p}}locks WHERE run_id = ? AND token = ?"
                  f"{tx.share_lock}", (run_id, fence.token))
    if len(rows) != len(fence.keys):
        raise fence_error(tx, run_id, fence)


def fence_error(tx: Tx, run_id: str, fence: Fence) -> StateError:
    broken = last_by_kind(tx, run_id, "lock_broken")
    taken = None
    for key in fence.keys:
        held = get(tx, key)
        if held is not None and held.token > fence.token:
            taken = held
    if broken is not None:
        return live.fence_broken(run_id, by=broken[0], at=float(broken[1]), taken_by=taken)
    return live.fence_broken(run_id, by=None, at=None, taken_by=taken)


def get(tx: Tx, key: str) -> LockInfo | None:
    row = tx.one(f"SELECT {LOCK_COLUMNS} FROM {{p}}locks WHERE key = ?", (key,))
    return lock_from_row(row) if row is not None else None


def listing(tx: Tx) -> list[LockInfo]:
    return [lock_from_row(r) for r in tx.all(f"SELECT {LOCK_COLUMNS} FROM {{p}}locks ORDER BY key")]


def acquire(tx: Tx, run_id: str, wanted: tuple[str, ...], *, operator: str, host: str, pid: int,
            ttl: float, now: float, append: Append) -> int:
    taken_over: list[LockInfo] = []
    for key in wanted:
        held = get(tx, key)
        if held is None:
            continue
        if not live.may_take_over(
                holder_run=held.run_id, holder_host=held.host, holder_pid=held.pid,
                holder_expires=held.expires_at, run_id=run_id, host=host, pid=pid, now=now):
            raise live.lock_held(held, now)
        if held.pid != pid or held.host != host:
            taken_over.append(held)
    token_row = tx.one("UPDATE {p}counters SET value = value + 1 WHERE name = 'fence' "
                       "RETURNING value")
    assert token_row is not None
    token = int(token_row[0])
    for key in wanted:
        tx.run(f"INSERT INTO {{p}}locks ({LOCK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
               "ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id, "
               "operator = excluded.operator, host = excluded.host, pid = excluded.pid, "
               "since = excluded.since, expires_at = excluded.expires_at, "
               "token = excluded.token",
               (key, run_id, operator, host, pid, now, now + ttl, token))
    for held in taken_over:
        append(tx, run_id, "lock_taken_over",
               {"key": held.key, "from_host": held.host, "from_pid": held.pid, "token": token},
               operator=operator, host=host)
    return token


def renew(tx: Tx, run_id: str, fence: Fence, now: float) -> None:
    renewed = tx.run("UPDATE {p}locks SET expires_at = ? WHERE run_id = ? AND token = ?",
                     (now + fence.ttl, run_id, fence.token))
    if renewed != len(fence.keys):
        raise fence_error(tx, run_id, fence)


def park(tx: Tx, run_id: str, fence: Fence) -> None:
    tx.run("UPDATE {p}locks SET pid = ? WHERE run_id = ? AND token = ?",
           (live.PARKED, run_id, fence.token))


def release(tx: Tx, run_id: str, fence: Fence | None) -> None:
    if fence is not None:
        tx.run("DELETE FROM {p}locks WHERE run_id = ? AND token = ?", (run_id, fence.token))
    else:
        tx.run("DELETE FROM {p}locks WHERE run_id = ?", (run_id,))


def break_one(tx: Tx, key: str, *, why: str, operator: str, host: str,
              append: Append) -> LockInfo | None:
    held = get(tx, key)
    if held is None:
        return None
    tx.run("DELETE FROM {p}locks WHERE key = ?", (key,))
    # into the holder run's own trail, where its writer and `show` will find it
    append(tx, held.run_id, "lock_broken",
           {"key": key, "why": why, "holder_operator": held.operator,
            "holder_host": held.host, "holder_pid": held.pid, "holder_since": held.since,
            "token": held.token}, operator=operator, host=host)
    return held
