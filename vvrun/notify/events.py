"""From a runbook's words to messages: the top-level `notify:` rules, the `notify` step's body,
and the default line for each run event. Pure: the engine calls these, then `submit()`s."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vvrun.notify.base import STEP_KIND, Message, Notifier

#: Kinds that keep an incident open per run: a run that succeeds resolves what it opened.
INCIDENT_KINDS = frozenset({"pagerduty", "statuspage"})

_DEFAULT_TEXT = {
    "started": "Run {run_id} started.",
    "paused": "Run {run_id} is paused and waits for an operator.",
    "approval_needed": "Run {run_id} waits for an approval.",
    "failed": "Run {run_id} failed.",
    "completed_with_failures": "Run {run_id} finished, but some steps failed.",
    "succeeded": "Run {run_id} succeeded.",
}


def _names(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class Rule:
    """One entry of the top-level `notify:` list."""

    on: tuple[str, ...]
    to: tuple[str, ...]
    message: str | None = None  # a template; None: `default_text`
    required: bool = False


def parse_rules(data: Sequence[Mapping[str, Any]] | None) -> tuple[Rule, ...]:
    """The validated `notify:` list (schema.RUN_NOTIFY) as rules."""
    return tuple(Rule(_names(r["on"]), _names(r["to"]), r.get("message"),
                      bool(r.get("required", False))) for r in data or ())


def targets(rules: Sequence[Rule], event: str, notifiers: Mapping[str, Notifier]
            ) -> list[tuple[str, Rule | None]]:
    """(notifier name, the rule that names it) for a run event, each name once. On
    `succeeded`, every incident notifier any rule names is added (rule None): a run resolves
    the incident it opened even when `succeeded` is not in that rule's `on`."""
    out: dict[str, Rule | None] = {}
    for rule in rules:
        if event in rule.on:
            for name in rule.to:
                out.setdefault(name, rule)
    if event == "succeeded":
        for rule in rules:
            for name in rule.to:
                if name in notifiers and notifiers[name].KIND in INCIDENT_KINDS:
                    out.setdefault(name, None)
    return list(out.items())


def default_text(event: str, run_id: str) -> str:
    return _DEFAULT_TEXT.get(event, "Run {run_id}: " + event).format(run_id=run_id)


def event_message(event: str, *, runbook: str, run_id: str, text: str | None = None,
                  step: str | None = None, status: str | None = None,
                  operator: str | None = None, link: str | None = None) -> Message:
    """The message for a run event; `text` is the rule's rendered `message`, if any."""
    return Message(event, runbook, run_id, text or default_text(event, run_id), step=step,
                   status=status or event, operator=operator, link=link)


@dataclass(frozen=True)
class NotifySpec:
    """The body of a `notify` step (schema.NOTIFY_STEP); `message` and `title` are templates."""

    to: tuple[str, ...]
    message: str
    title: str | None = None
    required: bool = False
    action: str | None = None
    severity: str | None = None
    incident_status: str | None = None
    component_status: str | None = None


def parse_step(body: Mapping[str, Any]) -> NotifySpec:
    return NotifySpec(_names(body["to"]), body["message"], body.get("title"),
                      bool(body.get("required", False)), body.get("action"),
                      body.get("severity"), body.get("incident_status"),
                      body.get("component_status"))


def step_message(spec: NotifySpec, *, text: str, title: str | None, runbook: str, run_id: str,
                 step: str, operator: str | None = None, link: str | None = None) -> Message:
    """The message of a `notify` step, given its rendered `text` and `title`."""
    return Message(STEP_KIND, runbook, run_id, text, step=step, status="running",
                   operator=operator, link=link, title=title, action=spec.action,
                   severity=spec.severity, incident_status=spec.incident_status,
                   component_status=spec.component_status)
