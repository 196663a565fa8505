"""Groups (SPEC §3.9): several steps run in order as one step — once, per `for_each` item,
or `repeat`ed until a condition holds — and `stop`, which ends the run on purpose.

Ledger keys say where a step ran: `group.inner` for a plain group, `group[2].inner` for the
third item or round, so that a resume continues inside the group and item where it stopped.
Inside a round, `steps.<inner>` is that round's step; after the group, its result is
`{items: [{<inner id>: {status, result, outputs}, ...}, ...]}`, one entry per item or round.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from vvrun.engine.context import describe_dict, evaluate, step_view
from vvrun.engine.recording import Recorder
from vvrun.engine.session import RunSession
from vvrun.errors import StepFailed
from vvrun.language.model import Group, Step
from vvrun.language.templates import Templater
from vvrun.results import Status, StepResult
from vvrun.steps.base import Description

Outcome = tuple[StepResult, StepFailed | None]
RunStep = Callable[[Step, int, str, Mapping[str, Any], str], Outcome]
Reuse = Callable[[Step, StepResult, str], None]


class RunStopped(Exception):
    """A `stop` step ran: the run ends now with `status` ("succeeded" | "failed")."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def stop_if_stop(step: Step, result: StepResult) -> None:
    """After a `stop` step succeeded (now or before a resume): end the run."""
    if step.type == "stop" and result.status == Status.SUCCEEDED:
        raise RunStopped(str(result.result.get("status", "succeeded")),
                         str(result.result.get("reason", "")))


def loop_items(tpl: Templater, step: Step) -> list[Any]:
    """The items of a `for_each`: a list, or a mapping as `{key, value}` pairs."""
    items = evaluate(tpl, step.for_each or "")
    if isinstance(items, Mapping):
        items = [{"key": k, "value": v} for k, v in items.items()]
    if not isinstance(items, list | tuple):
        raise StepFailed(f"for_each `{step.for_each}` gave {type(items).__name__}, not a list",
                         where=step.where,
                         hint="for_each needs a list, e.g. steps.find.result.rows")
    return list(items)


def loop_view(i: int, n: int | None) -> dict[str, Any]:
    return {"index": i + 1, "index0": i, "length": n, "first": i == 0,
            "last": n is not None and i == n - 1}


class GroupRunner:
    """Runs group steps for the engine, through the engine's own `run_step` for each inner
    step (passed in, so nothing here calls back into the module that drives the run)."""

    def __init__(self, run: RunSession, record: Recorder, run_step: RunStep, reuse: Reuse,
                 templater: Callable[[Step], Templater]):
        self.run = run
        self.record = record
        self.run_step = run_step
        self.reuse = reuse
        self.templater = templater

    def run_call(self, step: Step, index: int, key: str, tpl: Templater,
                 number: str) -> Outcome:
        """A `runbook` step: the callee's steps run here, ledger keys `key.<id>`, with its own
        inputs and `steps.*`; its top-level `outputs` become this step's result/outputs."""
        from vvrun.language.inputs import resolve_inputs

        started = time.time()
        callee = self.run.runbook.callee(step.spec.path)
        given = tpl.value(dict(step.spec.inputs))
        inputs = resolve_inputs(callee, given, self.run.opts.environ)
        for name, inp in callee.inputs.items():
            if inp.secret and name in inputs:
                self.run.masker.add(inputs[name])
        self.run.emit("step_started", {
            "index": index + 1, "total": len(self.run.runbook.steps), "number": number,
            "step_id": key, "type": "runbook", "title": str(tpl.text(step.title or step.id)),
            "description": tpl.text(step.description) if step.description else "",
            **describe_dict(Description(summary=f"run runbook {step.spec.path}: "
                                        f"{callee.title}"), self.run.masker),
            "danger": step.danger, "attempt": 1, "item": None})
        saved = (self.run.runbook, self.run.inputs, self.run.views, self.run.secrets)
        self.run.runbook, self.run.inputs, self.run.views = callee, dict(inputs), {}
        self.run.secrets = self.run.secrets_of(callee)  # its own `secrets:`, not the caller's
        try:
            _, failure = self._round(Group(callee.steps), index, key, {}, number)
            if failure is None:
                ctpl = self.templater(step)
                outputs = {n: evaluate(ctpl, e) for n, e in callee.outputs.items()}
        finally:
            self.run.runbook, self.run.inputs, self.run.views, self.run.secrets = saved
        if failure is not None:
            return self.record.failed(step, key, failure, started), failure
        return self.record.succeeded(step, key, outputs, outputs, started, attempts=1), None

    def run_group(self, step: Step, index: int, key: str, tpl: Templater,
                  per_item_when: bool, number: str) -> Outcome:
        spec: Group = step.spec
        started = time.time()
        self.run.emit("step_started", {
            "index": index + 1, "total": len(self.run.runbook.steps), "number": number,
            "step_id": key, "type": "group", "title": str(tpl.text(step.title or step.id)),
            "description": tpl.text(step.description) if step.description else "",
            **describe_dict(Description(summary=spec.summary(step.for_each)), self.run.masker),
            "danger": step.danger, "attempt": 1, "item": None})
        looping = step.for_each is not None or spec.repeat is not None
        if step.for_each is not None:
            items = loop_items(tpl, step)
            rounds: Any = ((i, {"item": item, "loop": loop_view(i, len(items))})
                           for i, item in enumerate(items))
        elif spec.repeat is not None:
            rounds = ((i, {"loop": loop_view(i, spec.repeat.max)})
                      for i in range(spec.repeat.max))
        else:
            rounds = [(0, {})]
        results: list[dict[str, Any]] = []
        ran_any, holds, note = False, False, None
        for n, extra in rounds:
            prefix = f"{key}[{n}]" if looping else key
            if per_item_when and not evaluate(tpl.child(**extra), step.when or "true"):
                self._skip_round(prefix, f"when `{step.when}` is false")
                results.append({})
                continue
            ran_any = True
            ran, failure = self._round(spec, index, prefix, extra, number)
            results.append({s.id: self.run.views.get(s.id, {}) for s in spec.steps})
            if failure is not None:
                return self.record.failed(step, key, failure, started,
                                          result={"items": results}), failure
            if spec.repeat is None:
                continue
            holds = bool(evaluate(tpl.child(**extra, result={"items": results}),
                                  spec.repeat.until))
            if holds:
                break
            if ran and n + 1 < spec.repeat.max:
                self.run.opts.sleep(spec.repeat.delay.seconds)
        if spec.repeat is not None and not holds:
            said = (f"repeat.until `{spec.repeat.until}` still false after "
                    f"{spec.repeat.max} rounds")
            if spec.repeat.on_exhausted != "continue":
                exc = StepFailed(said, where=step.where,
                                 hint="raise repeat.max or repeat.delay to wait longer, or "
                                 "set repeat.on_exhausted: continue")
                return self.record.failed(step, key, exc, started,
                                          result={"items": results}), exc
            note = said + "; on_exhausted: continue"
        if looping and results and not ran_any:
            return self._all_skipped(step, key, results), None
        aggregate = {"items": results}
        rtpl = tpl.child(result=aggregate)
        outputs = {name: evaluate(rtpl, expr) for name, expr in step.outputs.items()}
        return self.record.succeeded(step, key, aggregate, outputs, started, attempts=1,
                                     note=note), None

    def _round(self, spec: Group, index: int, prefix: str, extra: Mapping[str, Any],
               number: str) -> tuple[bool, StepFailed | None]:
        """One pass over the group's steps; (whether anything ran, the failure that ends it)."""
        ran = False
        for j, inner in enumerate(spec.steps):
            ikey = f"{prefix}.{inner.id}"
            done = self.run.ledger.get(ikey)
            if done is not None and (
                    done.status in (Status.SUCCEEDED, Status.SKIPPED)
                    or (done.status == Status.FAILED
                        and inner.on_failure in ("continue", "ignore"))):
                self.reuse(inner, done, ikey)  # finished before a resume: never again
                continue
            ran = True
            result, error = self.run_step(inner, index, ikey, extra, f"{number}.{j + 1}")
            if result.status == Status.FAILED and inner.on_failure not in ("continue", "ignore"):
                return ran, error or StepFailed(f"step '{inner.id}' failed", where=inner.where)
        return ran, None

    def _skip_round(self, prefix: str, reason: str) -> None:
        now = time.time()
        self.run.store.step_finished(self.run.run_id, prefix, StepResult(
            prefix, Status.SKIPPED, started_at=now, ended_at=now))
        self.run.emit("step_skipped", {"step_id": prefix, "reason": reason})

    def _all_skipped(self, step: Step, key: str, results: list[dict[str, Any]]) -> StepResult:
        now = time.time()
        rec = StepResult(key, Status.SKIPPED, {"items": results}, started_at=now, ended_at=now,
                         error="every item was skipped")
        self.run.store.step_finished(self.run.run_id, key, rec)
        self.run.views[step.id] = step_view("skipped", {"items": results}, {})
        if key == step.id:
            self.run.summary[step.id] = rec
        self.run.emit("step_skipped", {"step_id": key, "reason": "every item was skipped"})
        return rec

