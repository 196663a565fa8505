"""The `ledger` table: the latest state of each step (or `for_each` item) of a run.

Every row carries a MAC under the audit key (`audit.ledger_mac`), so a row written by anyone
without the key — a forged `succeeded` — is found by `verify_chain`.
"""

from __future__ import annotations

import json
from typing import Any

import vvrun.state._liveness as live
from vvrun.errors import StateError
from vvrun.results import Status, StepResult
from vvrun.state._sql_tx import Tx
from vvrun.state.audit import LEDGER_FIELDS, ledger_mac

_COLUMNS = ", ".join(LEDGER_FIELDS)

_UPSERT = (
    f"INSERT INTO {{p}}ledger ({_COLUMNS}, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (run_id, key) DO UPDATE SET status = excluded.status, "
    "attempt = excluded.attempt, host = excluded.host, pid = excluded.pid, "
    "pgid = excluded.pgid, action_hash = excluded.action_hash, "
    "started_at = excluded.started_at, ended_at = excluded.ended_at, "
    "result = excluded.result, mac = excluded.mac"
)

#: A pause or an interruption is not an outcome: over a `running` record that another process
#: left (a crash), writing one would forget that the effect may have happened, and the next
#: resume would run the step again as if it never had. It keeps the record.
_KEEP_IN_FLIGHT = " WHERE {p}ledger.status <> 'running'"


def _params(key: bytes, row: dict[str, Any]) -> tuple[Any, ...]:
    return (*(row[name] for name in LEDGER_FIELDS), ledger_mac(key, row))


def write(tx: Tx, key: bytes, row: dict[str, Any], *, keep_in_flight: bool = False) -> None:
    tx.run(_UPSERT + (_KEEP_IN_FLIGHT if keep_in_flight else ""), _params(key, row))


def claim(tx: Tx, key: bytes, row: dict[str, Any], *, ours: bool, fenced: bool) -> None:
    """Record `running` for a step, only if nobody else is running it: one atomic
    `INSERT … ON CONFLICT DO NOTHING RETURNING` for a new step, else the row locked
    (`FOR UPDATE`) and checked before it is rewritten. Two resumers never both get it."""
    inserted = tx.one(f"INSERT INTO {{p}}ledger ({_COLUMNS}, mac) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                      "ON CONFLICT (run_id, key) DO NOTHING RETURNING status",
                      _params(key, row))
    if inserted is not None:
        return
    held = tx.one(f"SELECT status, host, pid FROM {{p}}ledger WHERE run_id = ? AND key = ?"
                  f"{tx.for_update}", (row["run_id"], row["key"]))
    if held is not None and held[0] == Status.RUNNING.value and not ours:
        host, pid = held[1], int(held[2] or 0)
        mine = host == row["host"] and pid == row["pid"]
        # A holder of the run's locks (checked in this transaction) may take over a step
        # left running elsewhere: that writer has lost its lease. Else only a dead process's.
        gone = (host == live.this_host() and not live.pid_alive(pid)) or (
            fenced and host != live.this_host())
        if not (mine or gone):
            raise StateError(
                f"step '{row['key']}' of run {row['run_id']} is already running (pid {pid} on "
                f"{host}): another resume claimed it first",
                hint=f"let that process finish; see `vvrun show {row['run_id']}`")
    write(tx, key, row)


def rows(tx: Tx, run_id: str) -> list[dict[str, Any]]:
    """The run's raw rows with their MACs, for verification."""
    found = tx.all(f"SELECT {_COLUMNS}, mac FROM {{p}}ledger WHERE run_id = ? ORDER BY key",
                   (run_id,))
    return [dict(zip((*LEDGER_FIELDS, "mac"), r, strict=True)) for r in found]


def entry(tx: Tx, run_id: str, key: str) -> dict[str, Any] | None:
    row = tx.one("SELECT status, attempt, host, pid, pgid, action_hash, started_at "
                 "FROM {p}ledger WHERE run_id = ? AND key = ?", (run_id, key))
    if row is None:
        return None
    names = ("status", "attempt", "host", "pid", "pgid", "action_hash", "started_at")
    return dict(zip(names, row, strict=True))


def results(tx: Tx, run_id: str, now: float) -> dict[str, StepResult]:
    found = tx.all("SELECT key, status, attempt, host, pid, action_hash, started_at, result "
                   "FROM {p}ledger WHERE run_id = ?", (run_id,))
    lease = tx.one("SELECT MIN(expires_at), MIN(pid) FROM {p}locks WHERE run_id = ?", (run_id,))
    lease_end = float(lease[0]) if lease and lease[0] is not None else None
    parked = bool(lease and lease[1] is not None and int(lease[1]) == live.PARKED)
    out: dict[str, StepResult] = {}
    for key, status, attempt, host, pid, action_hash, started_at, result in found:
        if status != Status.RUNNING.value:
            out[key] = StepResult.from_dict(json.loads(result))
            continue
        out[key] = live.in_flight(key, attempt=int(attempt), host=host, pid=int(pid or 0),
                                  action_hash=action_hash, started_at=started_at,
                                  lease_end=lease_end, parked=parked, now=now)
    return out
