"""The Store in SQL, written once for SQLite and PostgreSQL.

A backend supplies `_transaction()` (a DB-API cursor inside one transaction, serialized against
other writers of the same thing) and its dialect (table prefix, placeholder, column types).
Every write of a run that this store holds locks for checks the fencing token *inside* the
writing transaction, so a writer whose lock was broken cannot write any more.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from vvrun.errors import StateError
from vvrun.results import Status, StepResult
from vvrun.secrets import Masker
from vvrun.state import LockInfo, RunRecord
from vvrun.state import _liveness as live
from vvrun.state.audit import GENESIS, chain_event

_RUN_COLUMNS = ("id, runbook, path, source_hash, status, operator, host, pid, inputs, "
                "started_at, updated_at, vvrun_version, locks, error, source")
_LOCK_COLUMNS = "key, run_id, operator, host, pid, since, expires_at, token"
_EVENT_COLUMNS = "run_id, n, ts, kind, operator, host, data, prev_hash, hash"

#: events that record what the ledger records anyway: they need not wait for the disk (see
#: `_transaction`). Every other event — confirmations, approvals, acknowledgements, lock
#: changes, the run's end — is a decision or a fact of its own and is flushed when appended.
ROUTINE_EVENTS = frozenset({"run_started", "step_started", "step_ended", "step_skipped",
                            "step_retry", "step_output", "step_progress"})


@dataclass(frozen=True)
class Fence:
    """The locks this store took for a run: every write of the run checks they are still ours."""

    token: int
    keys: tuple[str, ...]
    ttl: float


class Tx:
    """A cursor in one transaction, speaking the store's SQL (`?` placeholders, `{p}` prefix)."""

    def __init__(self, cursor: Any, sql: Any) -> None:
        self._cur = cursor
        self._sql = sql

    def run(self, text: str, params: tuple[Any, ...] = ()) -> int:
        self._cur.execute(self._sql(text), params)
        return int(self._cur.rowcount)

    def one(self, text: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        self._cur.execute(self._sql(text), params)
        row = self._cur.fetchone()
        return tuple(row) if row is not None else None

    def all(self, text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        self._cur.execute(self._sql(text), params)
        return [tuple(r) for r in self._cur.fetchall()]


def _run_from_row(row: tuple[Any, ...]) -> RunRecord:
    (id_, runbook, path, source_hash, status, operator, host, pid, inputs, started_at,
     updated_at, version, locks, error, source) = row
    return RunRecord(
        id=id_, runbook=runbook, path=path, source_hash=source_hash, status=status,
        operator=operator, host=host, pid=int(pid), inputs=json.loads(inputs),
        started_at=float(started_at), updated_at=float(updated_at), vvrun_version=version,
        locks=tuple(json.loads(locks)), error=error, source=source,
    )


def _lock_from_row(row: tuple[Any, ...]) -> LockInfo:
    key, run_id, operator, host, pid, since, expires_at, token = row
    return LockInfo(key, run_id, operator, host, int(pid), float(since), float(expires_at),
                    int(token))


def _event_from_row(row: tuple[Any, ...]) -> dict[str, Any]:
    run_id, n, ts, kind, operator, host, data, prev_hash, hash_ = row
    return {"run_id": run_id, "n": int(n), "ts": float(ts), "kind": kind,
            "operator": operator, "host": host, "data": json.loads(data),
            "prev_hash": prev_hash, "hash": hash_}


class SqlStore:
    """The Store protocol over a SQL backend; see `vvrun.state.Store` for the contract."""

    #: appended to the fence check so a concurrent `break_lock` waits for our write (PostgreSQL)
    _share_lock = ""

    def __init__(self, *, masker: Masker | None = None) -> None:
        self._masker = masker
        self._fences: dict[str, Fence] = {}
        self._started: set[tuple[str, str]] = set()  # in-flight records this handle wrote
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

    def _json(self, obj: Any) -> str:
        return json.dumps(self._mask(obj), default=str, ensure_ascii=False,
                          separators=(",", ":"))

    # -- fencing -----------------------------------------------------------------------------

    def _check_fence(self, tx: Tx, run_id: str | None) -> None:
        fence = self._fences.get(run_id) if run_id is not None else None
        if fence is None:
            return
        rows = tx.all(f"SELECT key FROM {{p}}locks WHERE run_id = ? AND token = ?"
                      f"{self._share_lock}", (run_id, fence.token))
        if len(rows) == len(fence.keys):
            return
        raise self._fence_error(tx, run_id, fence)

    def _fence_error(self, tx: Tx, run_id: str, fence: Fence) -> StateError:
        broken = tx.one("SELECT operator, ts FROM {p}events WHERE chain = ? AND kind = ? "
                        "ORDER BY n DESC LIMIT 1", (run_id, "lock_broken"))
        taken = None
        for key in fence.keys:
            row = tx.one(f"SELECT {_LOCK_COLUMNS} FROM {{p}}locks WHERE key = ?", (key,))
            if row is not None and int(row[7]) > fence.token:
                taken = _lock_from_row(row)
        if broken is not None:
            return live.fence_broken(run_id, by=broken[0], at=float(broken[1]), taken_by=taken)
        return live.fence_broken(run_id, by=None, at=None, taken_by=taken)

    # -- runs --------------------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        now = time.time()
        with self._mutex, self._transaction(write=True) as tx:
            self._check_fence(tx, run.id)
            tx.run(
                f"INSERT INTO {{p}}runs ({_RUN_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run.id, run.runbook, run.path, run.source_hash, run.status, run.operator,
                 run.host, run.pid, self._json(dict(run.inputs)), run.started_at or now,
                 run.updated_at or now, run.vvrun_version, json.dumps(list(run.locks)),
                 self._mask_text(run.error), self._mask_text(run.source) or ""),
            )

    def update_run(self, run_id: str, *, status: str, error: str | None = None) -> None:
        with self._mutex, self._transaction(write=True) as tx:
            self._check_fence(tx, run_id)
            changed = tx.run("UPDATE {p}runs SET status = ?, error = ?, updated_at = ? "
                             "WHERE id = ?", (status, self._mask_text(error), time.time(), run_id))
            if changed == 0:
                raise unknown_run(run_id)

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._mutex, self._transaction(write=False) as tx:
            row = tx.one(f"SELECT {_RUN_COLUMNS} FROM {{p}}runs WHERE id = ?", (run_id,))
        return _run_from_row(row) if row is not None else None

    def list_runs(self, *, runbook: str | None = None, status: str | None = None,
                  limit: int = 50) -> list[RunRecord]:
        where, params = [], []
        if runbook is not None:
            where.append("runbook = ?")
            params.append(runbook)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._mutex, self._transaction(write=False) as tx:
            rows = tx.all(f"SELECT {_RUN_COLUMNS} FROM {{p}}runs{clause} ORDER BY id DESC "
                          "LIMIT ?", (*params, int(limit)))
        return [_run_from_row(r) for r in rows]

    # -- the ledger --------------------------------------------------------------------------

    _UPSERT_LEDGER = (
        "INSERT INTO {p}ledger (run_id, key, status, attempt, host, pid, pgid, action_hash, "
        "started_at, ended_at, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, key) DO UPDATE SET status = excluded.status, "
        "attempt = excluded.attempt, host = excluded.host, pid = excluded.pid, "
        "pgid = excluded.pgid, action_hash = excluded.action_hash, "
        "started_at = excluded.started_at, ended_at = excluded.ended_at, "
        "result = excluded.result"
    )

    #: A pause or an interruption is not an outcome: over a `running` record that another
    #: process left (a crash), writing one would forget that the effect may have happened, and
    #: the next resume would run the step again as if it never had. It keeps the record.
    _KEEP_IN_FLIGHT = " WHERE {p}ledger.status <> 'running'"
    _NOT_OUTCOMES = frozenset({Status.PAUSED, Status.INTERRUPTED})

    def step_started(self, run_id: str, key: str, *, attempt: int, host: str, pid: int,
                     pgid: int | None = None, action_hash: str | None = None) -> None:
        with self._mutex, self._transaction(write=True) as tx:
            self._check_fence(tx, run_id)
            tx.run(self._UPSERT_LEDGER, (run_id, key, Status.RUNNING.value, attempt, host, pid,
                                         pgid, action_hash, time.time(), None, None))
        self._started.add((run_id, key))

    def step_finished(self, run_id: str, key: str, result: StepResult) -> None:
        data = result.to_dict()
        data["step_id"] = key
        # Not flushed to disk on its own: the next `running` record (or the run's end) is, and
        # carries it along. A power cut can lose only the last outcome — which then reads as
        # `uncertain`, the safe side — and it halves the fsyncs a step costs.
        with self._mutex, self._transaction(write=True, durable=False) as tx:
            self._check_fence(tx, run_id)
            inherited = (run_id, key) not in self._started
            keep = inherited and result.status in self._NOT_OUTCOMES
            tx.run(self._UPSERT_LEDGER + (self._KEEP_IN_FLIGHT if keep else ""), (
                run_id, key, result.status.value, result.attempts, self._host, None, None,
                result.action_hash, result.started_at, result.ended_at, self._json(data)))
        self._started.discard((run_id, key))

    def step_results(self, run_id: str) -> dict[str, StepResult]:
        with self._mutex, self._transaction(write=False) as tx:
            rows = tx.all("SELECT key, status, attempt, host, pid, action_hash, started_at, "
                          "result FROM {p}ledger WHERE run_id = ?", (run_id,))
            lease = tx.one("SELECT MIN(expires_at), MIN(pid) FROM {p}locks WHERE run_id = ?",
                           (run_id,))
        lease_end = float(lease[0]) if lease and lease[0] is not None else None
        parked = bool(lease and lease[1] is not None and int(lease[1]) == live.PARKED)
        now = time.time()
        out: dict[str, StepResult] = {}
        for key, status, attempt, host, pid, action_hash, started_at, result in rows:
            if status != Status.RUNNING.value:
                out[key] = StepResult.from_dict(json.loads(result))
                continue
            out[key] = in_flight(key, attempt=int(attempt), host=host, pid=int(pid or 0),
                                 action_hash=action_hash, started_at=started_at,
                                 lease_end=lease_end, parked=parked, now=now)
        return out

    def ledger_entry(self, run_id: str, key: str) -> dict[str, Any] | None:
        """The raw ledger row of one step (host, pid, pgid of an in-flight step), for resume's
        search for a stray process left by a crash."""
        with self._mutex, self._transaction(write=False) as tx:
            row = tx.one("SELECT status, attempt, host, pid, pgid, action_hash, started_at "
                         "FROM {p}ledger WHERE run_id = ? AND key = ?", (run_id, key))
        if row is None:
            return None
        names = ("status", "attempt", "host", "pid", "pgid", "action_hash", "started_at")
        return dict(zip(names, row, strict=True))

    # -- the audit trail ---------------------------------------------------------------------

    def _append(self, tx: Tx, run_id: str | None, kind: str, data: Mapping[str, Any], *,
                operator: str, host: str) -> dict[str, Any]:
        chain = run_id or ""
        last = tx.one("SELECT n, hash FROM {p}events WHERE chain = ? ORDER BY n DESC LIMIT 1",
                      (chain,))
        n, prev = (int(last[0]) + 1, last[1]) if last else (1, GENESIS)
        event = chain_event(prev, run_id=run_id, n=n, ts=time.time(), kind=kind,
                            operator=self._mask_text(operator) or "", host=host,
                            data=self._mask(dict(data)))
        tx.run(f"INSERT INTO {{p}}events (chain, {_EVENT_COLUMNS}) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (chain, run_id, n, event["ts"], kind, event["operator"], host,
                json.dumps(event["data"], ensure_ascii=False), prev, event["hash"]))
        return event

    def append_event(self, run_id: str | None, kind: str, data: Mapping[str, Any], *,
                     operator: str, host: str) -> None:
        durable = kind not in ROUTINE_EVENTS
        with self._mutex, self._transaction(write=True, lock=f"chain:{run_id or ''}",
                                            durable=durable) as tx:
            self._check_fence(tx, run_id)
            self._append(tx, run_id, kind, data, operator=operator, host=host)

    def events(self, run_id: str | None) -> list[dict[str, Any]]:
        with self._mutex, self._transaction(write=False) as tx:
            rows = tx.all(f"SELECT {_EVENT_COLUMNS} FROM {{p}}events WHERE chain = ? "
                          "ORDER BY n", (run_id or "",))
        return [_event_from_row(r) for r in rows]

    # -- locks -------------------------------------------------------------------------------

    def acquire_locks(self, run_id: str, keys: tuple[str, ...], *, operator: str, host: str,
                      pid: int, ttl: float) -> int:
        wanted = tuple(sorted(set(keys)))
        now = time.time()
        with self._mutex, self._transaction(write=True, lock="locks") as tx:
            taken_over: list[LockInfo] = []
            for key in wanted:
                row = tx.one(f"SELECT {_LOCK_COLUMNS} FROM {{p}}locks WHERE key = ?", (key,))
                if row is None:
                    continue
                held = _lock_from_row(row)
                if not live.may_take_over(
                        holder_run=held.run_id, holder_host=held.host, holder_pid=held.pid,
                        holder_expires=held.expires_at, run_id=run_id, host=host, pid=pid,
                        now=now):
                    raise live.lock_held(held, now)
                if held.pid != pid or held.host != host:
                    taken_over.append(held)
            token_row = tx.one("UPDATE {p}counters SET value = value + 1 WHERE name = 'fence' "
                               "RETURNING value")
            assert token_row is not None
            token = int(token_row[0])
            for key in wanted:
                tx.run(f"INSERT INTO {{p}}locks ({_LOCK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id, "
                       "operator = excluded.operator, host = excluded.host, pid = excluded.pid, "
                       "since = excluded.since, expires_at = excluded.expires_at, "
                       "token = excluded.token",
                       (key, run_id, operator, host, pid, now, now + ttl, token))
            for held in taken_over:
                self._append(tx, run_id, "lock_taken_over",
                             {"key": held.key, "from_host": held.host, "from_pid": held.pid,
                              "token": token}, operator=operator, host=host)
        self._fences[run_id] = Fence(token, wanted, ttl)
        return token

    def renew_locks(self, run_id: str) -> None:
        fence = self._fences.get(run_id)
        if fence is None:
            return
        with self._mutex, self._transaction(write=True, lock="locks") as tx:
            renewed = tx.run("UPDATE {p}locks SET expires_at = ? WHERE run_id = ? AND token = ?",
                             (time.time() + fence.ttl, run_id, fence.token))
            if renewed != len(fence.keys):
                raise self._fence_error(tx, run_id, fence)

    def park_locks(self, run_id: str) -> None:
        """Keep the run's locks while no process runs it (paused): only its own resume, from
        any host, may take them over; anyone else still gets LockHeld."""
        fence = self._fences.pop(run_id, None)
        if fence is None:
            return
        with self._mutex, self._transaction(write=True, lock="locks") as tx:
            tx.run("UPDATE {p}locks SET pid = ? WHERE run_id = ? AND token = ?",
                   (live.PARKED, run_id, fence.token))

    def release_locks(self, run_id: str) -> None:
        fence = self._fences.pop(run_id, None)
        with self._mutex, self._transaction(write=True, lock="locks") as tx:
            if fence is not None:
                tx.run("DELETE FROM {p}locks WHERE run_id = ? AND token = ?",
                       (run_id, fence.token))
            else:
                tx.run("DELETE FROM {p}locks WHERE run_id = ?", (run_id,))

    def lock_info(self, key: str) -> LockInfo | None:
        with self._mutex, self._transaction(write=False) as tx:
            row = tx.one(f"SELECT {_LOCK_COLUMNS} FROM {{p}}locks WHERE key = ?", (key,))
        return _lock_from_row(row) if row is not None else None

    def list_locks(self) -> list[LockInfo]:
        with self._mutex, self._transaction(write=False) as tx:
            rows = tx.all(f"SELECT {_LOCK_COLUMNS} FROM {{p}}locks ORDER BY key")
        return [_lock_from_row(r) for r in rows]

    def break_lock(self, key: str, *, why: str, operator: str, host: str) -> LockInfo | None:
        with self._mutex, self._transaction(write=True, lock="locks") as tx:
            row = tx.one(f"SELECT {_LOCK_COLUMNS} FROM {{p}}locks WHERE key = ?", (key,))
            if row is None:
                return None
            held = _lock_from_row(row)
            tx.run("DELETE FROM {p}locks WHERE key = ?", (key,))
            # into the holder run's own trail, where its writer and `show` will find it
            self._append(tx, held.run_id, "lock_broken",
                         {"key": key, "why": why, "holder_operator": held.operator,
                          "holder_host": held.host, "holder_pid": held.pid,
                          "holder_since": held.since, "token": held.token},
                         operator=operator, host=host)
        return held


def in_flight(key: str, *, attempt: int, host: str | None, pid: int, action_hash: str | None,
              started_at: float | None, lease_end: float | None, parked: bool,
              now: float) -> StepResult:
    """A ledger entry left `running`: still running if its process may be alive, else
    UNCERTAIN (its effect may or may not have happened)."""
    gone = (
        parked
        or (lease_end is not None and lease_end < now)
        or (host == live.this_host() and not live.pid_alive(pid))
        or (host != live.this_host() and lease_end is None)
    )
    if not gone:
        return StepResult(step_id=key, status=Status.RUNNING, attempts=attempt,
                          started_at=started_at, action_hash=action_hash)
    since = f" since {live.when(started_at)}" if started_at else ""
    return StepResult(
        step_id=key, status=Status.UNCERTAIN, attempts=attempt, started_at=started_at,
        action_hash=action_hash,
        error=f"left running by pid {pid} on {host}{since}, which is gone: its effect may or "
              f"may not have happened",
    )


def unknown_run(run_id: str) -> StateError:
    return StateError(f"no run with id '{run_id}' in the state store",
                      hint="list runs with `vvrun runs`")
