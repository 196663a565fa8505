"""Recording outcomes: the ledger entry, the step's view for later templates, the event."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

from vvrun.engine.context import step_view
from vvrun.engine.session import RunSession
from vvrun.errors import Cancelled, StepFailed
from vvrun.language.model import Step
from vvrun.results import Status, StepResult
from vvrun.secrets.taint import taint_secrets
from vvrun.state import Appended

MASKED = frozenset({"result", "outputs"})  # in a step_ended event, already masked
# What vvrun knows about a step a signal stopped, in its interrupted ledger result; a resume
# acts on it (`approval.settle_uncertain`) rather than saying it cannot know.
CANCELLED = "cancelled_before_effect"  # its effect did not happen: run again, unasked
BETWEEN = "between_attempts"  # no attempt was running: the next one runs, unasked
STOPPED = "stopped_knowing"  # it stopped whole and said what it had done: asked, with that


class Recorder:
    """Writes what happened to a step: the ledger entry, its view for later templates, the
    event."""

    def __init__(self, run: RunSession):
        self.run = run

    def succeeded(self, step: Step, key: str, result: Mapping[str, Any],
                   outputs: Mapping[str, Any], started: float, *, attempts: int,
                   digest: str | None = None, note: str | None = None) -> StepResult:
        masker = self.run.masker
        rec = StepResult(key, Status.SUCCEEDED, masker.mask_obj(dict(result)),
                         masker.mask_obj(dict(outputs)), masker.mask(note) if note else note,
                         attempts, started, time.time(), digest)
        ended = self._ended({"step_id": key, "status": "succeeded", "result": rec.result,
                             "outputs": rec.outputs, "error": note,
                             "duration": rec.duration}, masked=MASKED)
        self._write(key, rec, ended, masked=True)
        self.run.current = None  # recorded: a signal from here on is not this step's
        if is_step_key(key, step):
            # later templates see the real values, a secret among them tainted (it goes to a
            # later command by its environment); everything written is masked
            self.run.views[step.id] = step_view(
                "succeeded", taint_secrets(result, self.run.masker, masked=rec.result),
                taint_secrets(outputs, self.run.masker, masked=rec.outputs))
        if key == step.id:
            self.run.summary[step.id] = rec
        self.run.show("step_ended", ended.data)
        return rec

    def failed(self, step: Step, key: str, exc: StepFailed, started: float, *,
                digest: str | None = None, result: Mapping[str, Any] | None = None
                ) -> StepResult:
        if exc.where is None or exc.where.step_id is None:
            exc.where = (exc.where or step.where).with_step(key)
        raw = result if result is not None else getattr(exc, "result", None) or {}
        rec = StepResult(key, Status.FAILED, self.run.masker.mask_obj(dict(raw)), {},
                         self.run.masker.mask(exc.message), getattr(exc, "attempts", 1), started,
                         time.time(), digest)
        ended = self._ended({"step_id": key, "status": "failed", "result": rec.result,
                             "outputs": {}, "error": self.run.masker.mask(exc.format()),
                             "duration": rec.duration, "on_failure": step.on_failure},
                            masked=MASKED)
        self._write(key, rec, ended, masked=True)
        self.run.current = None  # recorded: a signal from here on is not this step's
        if is_step_key(key, step):
            self.run.views[step.id] = step_view(
                "failed", taint_secrets(raw, self.run.masker, masked=rec.result), {})
        if key == step.id:
            self.run.summary[step.id] = rec
        self.run.show("step_ended", ended.data)
        return rec

    def interrupted(self, key: str, what: str = "Ctrl-C",
                    cause: BaseException | None = None) -> None:
        """The step in flight when a signal came; `cause`: what the step raised as it
        stopped. A `Cancelled` with `nothing_done` did not take effect; one from
        `between_attempts` came while no attempt ran; one carrying a `result` (what the step
        had done; its message says so) stopped with nothing of it left running. The ledger
        keeps which, so that a resume says what vvrun knows."""
        cancelled = cause if isinstance(cause, Cancelled) else None
        detail = f": {cancelled.message}" if cancelled else ""
        result: dict[str, Any] = {}
        if cancelled is not None and cancelled.nothing_done:
            why, result = f"cancelled by {what} before it took effect{detail}", {CANCELLED: True}
        elif cancelled is not None and getattr(cancelled, BETWEEN, False):
            why, result = f"interrupted by {what} between attempts{detail}", {BETWEEN: True}
        elif cancelled is not None and getattr(cancelled, "result", None) is not None:
            why = f"stopped by {what}{detail}"
            result = {**dict(cancelled.result),  # type: ignore[attr-defined]
                      STOPPED: {"by": what, "said": cancelled.message,
                                "hint": cancelled.hint or ""}}
        else:
            why = f"interrupted by {what}{detail}"
        self.ended(key, Status.INTERRUPTED, why, result=result or None)

    def paused(self, key: str, why: str) -> None:
        """The step waits for an operator; the resume runs it again."""
        self.ended(key, Status.PAUSED, why)

    def ended(self, key: str, status: Status, why: str,
              result: Mapping[str, Any] | None = None) -> None:
        prev = self.run.ledger.get(key)
        rec = StepResult(key, status, dict(result or {}), error=self.run.masker.mask(why),
                         ended_at=time.time(), attempts=prev.attempts if prev else 1)
        ended = self._ended({"step_id": key, "status": status.value, "result": {},
                             "outputs": {}, "error": rec.error, "duration": None})
        self._write(key, rec, ended)
        self.run.current = None  # recorded: a signal from here on is not this step's
        step_id = key.split("[", 1)[0]
        self.run.summary[step_id] = dataclasses.replace(rec, step_id=step_id)
        self.run.show("step_ended", ended.data)

    def _ended(self, data: Mapping[str, Any], masked: frozenset[str] = frozenset()) -> Appended:
        """The step's `step_ended` event, masked: written with its outcome, then shown.
        `masked`: the keys whose values are masked already (the ledger record's result and
        outputs), which a second pass would only walk again."""
        mask = self.run.masker.mask_obj
        return self.run.appended("step_ended", {
            key: value if key in masked else mask(value) for key, value in data.items()})

    def _write(self, key: str, rec: StepResult, ended: Appended, *, masked: bool = False
               ) -> None:
        """The outcome and its event in one transaction, after any event still held.
        `masked`: the record's result, outputs and error are masked already (by this run's
        masker, which the store then need not repeat)."""
        with self.run.riding() as held:
            self.run.store.step_finished(self.run.run_id, key, rec, events=(*held, ended),
                                         masked_by=self.run.masker if masked else None)


def between_attempts(attempt: int, attempts: int, last: StepFailed) -> Cancelled:
    """What a signal during the wait between two attempts is chained to: no attempt was
    running, and the runbook's `retry` would have made the next one anyway."""
    cancelled = Cancelled(f"attempt {attempt} of {attempts} had ended ({last.message}) and "
                          "the next had not started")
    setattr(cancelled, BETWEEN, True)
    return cancelled


def is_step_key(key: str, step: Step) -> bool:
    """True for the step's own ledger key — `id`, or `group[2].id` inside a group — and not
    for one item of its `for_each` (`id[3]`)."""
    return key == step.id or key.endswith("." + step.id)
