"""`notify`: tell people through the notifiers declared under `notifiers:` (SPEC §3.8).

`render` builds the message and each notifier from its rendered configuration; `describe`
shows the request each service would receive (secrets masked), so a plan shows every message
and sends none. `execute` queues the message on the run's dispatcher (reached through
`io.clients` under `NOTIFY_CLIENT`) and returns at once; `required: true` waits for the
delivery and fails the step when it was not delivered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from vvrun.errors import Location, VvrunError
from vvrun.notify.base import Message, Notifier, NotifyFailed
from vvrun.notify.events import NotifySpec, parse_step, step_message
from vvrun.notify.schema import NOTIFY_STEP
from vvrun.steps.base import Connection, Description, StepIO, Templater

NAME = "notify"
SCHEMA: Mapping[str, Any] = NOTIFY_STEP
NOTIFY_CLIENT = "vvrun:notify"  # the run's notifications in `io.clients` (engine.notifications)
REQUIRED_WAIT = 150.0  # seconds: longer than the dispatcher's retry deadline


@dataclass(frozen=True)
class NotifyStepSpec:
    """The step's body, plus what `language.build` adds: the configurations (templates) of
    the notifiers it names, and the runbook's name."""

    body: NotifySpec
    notifiers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    runbook: str = ""


def parse(body: Any, where: Location) -> NotifyStepSpec:
    return NotifyStepSpec(parse_step(body))


def with_notifiers(spec: NotifyStepSpec, notifiers: Mapping[str, Any], runbook: str
                   ) -> NotifyStepSpec:
    """The spec with the configurations of the notifiers it names (those declared)."""
    named = {n: notifiers[n] for n in spec.body.to if isinstance(notifiers.get(n), Mapping)}
    return replace(spec, notifiers=named, runbook=runbook)


@dataclass(frozen=True)
class NotifyAction:
    """A `notify` step, rendered: the message, the notifiers it goes to and those it cannot."""

    to: tuple[str, ...]
    message: Message
    required: bool
    notifiers: Mapping[str, Notifier]  # built from this render (plans, runs without a dispatcher)
    off: Mapping[str, str]  # name -> why it cannot send (not declared, empty address, error)


def render(spec: NotifyStepSpec, tpl: Templater, conns: Mapping[str, Connection]
           ) -> NotifyAction:
    from vvrun.notify.configure import configured

    run = tpl.context.get("run") or {}
    body = spec.body
    message = step_message(
        body, text=str(tpl.text(body.message)),
        title=str(tpl.text(body.title)) if body.title else None, runbook=spec.runbook,
        run_id=str(run.get("id", "")), step=(tpl.where.step_id if tpl.where else None) or "",
        operator=str(run.get("operator", "")) or None)
    if run.get("dry_run") is True:  # a plan is the same text every time: no clock, no uuid
        message = replace(message, id="⟨message id⟩", time="⟨time of sending⟩")
    notifiers: dict[str, Notifier] = {}
    off: dict[str, str] = {}
    for name in body.to:
        config = spec.notifiers.get(name)
        if config is None:
            off[name] = f"no notifier named '{name}' is declared under `notifiers:`"
            continue
        try:
            notifiers[name] = configured(name, tpl.value(config))
        except VvrunError as exc:  # a secret that cannot be fetched, an empty address
            off[name] = exc.message
    return NotifyAction(body.to, message, body.required, notifiers, off)


def describe(action: NotifyAction) -> Description:
    from vvrun.notify.render import preview_notifier

    parts = []
    for name in action.to:
        if name in action.notifiers:
            parts.append(preview_notifier(action.notifiers[name], action.message))
        else:
            parts.append(f"→ {name}: not sent: {action.off.get(name, 'unknown')}")
    first = action.message.text.splitlines()[0] if action.message.text else ""
    return Description(summary=f"notify {', '.join(action.to)}: {first}"[:200],
                       body="\n\n".join(parts), language="text",
                       notes=("required: the step waits for delivery",) if action.required
                       else ())


def execute(action: NotifyAction, io: StepIO) -> Mapping[str, Any]:
    notes = io.clients.get(NOTIFY_CLIENT, lambda: None, close=lambda _: None)
    if notes is None:  # no run around it (a test, an embedding): a dispatcher of its own
        return _send_alone(action, io)
    notes.prepare()  # a called runbook's notifiers: built (or said to be off) once
    queued, off, tickets = [], dict(action.off), []
    for name in action.to:
        if name in off:
            continue
        ticket, why = notes.submit(name, action.message, required=action.required)
        if ticket is None:
            off[name] = why
        else:
            queued.append(name)
            tickets.append(ticket)
    return _result(action, queued, off, tickets, io)


def _send_alone(action: NotifyAction, io: StepIO) -> Mapping[str, Any]:
    from vvrun.notify.dispatch import Dispatcher

    dispatcher = Dispatcher(dict(action.notifiers))
    try:
        tickets = [dispatcher.submit(n, action.message, required=action.required)
                   for n in action.to if n in action.notifiers]
        return _result(action, [t.notifier for t in tickets], dict(action.off), tickets, io,
                       wait=True)
    finally:
        dispatcher.close(timeout=REQUIRED_WAIT)


def _result(action: NotifyAction, queued: list[str], off: Mapping[str, str], tickets: list[Any],
            io: StepIO, wait: bool = False) -> Mapping[str, Any]:
    if action.required:
        missing = [n for n in action.to if n in off]
        if missing:
            raise NotifyFailed(f"required notification to '{missing[0]}' cannot be sent: "
                               f"{off[missing[0]]}", where=io.where,
                               hint="declare the notifier and give it its address or key")
    deliveries = []
    if action.required or wait:
        limit = io.timeout if action.required and io.timeout else REQUIRED_WAIT
        for ticket in tickets:
            delivery = ticket.result(timeout=limit)  # a required failure raises NotifyFailed
            if delivery is not None:
                deliveries.append(delivery.to_dict())
    # a notifier that is off is said once, by the step's result ("not sent to …: …")
    return {"sent": queued, "off": dict(off), "deliveries": deliveries,
            "message_id": action.message.id}
