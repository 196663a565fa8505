"""The `runs` table: one row per run."""

from __future__ import annotations

import json
from typing import Any

from vvrun.state._sql_tx import Tx
from vvrun.state.base import RunRecord

RUN_COLUMNS = ("id, runbook, path, source_hash, status, operator, host, pid, inputs, "
               "started_at, updated_at, vvrun_version, locks, error, source")


def run_from_row(row: tuple[Any, ...]) -> RunRecord:
    (id_, runbook, path, source_hash, status, operator, host, pid, inputs, started_at,
     updated_at, version, locks, error, source) = row
    return RunRecord(
        id=id_, runbook=runbook, path=path, source_hash=source_hash, status=status,
        operator=operator, host=host, pid=int(pid), inputs=json.loads(inputs),
        started_at=float(started_at), updated_at=float(updated_at), vvrun_version=version,
        locks=tuple(json.loads(locks)), error=error, source=source,
    )


def insert(tx: Tx, run: RunRecord, *, inputs: str, error: str | None, source: str,
           now: float) -> None:
    tx.run(f"INSERT INTO {{p}}runs ({RUN_COLUMNS}) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
           (run.id, run.runbook, run.path, run.source_hash, run.status, run.operator,
            run.host, run.pid, inputs, run.started_at or now, run.updated_at or now,
            run.vvrun_version, json.dumps(list(run.locks)), error, source))


def set_status(tx: Tx, run_id: str, *, status: str, error: str | None, now: float) -> int:
    return tx.run("UPDATE {p}runs SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                  (status, error, now, run_id))


def get(tx: Tx, run_id: str) -> RunRecord | None:
    row = tx.one(f"SELECT {RUN_COLUMNS} FROM {{p}}runs WHERE id = ?", (run_id,))
    return run_from_row(row) if row is not None else None


def listing(tx: Tx, *, runbook: str | None, status: str | None, limit: int
            ) -> list[RunRecord]:
    where, params = [], []
    if runbook is not None:
        where.append("runbook = ?")
        params.append(runbook)
    if status is not None:
        where.append("status = ?")
        params.append(status)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = tx.all(f"SELECT {RUN_COLUMNS} FROM {{p}}runs{clause} ORDER BY id DESC LIMIT ?",
                  (*params, int(limit)))
    return [run_from_row(r) for r in rows]
