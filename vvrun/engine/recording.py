"""Recording outcomes: the ledger entry, the step's view for later templates, the event."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vvrun.engine.context import step_view
from vvrun.errors import StepFailed
from vvrun.language.model import Step
from vvrun.results import Status, StepResult

if TYPE_CHECKING:
    from vvrun.engine.core import Engine


class Recording:
    """The part of the Engine that writes what happened to a step."""

    def _succeeded(self: Engine, step: Step, key: str, result: Mapping[str, Any],
                   outputs: Mapping[str, Any], started: float, *, attempts: int,
                   digest: str | None = None, note: str | None = None) -> StepResult:
        rec = StepResult(key, Status.SUCCEEDED, self.masker.mask_obj(dict(result)),
                         self.masker.mask_obj(dict(outputs)), note, attempts, started,
                         time.time(), digest)
        self.store.step_finished(self.run_id, key, rec)
        if key == step.id:
            # later templates see the real values; everything written is masked
            self.views[step.id] = step_view("succeeded", result, outputs)
            self.summary[step.id] = rec
        self.emit("step_ended", {"step_id": key, "status": "succeeded", "result": rec.result,
                                 "outputs": rec.outputs, "error": note,
                                 "duration": rec.duration})
        self.current = None
        return rec

    def _failed(self: Engine, step: Step, key: str, exc: StepFailed, started: float, *,
                digest: str | None = None, result: Mapping[str, Any] | None = None
                ) -> StepResult:
        if exc.where is None or exc.where.step_id is None:
            exc.where = (exc.where or step.where).with_step(key)
        raw = result if result is not None else getattr(exc, "result", None) or {}
        rec = StepResult(key, Status.FAILED, self.masker.mask_obj(dict(raw)), {},
                         self.masker.mask(exc.message), getattr(exc, "attempts", 1), started,
                         time.time(), digest)
        self.store.step_finished(self.run_id, key, rec)
        if key == step.id:
            self.views[step.id] = step_view("failed", raw, {})
            self.summary[step.id] = rec
        self.emit("step_ended", {"step_id": key, "status": "failed", "result": rec.result,
                                 "outputs": {}, "error": self.masker.mask(exc.format()),
                                 "duration": rec.duration, "on_failure": step.on_failure})
        self.current = None
        return rec

    def _record_interrupted(self: Engine, key: str) -> None:
        self._record_ended(key, Status.INTERRUPTED, "interrupted by the operator (Ctrl-C)")

    def record_paused(self: Engine, key: str, why: str) -> None:
        """The step waits for an operator; the resume runs it again."""
        self._record_ended(key, Status.PAUSED, why)

    def _record_ended(self: Engine, key: str, status: Status, why: str) -> None:
        prev = self.ledger.get(key)
        rec = StepResult(key, status, error=self.masker.mask(why), ended_at=time.time(),
                         attempts=prev.attempts if prev else 1)
        self.store.step_finished(self.run_id, key, rec)
        step_id = key.split("[", 1)[0]
        self.summary[step_id] = dataclasses.replace(rec, step_id=step_id)
        self.emit("step_ended", {"step_id": key, "status": status.value, "result": {},
                                 "outputs": {}, "error": rec.error, "duration": None})
        self.current = None
