"""The Store in SQL, written once for SQLite and PostgreSQL.

A backend supplies `_transaction()` (a `Tx` inside one transaction, serialized against other
writers of the same thing) and its dialect (table prefix, placeholder, column types). The
tables' SQL lives in `_sql_runs`, `_sql_ledger`, `_sql_events` and `_sql_locks`; this class
holds what one handle remembers — its fences, its in-flight steps, the last event it wrote to
each chain — and the audit key every write is signed with.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import vvrun.state._liveness as live
import vvrun.state._sql_events as events_table
import vvrun.state._sql_ledger as ledger
import vvrun.state._sql_locks as locks
import vvrun.state._sql_runs as runs
from vvrun.results import Status, StepResult
from vvrun.secrets import Masker
from vvrun.state._sql_events import ROUTINE_EVENTS
from vvrun.state._sql_tx import Tx
from vvrun.state.base import Appended, Fence, LockInfo, RunRecord, unknown_run

__all__ = ["ROUTINE_EVENTS", "SqlStore", "Tx"]

_NOT_OUTCOMES = frozenset({Status.PAUSED, Status.INTERRUPTED})


class SqlStore:
    """The Store protocol over a SQL backend; see `vvrun.state.base.Store` for the contract."""

    def __init__(self, *, masker: Masker | None = None, audit_key: bytes) -> None:
        self._masker = masker
        self.audit_key = audit_key
        self._fences: dict[str, Fence] = {}
        self._started: set[tuple[str, str]] = set()  # in-flight records this handle wrote
        self._written: dict[str, int] = {}  # chain → the last event number this handle wrote
        self._mutex = threading.RLock()  # one connection, possibly a lease-renewing thread
        self._host = live.this_host()

    # -- backend -----------------------------------------------------------------------------

    def _transaction(self, *, write: bool, lock: str | None = None, durable: bool = True
                     ) -> AbstractContextManager[Tx]:
        """One transaction. `durable=False`: committed (visible, and safe from a crash of this
        process) without waiting for the disk; the next durable commit flushes it too."""
        raise NotImplementedError

    def describe(self) -> str:
        """Where the store is, for messages (masked)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def schema_version(self) -> int:
        """The latest migration applied to this store."""
        with self._mutex, self._transaction(write=False) as tx:
            row = tx.one("SELECT MAX(version) FROM {p}schema_version")
        return int(row[0]) if row and row[0] is not None else 0

    # -- masking -----------------------------------------------------------------------------

    def _mask(self, obj: Any) -> Any:
        return self._masker.mask_obj(obj) if self._masker is not None else obj

    def _mask_text(self, text: str | None) -> str | None:
        if text is None or self._masker is None:
            return text
        return self._masker.mask(text)

    def _json(self, obj: Any, *, masked: bool = False) -> str:
        """`obj` as JSON, masked (`masked`: the caller's own masker did it, but for a
        mapping's `step_id`, which it masks here)."""
        if masked:
            obj = {**obj, "step_id": self._mask_text(obj["step_id"])} if "step_id" in obj else obj
        else:
            obj = self._mask(obj)
        return json.dumps(obj, default=str, ensure_ascii=False, separators=(",", ":"))

    def _check_fence(self, tx: Tx, run_id: str | None) -> None:
        fence = self._fences.get(run_id) if run_id is not None else None
        if fence is not None:
            locks.check_fence(tx, run_id, fence)  # type: ignore[arg-type]

    # -- runs --------------------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        with self._mutex, self._transaction(write=True) as tx:
            self._check_fence(tx, run.id)
            runs.insert(tx, run, inputs=self._json(dict(run.inputs)),
                        error=self._mask_text(run.error), source=self._mask_text(run.source)
                        or "", now=time.time())

    def update_run(self, run_id: str, *, status: str, error: str | None = None) -> None:
        with self._mutex, self._transaction(write=True) as tx:
            self._check_fence(tx, run_id)
            if runs.set_status(tx, run_id, status=status, error=self._mask_text(error),
                               now=time.time()) == 0:
                raise unknown_run(run_id)

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._mutex, self._transaction(write=False) as tx:
            return runs.get(tx, run_id)

    def list_runs(self, *, runbook: str | None = None, status: str | None = None,
                  limit: int = 50) -> list[RunRecord]:
        with self._mutex, self._transaction(write=False) as tx:
            return runs.listing(tx, runbook=runbook, status=status, limit=limit)

    # -- the ledger --------------------------------------------------------------------------

    def step_started(self, run_id: str, key: str, *, attempt: int, host: str, pid: int,
                     pgid: int | None = None, action_hash: str | None = None,
                     events: Sequence[Appended] = ()) -> None:
        row = {"run_id": run_id, "key": key, "status": Status.RUNNING.value,
               "attempt": attempt, "host": host, "pid": pid, "pgid": pgid,
               "action_hash": action_hash, "started_at": time.time(), "ended_at": None,
               "result": None}
        with self._mutex, self._transaction(write=True, lock=_chain(run_id, events)) as tx:
            self._check_fence(tx, run_id)
            ledger.claim(tx, self.audit_key, row, ours=(run_id, key) in self._started,
                         fenced=run_id in self._fences)
            self._append_all(tx, run_id, events)
        self._started.add((run_id, key))

    def step_finished(self, run_id: str, key: str, result: StepResult, *,
                      events: Sequence[Appended] = (), masked_by: object = None) -> None:
        data = result.to_dict()
        data["step_id"] = key
        masked = self._masker is not None and masked_by is self._masker
        row = {"run_id": run_id, "key": key, "status": result.status.value,
               "attempt": result.attempts, "host": self._host, "pid": None, "pgid": None,
               "action_hash": result.action_hash, "started_at": result.started_at,
               "ended_at": result.ended_at, "result": self._json(data, masked=masked)}
        # Not flushed to disk on its own: the next `running` record (or the run's end) is, and
        # carries it along. A power cut can lose only the last outcome — which then reads as
        # `uncertain`, the safe side — and it halves the fsyncs a step costs.
        with self._mutex, self._transaction(write=True, durable=False,
                                            lock=_chain(run_id, events)) as tx:
            self._check_fence(tx, run_id)
            inherited = (run_id, key) not in self._started
            ledger.write(tx, self.audit_key, row,
                         keep_in_flight=inherited and result.status in _NOT_OUTCOMES)
            self._append_all(tx, run_id, events)
        self._started.discard((run_id, key))

    def step_results(self, run_id: str) -> dict[str, StepResult]:
        with self._mutex, self._transaction(write=False) as tx:
            return ledger.results(tx, run_id, time.time())

    def ledger_entry(self, run_id: str, key: str) -> dict[str, Any] | None:
        """The raw ledger row of one step (host, pid, pgid of an in-flight step), for resume's
        search for a stray process left by a crash."""
        with self._mutex, self._transaction(write=False) as tx:
            return ledger.entry(tx, run_id, key)

    def ledger_rows(self, run_id: str) -> list[dict[str, Any]]:
        """Every ledger row of a run with its MAC, for `verify_chain`."""
        with self._mutex, self._transaction(write=False) as tx:
            return ledger.rows(tx, run_id)

    # -- the audit trail ---------------------------------------------------------------------

    def _append(self, tx: Tx, run_id: str | None, kind: str, data: Mapping[str, Any], *,
                operator: str, host: str, masked: bool = False) -> dict[str, Any]:
        return events_table.append(tx, self.audit_key, run_id, kind,
                                   data if masked else self._mask(dict(data)),
                                   operator=self._mask_text(operator) or "", host=host,
                                   written=self._written)

    def _append_all(self, tx: Tx, run_id: str, events: Sequence[Appended]) -> None:
        for event in events:
            self._append(tx, run_id, event.kind, event.data, operator=event.operator,
                         host=event.host, masked=_masked(event, self._masker))

    def append_event(self, run_id: str | None, kind: str, data: Mapping[str, Any], *,
                     operator: str, host: str) -> None:
        durable = kind not in ROUTINE_EVENTS
        with self._mutex, self._transaction(write=True, lock=_chain(run_id),
                                            durable=durable) as tx:
            self._check_fence(tx, run_id)
            self._append(tx, run_id, kind, data, operator=operator, host=host)

    def events(self, run_id: str | None) -> list[dict[str, Any]]:
        with self._mutex, self._transaction(write=False) as tx:
            return events_table.read(tx, run_id)

    # -- locks -------------------------------------------------------------------------------

    def acquire_locks(self, run_id: str, keys: tuple[str, ...], *, operator: str, host: str,
                      pid: int, ttl: float) -> int:
        wanted = tuple(sorted(set(keys)))
        with self._mutex, self._transaction(write=True, lock="locks") as tx:
            token = locks.acquire(tx, run_id, wanted, operator=operator, host=host, pid=pid,
                                  ttl=ttl, now=time.time(), append=self._append)
        self._fences[run_id] = Fence(token, wanted, ttl)
        return token

    def renew_locks(self, run_id: str) -> None:
        fence = self._fences.get(run_id)
        if fence is None:
            return
        with self._mutex, self._transaction(write=True, lock="locks") as tx:
            locks.renew(tx, run_id, fence, time.time())

    def park_locks(self, run_id: str) -> None:
        """Keep the run's locks while no process runs it (paused): only its own resume, from
        any host, may take them over; anyone else still gets LockHeld."""
        fence = self._fences.pop(run_id, None)
        if fence is None:
            return
        with self._mutex, self._transaction(write=True, lock="locks") as tx:
            locks.park(tx, run_id, fence)

    def release_locks(self, run_id: str) -> None:
        fence = self._fences.pop(run_id, None)
        with self._mutex, self._transaction(write=True, lock="locks") as tx:
            locks.release(tx, run_id, fence)

    def lock_info(self, key: str) -> LockInfo | None:
        with self._mutex, self._transaction(write=False) as tx:
            return locks.get(tx, key)

    def list_locks(self) -> list[LockInfo]:
        with self._mutex, self._transaction(write=False) as tx:
            return locks.listing(tx)

    def break_lock(self, key: str, *, why: str, operator: str, host: str) -> LockInfo | None:
        with self._mutex, self._transaction(write=True, lock="locks") as tx:
            return locks.break_one(tx, key, why=why, operator=operator, host=host,
                                   append=self._append)


def _chain(run_id: str | None, events: Sequence[Appended] | None = None) -> str | None:
    """The lock that serializes appends to a run's chain (None: the transaction appends no
    event)."""
    return None if events is not None and not events else f"chain:{run_id or ''}"


def _masked(event: Appended, masker: Masker | None) -> bool:
    """Whether the event's data is this store's masker's own output (nothing to do again)."""
    return masker is not None and event.masked_by is masker
