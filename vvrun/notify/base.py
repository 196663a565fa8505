"""What every notifier shares: the message, the delivery outcome, the protocol, the errors.

A `Message` is what vvrun wants to tell people (a run event or a `notify` step); a notifier
turns it into its service's request (`render`, pure: plans call it) and delivers it (`send`,
the only I/O). `send` never raises for a delivery that failed: it returns a `Delivery` saying
why and whether another attempt could succeed, so that the dispatcher alone decides on retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from vvrun.errors import RunbookError, StepFailed

#: Run events that `notify:` at the top level can name, in the order a run meets them.
RUN_EVENTS = ("started", "paused", "approval_needed", "failed", "completed_with_failures",
              "succeeded")
#: The kind of a message sent by a `notify` step rather than a run event.
STEP_KIND = "step"
#: What an incident service (PagerDuty, Statuspage) does with a message.
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Message:
    """One thing to tell people. `kind` is a run event (`RUN_EVENTS`) or `"step"`.

    `action`, `severity`, `incident_status` and `component_status` are hints for the incident
    services; left out, they follow from `kind` (see `incident_action`). `id` names the message
    across retries (the webhook's delivery id); `time` is when it was made (ISO 8601, UTC).
    """

    kind: str
    runbook: str
    run_id: str
    text: str
    step: str | None = None
    status: str | None = None
    operator: str | None = None
    link: str | None = None
    title: str | None = None
    action: str | None = None
    severity: str | None = None
    incident_status: str | None = None
    component_status: str | None = None
    id: str = field(default_factory=_new_id)
    time: str = field(default_factory=_now)

    def incident_action(self) -> str:
        """trigger, acknowledge or resolve: the message's own, else `succeeded` resolves and
        every other event (and a step) triggers — PagerDuty de-duplicates by run id, so a
        second trigger updates the incident the first one opened."""
        if self.action:
            return self.action
        return "resolve" if self.kind == "succeeded" else "trigger"

    def headline(self) -> str:
        """One line: the message's title, else `runbook: event` (`runbook: step <id>`)."""
        if self.title:
            return self.title
        what = f"step {self.step}" if self.kind == STEP_KIND and self.step else self.kind
        return f"{self.runbook}: {what.replace('_', ' ')}"

    def to_json(self) -> dict[str, Any]:
        """The documented JSON of a run event (the webhook's body; docs/notifiers.md)."""
        data = {"event": self.kind, **asdict(self)}
        del data["kind"]
        data["action"] = self.incident_action()
        return {k: v for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class Delivery:
    """The outcome of delivering one message through one notifier: what the audit trail
    records. `error` is already masked; `ref` is the service's handle (PagerDuty dedup_key,
    Statuspage incident id, the e-mail's Message-ID)."""

    notifier: str
    kind: str
    event: str
    ok: bool
    step: str | None = None
    status: int | None = None
    ref: str | None = None
    error: str | None = None
    attempts: int = 1
    seconds: float = 0.0
    required: bool = False
    retryable: bool = False
    retry_after: float | None = None
    message_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for transient in ("retryable", "retry_after"):
            del data[transient]
        return {k: v for k, v in data.items() if v is not None}


class Notifier(Protocol):
    """One configured notifier (`notifiers.<name>` in a runbook)."""

    KIND: ClassVar[str]
    name: str

    def render(self, message: Message) -> Rendered: ...  # pure: what `send` would send

    def send(self, message: Message, timeout: float) -> Delivery: ...  # the only I/O

    def secrets(self) -> tuple[str, ...]: ...  # values to mask wherever text leaves

    def close(self) -> None: ...


class Rendered(Protocol):
    """A message as its service will receive it, shown by plans (secrets masked)."""

    def preview(self) -> str: ...


class NotifierConfigError(RunbookError):
    """A notifier's configuration is wrong (an unknown kind, a missing key)."""


class NotifyFailed(StepFailed):
    """A `required: true` notification was not delivered."""


def one_kind(config: Mapping[str, Any], kinds: Mapping[str, Any], name: str) -> str:
    """The one kind key in a notifier's configuration, or a clear error."""
    found = [k for k in config if k in kinds]
    if len(found) == 1:
        return found[0]
    choices = ", ".join(kinds)
    what = "no kind" if not found else f"several kinds ({', '.join(found)})"
    raise NotifierConfigError(f"notifier '{name}' has {what}",
                              hint=f"give exactly one of: {choices}")


def option(config: Mapping[str, Any], key: str, name: str, choices: tuple[str, ...],
           default: str | None) -> str | None:
    value = config.get(key, default)
    if value is not None and value not in choices:
        raise NotifierConfigError(f"notifier '{name}': {key} {value!r} is not one of "
                                  f"{', '.join(choices)}")
    return value


def failure(notifier: Notifier, message: Message, error: str, *, status: int | None = None,
            retryable: bool = False, retry_after: float | None = None) -> Delivery:
    return Delivery(notifier.name, notifier.KIND, message.kind, False, step=message.step,
                    status=status, error=error, retryable=retryable, retry_after=retry_after,
                    message_id=message.id)


def success(notifier: Notifier, message: Message, *, status: int | None = None,
            ref: str | None = None) -> Delivery:
    return Delivery(notifier.name, notifier.KIND, message.kind, True, step=message.step,
                    status=status, ref=ref, message_id=message.id)
