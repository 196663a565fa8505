"""One step's attempts: execute (in a worker thread), watch, `retry.until`, `expect`,
`outputs`, and the commit or rollback of an sql step's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vvrun.engine.context import evaluate, explain
from vvrun.engine.options import ack_prompter_for
from vvrun.engine.recording import between_attempts
from vvrun.engine.secret_env import child_environ
from vvrun.engine.session import RunSession
from vvrun.engine.worker import SinkConsole, run_in_worker
from vvrun.errors import Cancelled, ExpectFailed, StepFailed
from vvrun.language.model import Duration, Retry, Step
from vvrun.language.templates import Templater
from vvrun.secrets import Masker
from vvrun.steps.base import DEFAULT_GRACE, StepIO

WATCHABLE = frozenset({"sql", "redis", "http"})  # read-only kinds `watch` may repeat
PROMPT_ONLY = frozenset({"confirm", "manual"})  # steps whose only effect is asking


class _UntilFalse(StepFailed):
    """`retry.until` does not hold yet (polling goes on while attempts remain)."""


class Attempter:
    """Runs one step's attempts for the engine: retries, watch, until, expect, outputs."""

    def __init__(self, run: RunSession):
        self.run = run

    def run_attempts(self, step: Step, key: str, module: Any, action: Any, tpl: Templater,
                     digest: str, answered: Mapping[str, Any] | None, with_outputs: bool
                     ) -> tuple[dict[str, Any], dict[str, Any], int, str | None]:
        """(result, outputs, attempts, note); the note says when `retry.until` ran out and
        `on_exhausted: continue` let the step succeed with its last result."""
        retry = step.retry or Retry()
        attempts = max(1, retry.attempts)
        delay = retry.delay.seconds
        last: StepFailed | None = None
        for attempt in range(1, attempts + 1):
            run = self.run
            with run.riding() as held:
                run.store.step_started(run.run_id, key, attempt=attempt, host=run.opts.host,
                                       pid=run.opts.pid, action_hash=digest, events=held)
            try:
                if answered is not None:  # a confirm answered by --yes or before a resume
                    raw: dict[str, Any] = dict(answered)
                    return (raw, self.outputs(step, tpl.child(result=raw), with_outputs),
                            attempt, None)
                return (*self._attempt(step, key, module, action, tpl, with_outputs,
                                       attempt, digest), attempt, None)
            except StepFailed as exc:
                last = exc
                if attempt < attempts and _not_again(step, module, action, exc):
                    attempts = attempt  # the ledger records how many were really made
                    break
            if attempt < attempts:
                try:
                    self.run.raise_deferred()  # a signal came as this attempt ended: no other
                    self.run.emit("step_retry", {"step_id": key, "attempt": attempt + 1,
                                                 "attempts": attempts, "delay": delay,
                                                 "error": self.run.masker.mask(last.message)})
                    self.run.opts.sleep(delay)
                except KeyboardInterrupt as exc:  # no attempt running: the resume knows it
                    raise exc from between_attempts(attempt, attempts, last)
                delay *= retry.backoff
        assert last is not None
        if isinstance(last, _UntilFalse) and retry.on_exhausted == "continue":
            raw = last.result  # type: ignore[attr-defined]
            note = (f"retry.until `{retry.until}` still false after {attempts} attempts; "
                    "on_exhausted: continue — the last result is the step's result")
            return (dict(raw), self.outputs(step, tpl.child(result=raw), with_outputs),
                    attempts, note)
        if isinstance(last, _UntilFalse) and attempts > 1:
            last.message += f" (after {attempts} attempts)"
        last.attempts = attempts  # type: ignore[attr-defined]  # the ledger records how many
        raise last

    def _attempt(self, step: Step, key: str, module: Any, action: Any, tpl: Templater,
                 with_outputs: bool, attempt: int = 1, digest: str | None = None
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
        io = self._io(step, key, tpl)

        def spawned(pgid: int) -> None:  # the ledger keeps the group for resume's stray check
            run = self.run
            run.store.step_started(run.run_id, key, attempt=attempt, host=run.opts.host,
                                   pid=run.opts.pid, pgid=pgid, action_hash=digest)

        io.on_spawn = spawned
        watching = (step.watch is not None and self.run.opts.watch_wait is not None
                    and step.type in WATCHABLE)
        until = step.retry.until if step.retry else None
        while True:
            self.run.raise_deferred()  # a signal during the last attempt: no other one
            io.extra.pop("finish", None)
            raw = self._execute(step, module, action, io)
            rtpl = tpl.child(result=raw)
            finish = io.extra.pop("finish", None)
            try:
                holds = True if until is None else bool(evaluate(rtpl, until))
                if watching:
                    # the result itself (masked by emit), so the screen redraws a table
                    self.run.emit("step_output", {"step_id": key, "stream": "watch",
                                                  "text": _watch_text(raw), "result": dict(raw)})
                    if finish is not None:
                        finish(True)
                        finish = None
                    done = until is not None and holds
                    if not done and not self.run.opts.watch_wait(step.watch.seconds):  # type: ignore[union-attr,misc]
                        continue
                    holds = True  # Enter ends the watch: the last result is the result
                if not holds:
                    if finish is not None:  # a poll that commits each round (batched work)
                        finish(True)
                        finish = None
                    still = _UntilFalse(f"retry.until `{until}` is still false"
                                        + _saw(until or "", rtpl, self.run.masker),
                                        where=step.where,
                                        hint="raise retry.attempts or retry.delay to wait "
                                        "longer, or set retry.on_exhausted: continue")
                    still.result = dict(raw)  # type: ignore[attr-defined]
                    raise still
                for expr in step.expect:
                    if not evaluate(rtpl, expr):
                        raise ExpectFailed(f"expect `{expr}` was false"
                                           + _saw(expr, rtpl, self.run.masker), where=step.where,
                                           hint="the step ran, but its result is not what the "
                                           "runbook expects")
                outputs = self.outputs(step, rtpl, with_outputs)
            except BaseException:
                if finish is not None:
                    finish(False)  # `transaction: true` rolls back, `expect` included
                raise
            if finish is not None:
                finish(True)
            return dict(raw), outputs

    def outputs(self, step: Step, rtpl: Templater, with_outputs: bool) -> dict[str, Any]:
        if not with_outputs:
            return {}
        return {name: evaluate(rtpl, expr) for name, expr in step.outputs.items()}

    def _execute(self, step: Step, module: Any, action: Any,
                 io: StepIO) -> Mapping[str, Any]:
        try:
            return run_in_worker(lambda: module.execute(action, io), io.cancel, self.run.renewer,
                                 abandon_on_interrupt=step.type in PROMPT_ONLY,
                                 hurry=io.hurry, grace=io.grace, defer=self.run.defer,
                                 stopping=lambda hurried: self._stopping(io, hurried))
        except Cancelled as exc:  # the step stopped because we asked it to: Ctrl-C
            raise KeyboardInterrupt from exc

    def _stopping(self, io: StepIO, hurried: bool) -> None:
        """Live output: the step was asked to stop and may take its grace to do it; the
        screen says so rather than looking stuck (a second signal ends the wait)."""
        text = ("stopping now" if hurried else
                f"stopping: it has up to {io.grace:g} s to end; a second signal stops it now")
        self.run.emit("step_output", {"step_id": io.step_id, "stream": "stopping",
                                      "text": text, "grace": io.grace, "hurried": hurried})

    def _io(self, step: Step, key: str, tpl: Templater) -> StepIO:
        prompter = ack_prompter_for(self.run.opts, step.id, key) or self.run.prompter
        return StepIO(run_id=self.run.run_id, step_id=key, timeout=self._timeout(step),
                      clients=self.run.clients,
                      console=SinkConsole(self.run.sink, self.run.masker, key),
                      prompter=prompter, danger=step.danger, approvers=step.approvers,
                      env=child_environ(self.run.opts.environ, self.run.masker),
                      secret_env=self.run.secret_env,
                      where=step.where.with_step(key), templater=tpl,
                      timeout_inherited="timeout" not in step.raw,
                      grace=step.grace.seconds if step.grace is not None else DEFAULT_GRACE,
                      hurry=self.run.opts.hurry)

    def _timeout(self, step: Step) -> float | None:
        if step.timeout is not None:
            return step.timeout.seconds
        default = self.run.runbook.defaults.get("timeout")
        if default is None:
            return None
        return default.seconds if isinstance(default, Duration) else Duration.parse(
            default).seconds


def _not_again(step: Step, module: Any, action: Any, exc: StepFailed) -> bool:
    """True when the step type says this failure must not be retried (an http POST that may
    have reached the server, SPEC §3.3); the error then says why and how to allow it."""
    refusal = getattr(module, "retry_refusal", None)
    said = refusal(action, exc, idempotent=step.idempotent) if refusal else None
    if said is None:
        return False
    exc.message += f" ({said[0]})"
    exc.hint = said[1]
    return True


def _saw(expr: str, tpl: Templater, masker: Masker) -> str:
    seen = explain(expr, tpl, masker)
    return f": {seen}" if seen else ""


def _watch_text(result: Mapping[str, Any]) -> str:
    import json

    shown = {k: v for k, v in result.items() if k in ("rows", "value", "status", "json", "text")}
    return json.dumps(shown or dict(result), default=str, ensure_ascii=False)[:4000]
