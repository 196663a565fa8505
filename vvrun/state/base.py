"""What every store shares: the records it keeps and the `Store` protocol.

Imported by the backends and re-exported by `vvrun.state`; it imports nothing else of the
package, so the backends never need the package's `__init__`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from vvrun.errors import StateError
from vvrun.results import StepResult


class Appended(NamedTuple):
    """An audit event written in the same transaction as a ledger record: a step's
    `step_started` rides with its `running` record, `step_ended` with its outcome. Events that
    say what the ledger says need no commit of their own (bench: sqlout)."""

    kind: str
    data: Mapping[str, Any]  # masked, as `append_event` takes it
    operator: str
    host: str
    #: the Masker that masked `data` just now: a store masking with that very masker does not
    #: walk it again (masking is idempotent); any other, or none, and the store masks it
    masked_by: object = None


@dataclass(frozen=True)
class RunRecord:
    id: str
    runbook: str  # the runbook's name (slug)
    path: str  # the file it was run from
    source_hash: str  # sha256 of the file: resume refuses a changed runbook
    status: str  # running | paused | succeeded | failed | aborted | interrupted
    operator: str
    host: str
    pid: int
    inputs: Mapping[str, Any] = field(default_factory=dict)  # non-secret inputs only
    started_at: float = 0.0
    updated_at: float = 0.0
    vvrun_version: str = ""
    locks: tuple[str, ...] = ()
    error: str | None = None
    source: str = ""  # the runbook text as it was run (to show what changed on resume)


@dataclass(frozen=True)
class LockInfo:
    key: str
    run_id: str
    operator: str
    host: str
    pid: int
    since: float
    expires_at: float
    token: int


class Store(Protocol):
    #: the key the audit chain and the ledger rows are signed with (kept outside the store)
    audit_key: bytes

    def create_run(self, run: RunRecord) -> None: ...
    def update_run(self, run_id: str, *, status: str, error: str | None = None) -> None: ...
    def get_run(self, run_id: str) -> RunRecord | None: ...
    def list_runs(self, *, runbook: str | None = None, status: str | None = None,
                  limit: int = 50) -> list[RunRecord]: ...

    def step_started(self, run_id: str, key: str, *, attempt: int, host: str, pid: int,
                     pgid: int | None = None, action_hash: str | None = None,
                     events: Sequence[Appended] = ()) -> None: ...
    def step_finished(self, run_id: str, key: str, result: StepResult, *,
                      events: Sequence[Appended] = (), masked_by: object = None) -> None:
        """The step's outcome, and `events` in the same transaction. `masked_by`: the Masker
        that masked the record's result, outputs and error just now (as `Appended.masked_by`:
        a store masking with that very masker does not walk them again)."""
        ...
    def step_results(self, run_id: str) -> dict[str, StepResult]: ...

    def append_event(self, run_id: str | None, kind: str, data: Mapping[str, Any], *,
                     operator: str, host: str) -> None: ...
    def events(self, run_id: str) -> list[dict[str, Any]]: ...

    def acquire_locks(self, run_id: str, keys: tuple[str, ...], *, operator: str, host: str,
                      pid: int, ttl: float) -> int: ...  # fencing token; raises LockHeld
    def renew_locks(self, run_id: str) -> None: ...
    def release_locks(self, run_id: str) -> None: ...
    def lock_info(self, key: str) -> LockInfo | None: ...
    def break_lock(self, key: str, *, why: str, operator: str, host: str) -> LockInfo | None: ...

    def ledger_entry(self, run_id: str, key: str) -> dict[str, Any] | None:
        """One step's raw ledger row {status, attempt, host, pid, pgid, action_hash,
        started_at}: where an in-flight step ran, for resume's search for a stray process."""
        ...

    def park_locks(self, run_id: str) -> None:
        """The run pauses: keep its locks with no process; only its own resume may take them
        over (from any host, at once); anyone else still gets LockHeld."""
        ...

    def list_locks(self) -> list[LockInfo]: ...

    def ledger_rows(self, run_id: str) -> list[dict[str, Any]]:
        """Every ledger row of a run with its MAC (`mac`), for `verify.verify_chain`."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Fence:
    """The locks a store handle took for a run: every write of the run checks they are still
    its own."""

    token: int
    keys: tuple[str, ...]
    ttl: float


def unknown_run(run_id: str) -> StateError:
    return StateError(f"no run with id '{run_id}' in the state store",
                      hint="list runs with `vvrun runs`")
