"""The run's notifiers (SPEC §3.8): one Dispatcher per run, fed by run events and `notify` steps.

`attach(run, context)` wraps the run's sink (`notify.sink.NotifySink`) so that `run_started`
and `run_ended` become the run events of `notify:`, and puts this object in the run's clients
where the `notify` step finds it. The notifiers are built when the run starts, from their
configuration rendered with the run's context (inputs, env, secrets, run): one whose address
renders empty, or whose secret cannot be fetched, is off for the run — said on screen and in
the audit trail — and the run goes on. Every delivery is recorded as a `notification` event.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from vvrun.engine.session import RunSession
from vvrun.errors import EXIT_COMPLETED_WITH_FAILURES, EXIT_OK, VvrunError
from vvrun.language.model import Runbook
from vvrun.language.templates import Templater
from vvrun.notify.base import Delivery, Message, Notifier, NotifyFailed
from vvrun.notify.dispatch import Dispatcher, Ticket
from vvrun.notify.events import event_message, targets
from vvrun.notify.sink import NotifySink
from vvrun.results import RunResult
from vvrun.steps.notify import NOTIFY_CLIENT

END_WAIT = 30.0  # seconds the end of a run waits for deliveries still being tried


def attach(run: RunSession, context: Callable[[], Mapping[str, Any]]) -> Notifications | None:
    """Notifications for a runbook that declares notifiers (itself or a runbook it calls);
    None otherwise."""
    if not declares_notifiers(run.runbook):
        return None
    notes = Notifications(run, context)
    run.sink = NotifySink(run.sink, notes)
    run.clients.get(NOTIFY_CLIENT, lambda: notes, close=lambda _: None)
    return notes


def with_required_failures(notes: Notifications | None, result: RunResult) -> RunResult:
    """The run's result once its own outcome is recorded: a `required: true` run-event
    message that was not delivered makes the command fail (exit 1) — a run that succeeded
    (or completed with failures) but could not tell the people it must tell is not a
    success. A run that already failed, paused or was stopped keeps its exit code."""
    if notes is None or not notes.required_failed:
        return result
    error = NotifyFailed(
        f"run {result.run_id} {result.status.value}, but a required notification was not "
        f"delivered: {notes.required_failed[0]}",
        hint="the run's own outcome is recorded; fix the notifier and tell the people by "
        f"hand (the attempts are in `vvrun show {result.run_id}`)")
    if result.exit_code not in (EXIT_OK, EXIT_COMPLETED_WITH_FAILURES):
        return result
    notes.run.error = error
    return replace(result, exit_code=error.exit_code, error=notes.run.masker.mask(error.format()))


def declares_notifiers(runbook: Runbook, seen: frozenset[int] = frozenset()) -> bool:
    if runbook.notifiers:
        return True
    return any(declares_notifiers(c, seen | {id(runbook)})
               for c in runbook.callees.values() if id(c) not in seen)


def audit_data(delivery: Delivery) -> dict[str, Any]:
    """A delivery as a `notification` event: `service` (slack…) and `about` (the run event or
    `step`), so that the event's own `kind` and a JSON line's `event` keep their meaning."""
    data = delivery.to_dict()
    data["service"] = data.pop("kind")
    data["about"] = data.pop("event")
    return data


class Notifications:
    def __init__(self, run: RunSession, context: Callable[[], Mapping[str, Any]]):
        self.run = run
        self.top = run.runbook  # a called runbook is `run.runbook` while it runs
        self._context = context
        self._called: set[str] = set()  # called runbooks whose notifiers are built
        self._dispatcher: Dispatcher | None = None
        self._notifiers: dict[str, Notifier] = {}
        self.off: dict[str, str] = {}
        self._done: collections.deque[Delivery] = collections.deque()
        self._said: collections.deque[dict[str, str]] = collections.deque()
        self._required: list[Ticket] = []
        self.required_failed: list[str] = []  # required run-event messages not delivered
        self._lock = threading.Lock()

    # -- the notify step -----------------------------------------------------------------

    def submit(self, name: str, message: Message, *, required: bool = False
               ) -> tuple[Ticket | None, str]:
        """Queue `message` for `name`: (its ticket, "") or (None, why it cannot be sent).
        Inside a called runbook, `name` is one of that runbook's notifiers."""
        name = self.prepare() + name
        dispatcher = self._start()
        if name in self.off:
            return None, self.off[name]
        if name not in self._notifiers:
            return None, f"no notifier named '{name}' is declared under `notifiers:`"
        return dispatcher.submit(name, message, required=required), ""

    # -- hooks of the sink ---------------------------------------------------------------

    def drain(self) -> None:
        while self._said:  # a called runbook's notifier that is off: its notify step's thread
            self.run.audit("notifier_off", self._said.popleft())
        while self._done:
            self.run.audit("notification", audit_data(self._done.popleft()))

    def run_event(self, event: str, data: Mapping[str, Any]) -> None:
        dispatcher = self._start()
        tpl: Templater | None = None
        for name, rule in targets(self.top.notify, event, self._notifiers):
            if name in self.off or name not in self._notifiers:
                continue
            text = None
            if rule is not None and rule.message:
                tpl = tpl or Templater(self._context(), where=self.top.where)
                try:
                    text = str(tpl.text(rule.message))
                except VvrunError as exc:
                    text = f"(message not rendered: {self.run.masker.mask(exc.message)})"
            message = event_message(event, runbook=self.top.name,
                                    run_id=self.run.run_id, text=text,
                                    status=str(data.get("status") or event),
                                    operator=self.run.opts.operator)
            required = bool(rule and rule.required)
            ticket = dispatcher.submit(name, message, required=required)
            if required:
                self._required.append(ticket)

    def ended(self) -> None:
        """Wait (bounded) for what is still being delivered, then record every outcome."""
        if self._dispatcher is None:
            return
        self._dispatcher.close(timeout=END_WAIT)
        self.drain()
        for ticket in self._required:
            try:
                ticket.result(timeout=0)
            except VvrunError as exc:
                self.required_failed.append(exc.message)
                self.run.audit("notification_required_failed",
                               {"notifier": ticket.notifier, "error": exc.message})

    # -- building ------------------------------------------------------------------------

    def _start(self) -> Dispatcher:
        with self._lock:
            if self._dispatcher is None:
                self._dispatcher = self._build()
            return self._dispatcher

    def _build(self) -> Dispatcher:
        # built at `run_started`, so with the top runbook's context (inputs, secrets)
        self._notifiers.update(self._configure(self.top, ""))
        self.drain()
        dispatcher = Dispatcher(self._notifiers, on_delivery=self._done.append,
                                mask=self.run.masker.mask)
        if self.run.resumed:
            self._remember(dispatcher)
        return dispatcher

    def _configure(self, runbook: Runbook, prefix: str) -> dict[str, Notifier]:
        """The runbook's notifiers, rendered with the context of the runbook now running;
        one that cannot be built is off for this run (said, and audited)."""
        from vvrun.notify.configure import configured

        tpl = Templater(self._context(), where=runbook.where)
        masker = self.run.masker
        built = {}
        for short, config in runbook.notifiers.items():
            name = prefix + short
            try:
                notifier = configured(name, tpl.value(config))
            except VvrunError as exc:  # off for this run: the run itself goes on
                self.off[name] = masker.mask(exc.message)
                self._said.append({"notifier": name, "reason": self.off[name],
                                   "hint": exc.hint or ""})
                continue
            for secret in notifier.secrets():
                masker.add(secret)
            built[name] = notifier
        return built

    def prepare(self) -> str:
        """Build the notifiers of the runbook now running, if not yet: a called runbook's
        are built the first time it notifies, with its own secrets. Returns the prefix of
        their names for the dispatcher and the audit trail: "" or "<callee name>/"."""
        dispatcher = self._start()
        runbook = self.run.runbook
        if runbook is self.top:
            return ""
        prefix = f"{runbook.name}/"
        with self._lock:
            if runbook.path not in self._called:
                self._called.add(runbook.path)
                for full, notifier in self._configure(runbook, prefix).items():
                    self._notifiers[full] = notifier
                    dispatcher.add(full, notifier)
        return prefix

    def _remember(self, dispatcher: Dispatcher) -> None:
        """A resumed run updates the Statuspage incident it opened (its `ref` in the audit)."""
        for event in self.run.store.events(self.run.run_id):
            data = event.get("data") or {}
            if (event.get("kind") == "notification" and data.get("service") == "statuspage"
                    and data.get("ok") and data.get("ref")
                    and data.get("notifier") in self._notifiers):
                notifier = dispatcher.notifier(data["notifier"])
                remember = getattr(notifier, "remember", None)
                if remember is not None:
                    remember(self.run.run_id, str(data["ref"]))
