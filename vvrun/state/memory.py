"""An in-memory store: tests, benchmarks' baseline, and `VVRUN_STATE=memory`."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

from vvrun.errors import LockHeld
from vvrun.results import Status, StepResult
from vvrun.state import LockInfo, RunRecord


class MemoryStore:
    def __init__(self) -> None:
        self.runs: dict[str, RunRecord] = {}
        self.ledger: dict[str, dict[str, StepResult]] = {}
        self._events: dict[str | None, list[dict[str, Any]]] = {}
        self.locks: dict[str, LockInfo] = {}
        self._token = 0

    def create_run(self, run: RunRecord) -> None:
        self.runs[run.id] = run
        self.ledger[run.id] = {}

    def update_run(self, run_id: str, *, status: str, error: str | None = None) -> None:
        self.runs[run_id] = dataclasses.replace(
            self.runs[run_id], status=status, error=error, updated_at=time.time()
        )

    def get_run(self, run_id: str) -> RunRecord | None:
        return self.runs.get(run_id)

    def list_runs(self, *, runbook: str | None = None, status: str | None = None,
                  limit: int = 50) -> list[RunRecord]:
        runs = [r for r in self.runs.values()
                if (runbook is None or r.runbook == runbook)
                and (status is None or r.status == status)]
        return sorted(runs, key=lambda r: r.id, reverse=True)[:limit]

    def step_started(self, run_id: str, key: str, *, attempt: int, host: str, pid: int,
                     pgid: int | None = None, action_hash: str | None = None) -> None:
        self.ledger[run_id][key] = StepResult(
            step_id=key, status=Status.RUNNING, attempts=attempt, started_at=time.time(),
            action_hash=action_hash)

    def step_finished(self, run_id: str, key: str, result: StepResult) -> None:
        self.ledger[run_id][key] = result

    def step_results(self, run_id: str) -> dict[str, StepResult]:
        return dict(self.ledger.get(run_id, {}))

    def append_event(self, run_id: str | None, kind: str, data: Mapping[str, Any], *,
                     operator: str, host: str) -> None:
        self._events.setdefault(run_id, []).append(
            {"ts": time.time(), "kind": kind, "data": dict(data), "operator": operator,
             "host": host})

    def events(self, run_id: str) -> list[dict[str, Any]]:
        return list(self._events.get(run_id, []))

    def acquire_locks(self, run_id: str, keys: tuple[str, ...], *, operator: str, host: str,
                      pid: int, ttl: float) -> int:
        now = time.time()
        for key in keys:
            held = self.locks.get(key)
            if held and held.run_id != run_id and held.expires_at > now:
                raise LockHeld(
                    f"lock '{key}' is held by run {held.run_id} ({held.operator} on "
                    f"{held.host}, pid {held.pid})")
        self._token += 1
        for key in keys:
            self.locks[key] = LockInfo(key, run_id, operator, host, pid, now, now + ttl,
                                       self._token)
        return self._token

    def renew_locks(self, run_id: str) -> None:
        return None

    def release_locks(self, run_id: str) -> None:
        for key in [k for k, v in self.locks.items() if v.run_id == run_id]:
            del self.locks[key]

    def lock_info(self, key: str) -> LockInfo | None:
        return self.locks.get(key)

    def break_lock(self, key: str, *, why: str, operator: str, host: str) -> LockInfo | None:
        return self.locks.pop(key, None)

    def close(self) -> None:
        return None
