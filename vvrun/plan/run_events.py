"""The run events a plan can predict — `started`, and each way a run can end — as every
notifier named by `notify:` would receive them: rendered from the rules with the plan's
context (secrets stay ⟨secrets.name⟩), sent nowhere. `paused` and `approval_needed` depend
on what happens during the run, so a plan does not show them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from vvrun.errors import VvrunError
from vvrun.language.model import Runbook
from vvrun.language.templates import DependsOn, Templater
from vvrun.secrets import Masker

PREDICTED = ("started", "succeeded", "completed_with_failures", "failed")


@dataclass(frozen=True)
class PlannedNotification:
    """A run-event notification a run would send, rendered but never sent."""

    event: str  # a run event: started, succeeded, …
    notifier: str
    body: str  # the request the service would receive, masked; or why it is not sent
    required: bool = False


def planned_notifications(runbook: Runbook, context: Mapping[str, Any], masker: Masker
                          ) -> tuple[PlannedNotification, ...]:
    if not runbook.notify:
        return ()
    from vvrun.notify.configure import configured
    from vvrun.notify.events import event_message, targets
    from vvrun.notify.render import preview_notifier

    tpl = Templater(context, where=runbook.where)
    notifiers, off = {}, {}
    for name, config in runbook.notifiers.items():
        try:
            notifiers[name] = configured(name, tpl.value(config))
        except (VvrunError, DependsOn) as exc:
            off[name] = getattr(exc, "message", str(exc))
    out = []
    for event in PREDICTED:
        for name, rule in targets(runbook.notify, event, notifiers):
            text = None
            if rule is not None and rule.message:
                try:
                    text = str(tpl.text(rule.message))
                except (VvrunError, DependsOn) as exc:
                    text = f"(message not rendered: {getattr(exc, 'message', exc)})"
            message = replace(  # the same text every time: no clock, no uuid
                event_message(event, runbook=runbook.name, run_id="⟨run.id⟩", text=text,
                              status=event, operator="⟨run.operator⟩"),
                id="⟨message id⟩", time="⟨time of sending⟩")
            body = (preview_notifier(notifiers[name], message) if name in notifiers
                    else f"→ {name}: not sent: {off.get(name, 'no such notifier')}")
            out.append(PlannedNotification(event, name, masker.mask(body),
                                           bool(rule and rule.required)))
    return tuple(out)
