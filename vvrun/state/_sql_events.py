"""The `events` table: the audit trail, one keyed chain per run (`chain` = run id, '' for
events of no run)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from vvrun.errors import StateError
from vvrun.state._sql_tx import Tx
from vvrun.state.audit import GENESIS, normalized, seal

EVENT_COLUMNS = "run_id, n, ts, kind, operator, host, data, prev_hash, hash"

#: events that record what the ledger records anyway: they need not wait for the disk. Every
#: other event — confirmations, approvals, acknowledgements, lock changes, the run's end — is a
#: decision or a fact of its own and is flushed when appended.
ROUTINE_EVENTS = frozenset({"run_started", "step_started", "step_ended", "step_skipped",
                            "step_retry", "step_output", "step_progress"})


def event_from_row(row: tuple[Any, ...]) -> dict[str, Any]:
    run_id, n, ts, kind, operator, host, data, prev_hash, hash_ = row
    return {"run_id": run_id, "n": int(n), "ts": float(ts), "kind": kind,
            "operator": operator, "host": host, "data": json.loads(data),
            "prev_hash": prev_hash, "hash": hash_}


def append(tx: Tx, key: bytes, run_id: str | None, kind: str, data: Mapping[str, Any], *,
           operator: str, host: str, written: dict[str, int] | None = None) -> dict[str, Any]:
    """Append one event to its run's chain. `written` (chain → last n this handle appended)
    is checked first: a store that lost events this process wrote is refused, not extended."""
    chain = run_id or ""
    last = tx.one("SELECT n, hash FROM {p}events WHERE chain = ? ORDER BY n DESC LIMIT 1",
                  (chain,))
    if written is not None and chain in written and (last is None
                                                     or int(last[0]) < written[chain]):
        found = 0 if last is None else int(last[0])
        raise StateError(
            f"the state store lost events this process wrote: run {run_id or '-'} had "
            f"{written[chain]} events and now has {found} (its -wal file was removed, or the "
            "store was restored or edited while the run was going on)",
            hint="stop this run; check the store with `vvrun verify RUN`, and whether the "
                 "last steps took effect, before resuming it")
    n, prev = (int(last[0]) + 1, last[1]) if last else (1, GENESIS)
    text, value = normalized(dict(data))  # the row keeps the text `value` was read from
    event = seal(key, prev, run_id=run_id, n=n, ts=time.time(), kind=kind, operator=operator,
                 host=host, data=value)
    tx.run(f"INSERT INTO {{p}}events (chain, {EVENT_COLUMNS}) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
           (chain, run_id, n, event["ts"], kind, operator, host, text, prev, event["hash"]))
    if written is not None:
        written[chain] = n
    return event


def read(tx: Tx, run_id: str | None) -> list[dict[str, Any]]:
    rows = tx.all(f"SELECT {EVENT_COLUMNS} FROM {{p}}events WHERE chain = ? ORDER BY n",
                  (run_id or "",))
    return [event_from_row(r) for r in rows]


def last_by_kind(tx: Tx, run_id: str, kind: str) -> tuple[Any, ...] | None:
    return tx.one("SELECT operator, ts FROM {p}events WHERE chain = ? AND kind = ? "
                  "ORDER BY n DESC LIMIT 1", (run_id, kind))
