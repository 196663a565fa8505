"""Checking a run's audit trail and ledger against the audit key: `vvrun verify`, and resume.

The events must form an unbroken keyed chain; every ledger row must carry a valid MAC; and
every step the trail says ended must still have its ledger row (a deleted row would make
resume run a finished step again).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from vvrun.errors import StateError
from vvrun.state.audit import Problem, check_events, ledger_mac

#: events written after the ledger row they report (a row deleted later is missing)
_ENDED = ("step_ended", "step_skipped")


@dataclass(frozen=True)
class VerifyReport:
    run_id: str
    events: int
    ledger_rows: int
    problem: Problem | None  # the first bad event or row; None when intact

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def problems(self) -> list[str]:
        return [] if self.problem is None else [str(self.problem)]

    def summary(self) -> str:
        if self.problem is None:
            return (f"run {self.run_id}: the audit trail verifies ({self.events} events, "
                    f"{self.ledger_rows} ledger rows)")
        return f"run {self.run_id}: the audit trail does not verify at {self.problem}"


def verify_chain(store: Any, run_id: str) -> VerifyReport:
    """Walk the whole chain and the ledger of one run; report the first bad event or row."""
    key: bytes = store.audit_key
    trail = store.events(run_id)
    rows = store.ledger_rows(run_id)
    problem = check_events(trail, key) or _check_ledger(rows, trail, key)
    return VerifyReport(run_id, len(trail), len(rows), problem)


def _check_ledger(rows: list[dict[str, Any]], trail: list[dict[str, Any]],
                  key: bytes) -> Problem | None:
    for position, row in enumerate(rows, start=1):
        body = {k: v for k, v in row.items() if k != "mac"}
        if not hmac.compare_digest(ledger_mac(key, body), str(row.get("mac"))):
            return Problem(position, f"ledger row {position} (step '{row.get('key')}')",
                           f"its content does not match its keyed hash (it was inserted or "
                           f"changed without the audit key; it says {row.get('status')})")
    present = {row.get("key") for row in rows}
    for position, event in enumerate(trail, start=1):
        step = event.get("data", {}).get("step_id")
        if event.get("kind") in _ENDED and step is not None and step not in present:
            return Problem(position, f"event {position} ({event['kind']})",
                           f"says step '{step}' ended, but its ledger row is gone (deleted)")
    return None


def require_intact(store: Any, run_id: str) -> VerifyReport:
    """What resume calls first: StateError at the first bad event, with its position."""
    report = verify_chain(store, run_id)
    if report.problem is not None:
        raise StateError(
            f"run {run_id} will not be resumed: its audit trail does not verify at "
            f"{report.problem}",
            hint=f"someone changed the state store outside vvrun; see `vvrun verify "
                 f"{run_id}` and `vvrun show {run_id} --events`, and find out what happened "
                 "before going on by hand")
    return report
