"""Step and run outcomes as values that round-trip through the state store."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Status(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    PAUSED = "paused"
    ABORTED = "aborted"
    UNCERTAIN = "uncertain"  # left `running` by a crash: its effect may or may not have happened
    INTERRUPTED = "interrupted"
    # a run (never a step) whose `on_failure: continue` steps failed: it ran to its end, but a
    # check that failed is never reported as success (SPEC §5.2, exit 6)
    COMPLETED_WITH_FAILURES = "completed_with_failures"

    @property
    def finished(self) -> bool:
        return self in (Status.SUCCEEDED, Status.FAILED, Status.SKIPPED, Status.ABORTED,
                        Status.COMPLETED_WITH_FAILURES)


@dataclass(frozen=True)
class StepResult:
    step_id: str
    status: Status
    result: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    attempts: int = 0
    started_at: float | None = None
    ended_at: float | None = None
    action_hash: str | None = None  # binds confirmations/approvals to what was rendered

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "step_id": self.step_id,
            "status": self.status.value,
            "result": dict(self.result),
            "outputs": dict(self.outputs),
            "error": self.error,
            "attempts": self.attempts,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "action_hash": self.action_hash,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepResult:
        return cls(
            step_id=data["step_id"],
            status=Status(data["status"]),
            result=data.get("result") or {},
            outputs=data.get("outputs") or {},
            error=data.get("error"),
            attempts=data.get("attempts", 0),
            started_at=data.get("started_at"),
            ended_at=data.get("ended_at"),
            action_hash=data.get("action_hash"),
        )


@dataclass(frozen=True)
class RunResult:
    run_id: str
    runbook: str
    status: Status
    steps: tuple[StepResult, ...] = ()
    error: str | None = None
    exit_code: int = 0
