"""An in-memory store: tests, benchmarks' baseline, and `VVRUN_STATE=memory`.

It keeps the durable stores' rules (masking, hash-chained events, lock take-over, fencing,
`uncertain` steps) so that code tested against it behaves the same against them.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import vvrun.state._liveness as live
from vvrun.results import Status, StepResult
from vvrun.secrets import Masker
from vvrun.state._liveness import in_flight
from vvrun.state.audit import GENESIS, chain_event, ledger_mac
from vvrun.state.base import Appended, Fence, LockInfo, RunRecord, unknown_run


class MemoryStore:
    def __init__(self, *, masker: Masker | None = None, audit_key: bytes | None = None) -> None:
        self.audit_key = audit_key or secrets.token_bytes(32)
        self.runs: dict[str, RunRecord] = {}
        self.ledger: dict[str, dict[str, StepResult]] = {}
        self._processes: dict[tuple[str, str], dict[str, Any]] = {}
        self._events: dict[str | None, list[dict[str, Any]]] = {}
        self.locks: dict[str, LockInfo] = {}
        self._token = 0
        self._fences: dict[str, Fence] = {}
        self._masker = masker
        self._mutex = threading.RLock()

    def _mask(self, obj: Any) -> Any:
        return self._masker.mask_obj(obj) if self._masker is not None else obj

    def _mask_text(self, text: str | None) -> str | None:
        return self._masker.mask(text) if self._masker is not None and text else text

    def _check_fence(self, run_id: str | None) -> None:
        fence = self._fences.get(run_id) if run_id is not None else None
        if fence is None:
            return
        ours = [k for k in fence.keys
                if (held := self.locks.get(k)) and held.run_id == run_id
                and held.token == fence.token]
        if len(ours) == len(fence.keys):
            return
        broken = [e for e in self._events.get(run_id, []) if e["kind"] == "lock_broken"]
        if broken:
            raise live.fence_broken(run_id, by=broken[-1]["operator"], at=broken[-1]["ts"],
                                    taken_by=None)
        raise live.fence_broken(run_id, by=None, at=None, taken_by=None)

    def create_run(self, run: RunRecord) -> None:
        with self._mutex:
            self._check_fence(run.id)
            now = time.time()
            self.runs[run.id] = dataclasses.replace(
                run, inputs=self._mask(dict(run.inputs)), error=self._mask_text(run.error),
                source=self._mask_text(run.source) or "", started_at=run.started_at or now,
                updated_at=run.updated_at or now)
            self.ledger[run.id] = {}

    def update_run(self, run_id: str, *, status: str, error: str | None = None) -> None:
        with self._mutex:
            self._check_fence(run_id)
            if run_id not in self.runs:
                raise unknown_run(run_id)
            self.runs[run_id] = dataclasses.replace(
                self.runs[run_id], status=status, error=self._mask_text(error),
                updated_at=time.time())

    def get_run(self, run_id: str) -> RunRecord | None:
        return self.runs.get(run_id)

    def list_runs(self, *, runbook: str | None = None, status: str | None = None,
                  limit: int = 50) -> list[RunRecord]:
        runs = [r for r in self.runs.values()
                if (runbook is None or r.runbook == runbook)
                and (status is None or r.status == status)]
        return sorted(runs, key=lambda r: r.id, reverse=True)[:limit]

    def step_started(self, run_id: str, key: str, *, attempt: int, host: str, pid: int,
                     pgid: int | None = None, action_hash: str | None = None,
                     events: Sequence[Appended] = ()) -> None:
        with self._mutex:
            self._check_fence(run_id)
            now = time.time()
            self.ledger.setdefault(run_id, {})[key] = StepResult(
                step_id=key, status=Status.RUNNING, attempts=attempt, started_at=now,
                action_hash=action_hash)
            self._processes[(run_id, key)] = {
                "status": "running", "attempt": attempt, "host": host, "pid": pid,
                "pgid": pgid, "action_hash": action_hash, "started_at": now}
            self._append_all(run_id, events)

    def step_finished(self, run_id: str, key: str, result: StepResult, *,
                      events: Sequence[Appended] = (), masked_by: object = None) -> None:
        with self._mutex:
            self._check_fence(run_id)
            data = result.to_dict()
            if self._masker is None or masked_by is not self._masker:
                data = self._mask(data)
            data["step_id"] = key
            self.ledger.setdefault(run_id, {})[key] = StepResult.from_dict(data)
            self._processes.pop((run_id, key), None)
            self._append_all(run_id, events)

    def _append_all(self, run_id: str, events: Sequence[Appended]) -> None:
        for event in events:
            masked = self._masker is not None and event.masked_by is self._masker
            self._append(run_id, event.kind, event.data, operator=event.operator,
                         host=event.host, masked=masked)

    def step_results(self, run_id: str) -> dict[str, StepResult]:
        with self._mutex:
            out = dict(self.ledger.get(run_id, {}))
            held = [v for v in self.locks.values() if v.run_id == run_id]
            lease_end = min((v.expires_at for v in held), default=None)
            parked = any(v.pid == live.PARKED for v in held)
            now = time.time()
            for key, result in out.items():
                proc = self._processes.get((run_id, key))
                if result.status is Status.RUNNING and proc is not None:
                    out[key] = in_flight(key, attempt=proc["attempt"], host=proc["host"],
                                         pid=proc["pid"], action_hash=proc["action_hash"],
                                         started_at=proc["started_at"], lease_end=lease_end,
                                         parked=parked, now=now)
            return out

    def ledger_entry(self, run_id: str, key: str) -> dict[str, Any] | None:
        proc = self._processes.get((run_id, key))
        if proc is not None:
            return dict(proc)
        result = self.ledger.get(run_id, {}).get(key)
        if result is None:
            return None
        return {"status": result.status.value, "attempt": result.attempts, "host": None,
                "pid": None, "pgid": None, "action_hash": result.action_hash,
                "started_at": result.started_at}

    def ledger_rows(self, run_id: str) -> list[dict[str, Any]]:
        """The run's ledger as a durable store's rows, MACs included (nothing outside this
        process can edit a memory store, so they are computed as they are read)."""
        rows = []
        for key, result in sorted(self.ledger.get(run_id, {}).items()):
            proc = self._processes.get((run_id, key)) or {}
            row = {"run_id": run_id, "key": key, "status": result.status.value,
                   "attempt": result.attempts, "host": proc.get("host"),
                   "pid": proc.get("pid"), "pgid": proc.get("pgid"),
                   "action_hash": result.action_hash, "started_at": result.started_at,
                   "ended_at": result.ended_at,
                   "result": None if proc else json.dumps(result.to_dict(), default=str)}
            rows.append({**row, "mac": ledger_mac(self.audit_key, row)})
        return rows

    def _append(self, run_id: str | None, kind: str, data: Mapping[str, Any], *,
                operator: str, host: str, masked: bool = False) -> None:
        chain = self._events.setdefault(run_id, [])
        prev = chain[-1]["hash"] if chain else GENESIS
        chain.append(chain_event(self.audit_key, prev, run_id=run_id, n=len(chain) + 1,
                                 ts=time.time(), kind=kind,
                                 operator=self._mask_text(operator) or "", host=host,
                                 data=data if masked else self._mask(dict(data))))

    def append_event(self, run_id: str | None, kind: str, data: Mapping[str, Any], *,
                     operator: str, host: str) -> None:
        with self._mutex:
            self._check_fence(run_id)
            self._append(run_id, kind, data, operator=operator, host=host)

    def events(self, run_id: str | None) -> list[dict[str, Any]]:
        return [dict(e) for e in self._events.get(run_id, [])]

    def acquire_locks(self, run_id: str, keys: tuple[str, ...], *, operator: str, host: str,
                      pid: int, ttl: float) -> int:
        wanted = tuple(sorted(set(keys)))
        with self._mutex:
            now = time.time()
            for key in wanted:
                held = self.locks.get(key)
                if held and not live.may_take_over(
                        holder_run=held.run_id, holder_host=held.host, holder_pid=held.pid,
                        holder_expires=held.expires_at, run_id=run_id, host=host, pid=pid,
                        now=now):
                    raise live.lock_held(held, now)
            self._token += 1
            for key in wanted:
                held = self.locks.get(key)
                if held and (held.pid != pid or held.host != host):
                    self._append(run_id, "lock_taken_over",
                                 {"key": key, "from_host": held.host, "from_pid": held.pid,
                                  "token": self._token}, operator=operator, host=host)
                self.locks[key] = LockInfo(key, run_id, operator, host, pid, now, now + ttl,
                                           self._token)
            self._fences[run_id] = Fence(self._token, wanted, ttl)
            return self._token

    def renew_locks(self, run_id: str) -> None:
        with self._mutex:
            fence = self._fences.get(run_id)
            if fence is None:
                return
            self._check_fence(run_id)
            for key in fence.keys:
                self.locks[key] = dataclasses.replace(self.locks[key],
                                                      expires_at=time.time() + fence.ttl)

    def park_locks(self, run_id: str) -> None:
        with self._mutex:
            fence = self._fences.pop(run_id, None)
            for key, held in list(self.locks.items()):
                if held.run_id == run_id and (fence is None or held.token == fence.token):
                    self.locks[key] = dataclasses.replace(held, pid=live.PARKED)

    def release_locks(self, run_id: str) -> None:
        with self._mutex:
            fence = self._fences.pop(run_id, None)
            for key in [k for k, v in self.locks.items() if v.run_id == run_id
                        and (fence is None or v.token == fence.token)]:
                del self.locks[key]

    def lock_info(self, key: str) -> LockInfo | None:
        return self.locks.get(key)

    def list_locks(self) -> list[LockInfo]:
        return [self.locks[k] for k in sorted(self.locks)]

    def break_lock(self, key: str, *, why: str, operator: str, host: str) -> LockInfo | None:
        with self._mutex:
            held = self.locks.pop(key, None)
            if held is not None:
                self._append(held.run_id, "lock_broken",
                             {"key": key, "why": why, "holder_operator": held.operator,
                              "holder_host": held.host, "holder_pid": held.pid,
                              "holder_since": held.since, "token": held.token},
                             operator=operator, host=host)
            return held

    def close(self) -> None:
        return None
