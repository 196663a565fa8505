"""One run's shared state: what the engine and its collaborators (approvals, attempts,
recording) all read and write. The collaborators get this object, never the engine, so no
module of the engine calls back into the one that drives it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

from vvrun.engine.options import RunOptions
from vvrun.engine.worker import Renewer
from vvrun.errors import VvrunError
from vvrun.events import Event, Sink
from vvrun.language.model import Runbook
from vvrun.results import StepResult
from vvrun.secrets import Masker
from vvrun.secrets.providers import SecretValues
from vvrun.secrets.taint import taint
from vvrun.state import Appended, Store, new_run_id
from vvrun.steps.base import Clients, Prompter

NOT_AUDITED = frozenset({"step_output", "step_progress"})  # live output: kept in results


class RunSession:
    """The run being driven: its runbook, inputs, store, sink, ledger and step views."""

    def __init__(self, runbook: Runbook, inputs: Mapping[str, Any], *, store: Store,
                 sink: Sink, prompter: Prompter, masker: Masker, options: RunOptions,
                 run_id: str | None = None):
        self.runbook = runbook
        self.inputs = dict(inputs)
        self.store = store
        self.sink = sink
        self.prompter = prompter
        self.masker = masker
        self.opts = options
        self.run_id = run_id or new_run_id()
        self.clients = Clients()
        self.ledger: dict[str, StepResult] = {}  # what the store says each step did
        self.views: dict[str, dict[str, Any]] = {}  # `steps.<id>` as templates see it
        self.summary: dict[str, StepResult] = {}  # one line per step for the final table
        self.error: VvrunError | None = None
        self.current: str | None = None  # the step (or item) in flight
        self.resumed = False
        # a signal that landed as a step finished anyway: raised once the step is recorded
        self.deferred: KeyboardInterrupt | None = None
        # events shown, to be written with the next ledger record (`hold`)
        self.held: list[Appended] = []
        self.renewer = Renewer(lambda: self.store.renew_locks(self.run_id),
                               max(1.0, options.lock_ttl / 3))
        for name, spec in runbook.inputs.items():
            if spec.secret and name in self.inputs:  # what a template computes from it too
                self.inputs[name] = taint(self.inputs[name], masker, name)
        # a secret reaches a shell step only where its command or `env:` templates it
        self.secret_env: dict[str, str] = {}
        # `secrets.<name>`: fetched at first use, masked at once, kept for this run only
        self.secrets = self._secret_values(runbook)
        self._called_secrets: dict[str, SecretValues] = {}

    def _secret_values(self, runbook: Runbook) -> SecretValues:
        return SecretValues(runbook.secrets, self.masker, self.opts.environ,
                            os.path.dirname(os.path.abspath(runbook.path or ".")))

    def secrets_of(self, callee: Runbook) -> SecretValues:
        """`secrets.*` inside a called runbook: its own `secrets:`, fetched at first use by
        the same providers, masked by this run's masker, and fetched once a run however
        often it is called."""
        key = os.path.abspath(callee.path or callee.name)
        if key not in self._called_secrets:
            self._called_secrets[key] = self._secret_values(callee)
        return self._called_secrets[key]

    def defer(self, interrupt: KeyboardInterrupt) -> None:
        """Keep a signal that came as the step in flight finished (`worker.run_in_worker`)."""
        self.deferred = interrupt

    def raise_deferred(self) -> None:
        """Stop here if a signal is waiting: after a step is recorded, before another starts."""
        interrupt, self.deferred = self.deferred, None
        if interrupt is not None:
            raise interrupt

    def emit(self, kind: str, data: Mapping[str, Any]) -> None:
        """Mask, show to the sink, and append to the audit trail (live output excepted)."""
        masked = self.masker.mask_obj(dict(data))
        self.show(kind, masked)
        if kind not in NOT_AUDITED:
            self.flush_held()  # the trail keeps the order things were shown in
            self.store.append_event(self.run_id, kind, masked, operator=self.opts.operator,
                                    host=self.opts.host)

    def show(self, kind: str, masked: Mapping[str, Any]) -> None:
        """Show an event (already masked) to the sink only."""
        self.sink.emit(Event(kind, masked, time.time()))

    def appended(self, kind: str, masked: Mapping[str, Any]) -> Appended:
        """An event (already masked) for the store to write with a ledger record."""
        return Appended(kind, masked, self.opts.operator, self.opts.host, self.masker)

    def hold(self, kind: str, data: Mapping[str, Any]) -> None:
        """Show an event now, and write it with the next ledger record (`riding`) or before
        the next event, whichever comes first: one commit instead of two. Only for an event
        that no wait follows before that record, so that whoever watches the trail sees it
        as soon as it matters."""
        masked = self.masker.mask_obj(dict(data))
        self.show(kind, masked)
        self.held.append(self.appended(kind, masked))

    @contextlib.contextmanager
    def riding(self) -> Iterator[tuple[Appended, ...]]:
        """The events held, for a store call that writes them with a ledger record: they
        stay held (and are written later) if that call fails."""
        held = tuple(self.held)
        yield held
        del self.held[:len(held)]

    def take_held(self) -> tuple[Appended, ...]:
        held, self.held = tuple(self.held), []
        return held

    def flush_held(self) -> None:
        for event in self.take_held():
            self.store.append_event(self.run_id, event.kind, event.data,
                                    operator=event.operator, host=event.host)

    def audit(self, kind: str, data: Mapping[str, Any]) -> None:
        """An event for the audit trail (and the sink): confirmations, approvals, acks."""
        self.emit(kind, data)
