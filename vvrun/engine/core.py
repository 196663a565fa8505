"""The interpreter: runs a runbook's steps in order against a Store, a Sink and a Prompter.

Pure of I/O except through the step modules' `execute`, the Store, the Sink and the Prompter.
The ledger is written before an effect starts (`step_started`) and after it ends
(`step_finished`); every event is masked, shown to the sink and appended to the audit trail.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from vvrun.engine import approval, loop_approval, outcome
from vvrun.engine.attempts import Attempter
from vvrun.engine.context import action_hash, describe_dict, evaluate, step_view
from vvrun.engine.groups import GroupRunner, RunStopped, loop_items, loop_view, stop_if_stop
from vvrun.engine.notifications import attach as attach_notifications
from vvrun.engine.notifications import with_required_failures
from vvrun.engine.options import RunOptions
from vvrun.engine.recording import Recorder
from vvrun.engine.secret_env import shell_secrets_to_env
from vvrun.engine.session import RunSession
from vvrun.errors import Aborted, Cancelled, Interrupted, Paused, StepFailed, VvrunError
from vvrun.events import Sink
from vvrun.language.model import Runbook, Step
from vvrun.language.templates import EnvVars, Templater, referenced_names
from vvrun.results import RunResult, Status, StepResult
from vvrun.secrets import Masker
from vvrun.state import RunRecord, Store
from vvrun.steps import STEP_TYPES
from vvrun.steps.base import Prompter


class Engine:
    """Drives one run through its steps; approvals, attempts and recording are collaborators
    it calls, sharing the run's state (`RunSession`)."""

    def __init__(self, runbook: Runbook, inputs: Mapping[str, Any], *, store: Store,
                 sink: Sink, prompter: Prompter, masker: Masker, options: RunOptions,
                 run_id: str | None = None):
        self.run = RunSession(runbook, inputs, store=store, sink=sink, prompter=prompter,
                              masker=masker, options=options, run_id=run_id)
        self.record = Recorder(self.run)
        self.attempts = Attempter(self.run)
        self.notes = attach_notifications(self.run, self._base_context)  # run events, steps
        self.tolerated: dict[str, str] = {}  # steps failed under `on_failure: continue`
        self.not_started: tuple[str, str] | None = None  # a step a signal came before
        self.groups = GroupRunner(self.run, self.record, self._run_step, self._reuse,
                                  self.templater)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def runbook(self) -> Runbook:
        return self.run.runbook

    @property
    def error(self) -> VvrunError | None:
        return self.run.error

    # -- the run's life ------------------------------------------------------------------

    def start(self) -> RunResult:
        """A new run: take the locks, record the run, run every step."""
        keys = self._lock_keys()
        opts = self.run.opts
        self.run.store.acquire_locks(self.run.run_id, keys, operator=opts.operator,
                                     host=opts.host, pid=opts.pid, ttl=opts.lock_ttl)
        try:
            now = time.time()
            self.run.store.create_run(RunRecord(
                id=self.run.run_id, runbook=self.run.runbook.name,
                path=self.run.opts.path or self.run.runbook.path,
                source_hash=self.run.runbook.source_hash, status="running",
                operator=self.run.opts.operator, host=self.run.opts.host, pid=self.run.opts.pid,
                inputs=self.run.masker.mask_obj(self.stored_inputs()), started_at=now,
                updated_at=now, vvrun_version=self.run.opts.vvrun_version, locks=keys,
                source=self.run.masker.mask(self.run.opts.source)))
        except BaseException:
            self.run.store.release_locks(self.run.run_id)
            raise
        return self._drive()

    def resume(self, run: RunRecord) -> RunResult:
        """Continue a recorded run: its ledger says what is done."""
        self.run.run_id = run.id
        self.run.resumed = True
        opts = self.run.opts
        self.run.store.acquire_locks(self.run.run_id, self._lock_keys(), operator=opts.operator,
                                     host=opts.host, pid=opts.pid, ttl=opts.lock_ttl)
        self.run.ledger = dict(self.run.store.step_results(run.id))
        self.run.store.update_run(run.id, status="running")
        if opts.allow_changed is not None:  # remembered: the next resume need not be told
            self.run.audit("runbook_change_allowed", {"by": opts.operator,
                                                      **opts.allow_changed})
        return self._drive()

    def stored_inputs(self) -> dict[str, Any]:
        """The inputs a run record may keep: never a secret."""
        return {k: v for k, v in self.run.inputs.items()
                if not self.run.runbook.inputs[k].secret and outcome.storable(v)}

    def _lock_keys(self) -> tuple[str, ...]:
        tpl = Templater(self._base_context(), where=self.run.runbook.where)
        keys = [self.run.runbook.name]
        for lock in self.run.runbook.locks:
            key = str(tpl.text(lock))
            if key not in keys:
                keys.append(key)
        return tuple(keys)

    def _drive(self) -> RunResult:
        self.run.emit("run_started", {
            "run_id": self.run.run_id, "runbook": self.run.runbook.name,
            "title": self.run.runbook.title,
            "description": self.run.runbook.description, "operator": self.run.opts.operator,
            "inputs": {k: ("***" if self.run.runbook.inputs[k].secret else outcome.jsonable(v))
                       for k, v in self.run.inputs.items()},
            "resumed": self.run.resumed})
        status, error = Status.SUCCEEDED, None
        try:
            status, error = self._loop()
            if status == Status.SUCCEEDED and self.tolerated:
                status, error = Status.COMPLETED_WITH_FAILURES, outcome.tolerated(self.tolerated)
        except RunStopped as exc:  # a `stop` step: the run ends on purpose
            return self._finish_run(Status(exc.status), f"stopped: {exc.reason}")
        except Paused as exc:
            status, error = Status.PAUSED, outcome.with_run_hint(exc, self.run.run_id)
            if self.run.current is not None:
                self.record.paused(self.run.current, exc.message)
        except Aborted as exc:
            status, error = Status.ABORTED, exc
            if self.run.current is not None:
                self.record.ended(self.run.current, Status.ABORTED, exc.message)
        except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP (`errors.Interrupted`)
            status, error = Status.INTERRUPTED, self._interrupted(exc)
        except VvrunError as exc:  # the runbook, the state store, a usage error
            status, error = Status.FAILED, exc
        except BaseException as exc:  # a bug: record the run failed, then let the edge report
            self._finish_run(Status.FAILED, f"internal error: {type(exc).__name__}: {exc}")
            raise
        return self._finish_run(status, error)

    def _interrupted(self, exc: KeyboardInterrupt) -> Cancelled:
        """Record the step in flight as interrupted, with what vvrun knows of it (`Recorder.
        interrupted`), and say how to resume. Later signals cannot cut this short
        (`engine/signals.py`)."""
        what = exc.what if isinstance(exc, Interrupted) else "Ctrl-C"
        error_class = exc.error_class if isinstance(exc, Interrupted) else Cancelled
        current = self.run.current
        if current is not None and self.run.held:  # shown, but not started yet
            self._not_started(current, f"{what} came before it started")
            current = None
        if current is not None:
            self.record.interrupted(current, what, exc.__cause__)
        return error_class(
            f"run {self.run.run_id} interrupted by {what}"
            + (f" at step '{current}'" if current else
               f" {self.not_started[1]} step '{self.not_started[0]}', which did not start"
               if self.not_started else ""),
            hint=f"resume with `vvrun resume {self.run.run_id}`")

    def _finish_run(self, status: Status, error: VvrunError | str | None) -> RunResult:
        with self.run.opts.shield():  # a signal now must not leave the run `running`
            return self._record_end(status, error)

    def _record_end(self, status: Status, error: VvrunError | str | None) -> RunResult:
        self.run.error = error if isinstance(error, VvrunError) else None
        message = None if error is None else self.run.masker.mask(
            error.format() if isinstance(error, VvrunError) else error)
        exit_code = outcome.exit_code(status, error)
        try:
            self.run.clients.close()
            self.run.store.update_run(self.run.run_id, status=status.value, error=message)
            if status in (Status.PAUSED, Status.INTERRUPTED):
                park = getattr(self.run.store, "park_locks", None)  # kept for the resume
                if park is not None:
                    park(self.run.run_id)
            else:
                self.run.store.release_locks(self.run.run_id)
        finally:
            steps = [{"step_id": r.step_id, "status": r.status.value, "duration": r.duration,
                      "error": r.error} for r in self.run.summary.values()]
            self.run.emit("run_ended", {"run_id": self.run.run_id, "status": status.value,
                                    "exit_code": exit_code, "steps": steps, "error": message})
        return with_required_failures(self.notes, RunResult(
            self.run.run_id, self.run.runbook.name, status, tuple(self.run.summary.values()),
            message, exit_code))

    # -- steps in order ------------------------------------------------------------------

    def _loop(self) -> tuple[Status, VvrunError | None]:
        steps = self.run.runbook.steps
        first = 0
        if self.run.opts.from_step and not self.run.resumed:
            first = self.run.runbook.index(self.run.opts.from_step)
        failure: VvrunError | None = None
        i = 0
        while i < len(steps):
            step = steps[i]
            reason = self._not_selected(step, i, first)
            done = self.run.ledger.get(step.id)
            if reason is not None:
                self._skip(step, reason)
            elif done is not None and (
                    done.status in (Status.SUCCEEDED, Status.SKIPPED)
                    or (done.status == Status.FAILED and step.on_failure in TOLERATED)):
                self._reuse(step, done)  # a tolerated failure was dealt with: not run again
            else:
                result, error = self._run_step(step, i, step.id, {}, str(i + 1))
                if result.status == Status.FAILED:
                    if step.on_failure in TOLERATED:
                        pass
                    elif step.on_failure == "abort":
                        return Status.FAILED, error
                    else:  # a jump to a later step: the rollback path runs, the run fails
                        target = self.run.runbook.index(step.on_failure)
                        failure = error
                        for between in steps[i + 1 : target]:
                            self._skip(between, f"on_failure of '{step.id}' jumped to "
                                                f"'{step.on_failure}'")
                        i = target
                        continue
            i += 1
        return (Status.FAILED, failure) if failure is not None else (Status.SUCCEEDED, None)

    def _not_selected(self, step: Step, index: int, first: int) -> str | None:
        if index < first:
            return f"before --from {self.run.opts.from_step}"
        tags = set(step.tags)
        if self.run.opts.tags and not tags & set(self.run.opts.tags):
            return "not tagged " + " or ".join(self.run.opts.tags)
        skipped = tags & set(self.run.opts.skip_tags)
        if skipped:
            return f"tagged {', '.join(sorted(skipped))} (--skip-tags)"
        return None

    def _reuse(self, step: Step, done: StepResult, key: str | None = None) -> None:
        key = key or step.id
        if done.status == Status.FAILED and step.on_failure == "continue":
            self.tolerated[key] = done.error or "failed"  # still counts after a resume
        self.run.views[step.id] = step_view(done.status.value, done.result, done.outputs)
        if key == step.id:
            self.run.summary[step.id] = done
        self.run.emit("step_skipped", {"step_id": key,
                                   "reason": f"{done.status.value} before the resume"})
        stop_if_stop(step, done)  # a run that stopped on purpose stops again on resume

    def _skip(self, step: Step, reason: str, key: str | None = None) -> StepResult:
        key = key or step.id
        now = time.time()
        result = StepResult(key, Status.SKIPPED, started_at=now, ended_at=now)
        self.run.store.step_finished(self.run.run_id, key, result)
        self.run.views[step.id] = step_view("skipped", {}, {})
        if key == step.id:
            self.run.summary[step.id] = result
        self.run.emit("step_skipped", {"step_id": key, "reason": reason})
        return result

    def _run_step(self, step: Step, index: int, key: str, extra: Mapping[str, Any],
                  number: str) -> tuple[StepResult, StepFailed | None]:
        """Run one step (a group, a loop, or a single action) under ledger key `key`;
        `extra` are the names a group round adds (`item`, `loop`)."""
        self.run.raise_deferred()  # never start a step once a signal has come
        result, error = self._run_step_once(step, index, key, extra, number)
        if result.status == Status.FAILED and step.on_failure == "continue":
            self.tolerated[key] = result.error or "failed"
        return result, error

    def _run_step_once(self, step: Step, index: int, key: str, extra: Mapping[str, Any],
                       number: str) -> tuple[StepResult, StepFailed | None]:
        tpl = self.templater(step).child(**extra) if extra else self.templater(step)
        started = time.time()
        try:
            per_item_when = step.for_each is not None and step.when is not None and any(
                p[0] in ("item", "loop") for p in referenced_names(step.when, expression=True))
            if step.when is not None and not per_item_when and not evaluate(tpl, step.when):
                return self._skip(step, f"when `{step.when}` is false", key), None
            if step.type == "group":
                return self.groups.run_group(step, index, key, tpl, per_item_when, number)
            if step.type == "runbook":
                return self.groups.run_call(step, index, key, tpl, number)
            if step.for_each is not None:
                return self._for_each(step, index, key, tpl, per_item_when, number)
            return self._one(step, index, key, tpl, number=number)
        except StepFailed as exc:
            return self.record.failed(step, key, exc, started), exc

    def _for_each(self, step: Step, index: int, key: str, tpl: Templater, per_item_when: bool,
                  number: str) -> tuple[StepResult, StepFailed | None]:
        started = time.time()
        items = loop_items(tpl, step)
        covered = (loop_approval.approve_loop(self.run, step, key, tpl, items, per_item_when)
                   if loop_approval.asks_once(step) else {})
        results: list[Any] = []
        n = len(items)
        ran = False
        for i, item in enumerate(items):
            ikey = f"{key}[{i}]"
            done = self.run.ledger.get(ikey)
            if done is not None and done.status in (Status.SUCCEEDED, Status.SKIPPED):
                ran = ran or done.status == Status.SUCCEEDED
                results.append(dict(done.result))
                continue
            itpl = tpl.child(item=item, loop=loop_view(i, n))
            if per_item_when and not evaluate(itpl, step.when or "true"):
                self._skip_item(ikey, f"when `{step.when}` is false")
                results.append({})
                continue
            ran = True
            result, error = self._one(step, index, ikey, itpl, item=(i, n), number=number,
                                      covered=covered.get(ikey))
            if result.status == Status.FAILED:
                partial = {"items": results}
                return self.record.failed(step, key, error or StepFailed("item failed"),
                                    started, result=partial), error
            results.append(dict(result.result))
        if n and not ran:  # SPEC §3: a loop whose items were all skipped is `skipped`
            return self._skip(step, "every item was skipped", key), None
        aggregate = {"items": results}
        rtpl = tpl.child(result=aggregate)
        outputs = {name: evaluate(rtpl, expr) for name, expr in step.outputs.items()}
        return self.record.succeeded(step, key, aggregate, outputs, started, attempts=1), None

    def _skip_item(self, key: str, reason: str) -> None:
        now = time.time()
        self.run.store.step_finished(self.run.run_id, key,
                                 StepResult(key, Status.SKIPPED, started_at=now, ended_at=now))
        self.run.emit("step_skipped", {"step_id": key, "reason": reason})

    # -- one step (or one item of a for_each step) ---------------------------------------

    def _one(self, step: Step, index: int, key: str, tpl: Templater,
             item: tuple[int, int] | None = None, number: str | None = None,
             covered: str | None = None) -> tuple[StepResult, StepFailed | None]:
        started = time.time()
        module = STEP_TYPES[step.type]
        self.run.current = key
        try:
            action = module.render(step.spec, tpl, self.run.runbook.connections)
            if step.type == "shell":
                action = shell_secrets_to_env(action, self.run.runbook, self.run.inputs)
            desc = module.describe(action)
        except StepFailed as exc:
            return self.record.failed(step, key, exc, started), exc
        shown = describe_dict(desc, self.run.masker)
        digest = action_hash(desc, self.run.masker, shown)
        title = str(tpl.text(step.title)) if step.title else desc.summary
        prev = self.run.ledger.get(key)
        uncertain = prev is not None and prev.status in (
            Status.RUNNING, Status.UNCERTAIN, Status.INTERRUPTED)
        # nothing asks before a quiet step's `running` record: its event is written with it
        quiet = not (uncertain or step.danger or step.type == "confirm")
        (self.run.hold if quiet else self.run.emit)("step_started", {
            "index": index + 1, "total": len(self.run.runbook.steps), "step_id": key,
            "number": number or str(index + 1),
            "type": step.type, "title": title,
            "description": tpl.text(step.description) if step.description else "",
            **shown, "danger": step.danger, "attempt": 1,
            "item": None if item is None else {"index": item[0] + 1, "total": item[1]}})
        if uncertain:
            # Until the step is settled its ledger entry must stay in flight: a pause or an
            # abort while asking must not overwrite it, or the next resume would run it blind.
            self.run.current = None
            rerun = approval.settle_uncertain(self.run, step, key, prev, action)
            self.run.current = key
        if uncertain and not rerun:
            return self.record.succeeded(step, key, dict(prev.result), {}, started,  # type: ignore[union-attr]
                                   attempts=prev.attempts, digest=digest,  # type: ignore[union-attr]
                                   note="taken as done by the operator"), None
        try:
            # an item a dangerous loop's one answer covered runs without asking again
            answered = (None if covered == digest
                        else approval.approve(self.run, step, key, action, desc, digest))
        except KeyboardInterrupt as exc:
            self._interrupted_at_prompt(key, exc)
            raise
        if step.type not in ("confirm", "manual"):
            started = time.time()  # a danger step's duration is its action's, not the asking
        if step.type == "manual":
            acked = approval.acknowledged(self.run, key)
            if acked is not None:
                return self.record.succeeded(step, key, acked, {}, started, attempts=1,
                                       digest=digest), None
        try:
            result, outputs, attempts, note = self.attempts.run_attempts(
                step, key, module, action, tpl, digest, answered, item is None)
        except StepFailed as exc:
            failed = self.record.failed(step, key, exc, started, digest=digest)
            self.run.raise_deferred()  # a signal as it failed: recorded, and the run stops
            return failed, exc
        except KeyboardInterrupt as exc:
            if step.type in ("confirm", "manual"):  # its only effect is the asking
                self._interrupted_at_prompt(key, exc)
            raise
        if step.type == "confirm" and result.get("confirmed") and answered is None:
            approval.record_confirmed(self.run, key, digest, via="prompt")
            approval.second_approver(self.run, step, key, digest)
        if step.type == "manual":
            approval.record_acknowledged(self.run, key, result)
        done = self.record.succeeded(step, key, result, outputs, started, attempts=attempts,
                                     digest=digest, note=note)
        self.run.raise_deferred()  # a signal as it finished: recorded done, the run stops here
        stop_if_stop(step, done)
        return done, None

    def _interrupted_at_prompt(self, key: str, exc: KeyboardInterrupt) -> None:
        """A signal at a prompt means "not started" (SPEC §5.3): a resume asks again."""
        what = exc.what if isinstance(exc, Interrupted) else "Ctrl-C"
        self._not_started(key, f"{what} at its prompt", "a resume asks again", "at the prompt of")

    def _not_started(self, key: str, why: str, then: str = "a resume runs it",
                     where: str = "before") -> None:
        self.record.ended(key, Status.PENDING, f"not started: {why}; {then}")
        self.not_started = (key, where)

    # -- templates and events ------------------------------------------------------------

    def _base_context(self) -> dict[str, Any]:
        run = self.run
        return {"inputs": run.inputs, "env": EnvVars(run.opts.environ, masker=run.masker),
                "steps": run.views,
                "run": {"id": run.run_id, "operator": run.opts.operator, "dry_run": False},
                "secrets": run.secrets}

    def templater(self, step: Step) -> Templater:
        return Templater(self._base_context(), where=step.where)


TOLERATED = ("continue", "ignore")  # on_failure values after which the run goes on
