"""The state store: runs, the step ledger, locks and the audit trail, behind one interface.

`open_store()` picks the backend at the edge: `VVRUN_STATE=postgresql://...` (a team store),
`VVRUN_STATE=memory`, or SQLite at `$XDG_STATE_HOME/vvrun/state.db` by default.

Ledger keys: a step is keyed by its id; an item of a `for_each` step by `"<id>[<index>]"`.
A step is recorded `running` (committed) *before* its effect starts, and its outcome after.
A reader that finds `running` for a run whose process is gone reports it `uncertain`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from vvrun.results import StepResult

if TYPE_CHECKING:
    from vvrun.secrets import Masker


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
    def create_run(self, run: RunRecord) -> None: ...
    def update_run(self, run_id: str, *, status: str, error: str | None = None) -> None: ...
    def get_run(self, run_id: str) -> RunRecord | None: ...
    def list_runs(self, *, runbook: str | None = None, status: str | None = None,
                  limit: int = 50) -> list[RunRecord]: ...

    def step_started(self, run_id: str, key: str, *, attempt: int, host: str, pid: int,
                     pgid: int | None = None, action_hash: str | None = None) -> None: ...
    def step_finished(self, run_id: str, key: str, result: StepResult) -> None: ...
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

    def close(self) -> None: ...


def new_run_id(now: float | None = None) -> str:
    """Sortable by time, short enough to type: `261127-035212-a7f3`."""
    import os
    import time

    t = time.gmtime(now if now is not None else time.time())
    return time.strftime("%y%m%d-%H%M%S", t) + "-" + os.urandom(2).hex()


def operator_name(environ: Mapping[str, str]) -> str:
    """`$VVRUN_OPERATOR`, else `user@host`."""
    import getpass
    import socket

    if environ.get("VVRUN_OPERATOR"):
        return environ["VVRUN_OPERATOR"]
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = environ.get("USER", "unknown")
    return f"{user}@{socket.gethostname()}"


def default_sqlite_path(environ: Mapping[str, str]) -> str:
    """`$XDG_STATE_HOME/vvrun/state.db`, falling back to `~/.local/state/vvrun/state.db`."""
    import os.path

    base = environ.get("XDG_STATE_HOME", "")
    if not base or not os.path.isabs(base):  # the XDG spec says to ignore relative paths
        home = environ.get("HOME") or os.path.expanduser("~")
        base = os.path.join(home, ".local", "state")
    return os.path.join(base, "vvrun", "state.db")


def open_store(environ: Mapping[str, str], *, masker: Masker | None = None) -> Store:
    """The store the environment asks for: `VVRUN_STATE=memory`, `postgresql://...` (in the
    schema `$VVRUN_STATE_SCHEMA`, default `vvrun`), a SQLite path, or by default SQLite at
    `$XDG_STATE_HOME/vvrun/state.db`. Whatever is written is masked with `masker` first."""
    store = _open(environ, masker)
    if environ.get("VVRUN_TEST_CRASH_AT"):
        from vvrun.state._crash import CrashingStore

        return CrashingStore(store, environ["VVRUN_TEST_CRASH_AT"])  # type: ignore[return-value]
    return store


def _open(environ: Mapping[str, str], masker: Masker | None) -> Store:
    import os.path

    from vvrun.errors import StateError

    target = environ.get("VVRUN_STATE", "").strip()
    if target == "memory":
        from vvrun.state.memory import MemoryStore

        return MemoryStore(masker=masker)
    if target.startswith(("postgresql://", "postgres://")):
        from vvrun.state.postgres import PostgresStore

        return PostgresStore(target, schema=environ.get("VVRUN_STATE_SCHEMA") or "vvrun",
                             masker=masker)
    if "://" in target:
        from vvrun.secrets import Masker as _Masker

        raise StateError(
            f"VVRUN_STATE={_Masker().mask(target)} is not a store vvrun knows",
            hint="use a file path (SQLite), postgresql://user@host/db, or memory")
    from vvrun.state.sqlite import SqliteStore

    path = os.path.expanduser(target) if target else default_sqlite_path(environ)
    return SqliteStore(path, masker=masker)
