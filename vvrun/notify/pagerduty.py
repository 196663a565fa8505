"""PagerDuty, through the Events API v2: POST {base}/v2/enqueue with a `routing_key`, an
`event_action` (trigger, acknowledge, resolve) and a `dedup_key` — the run id, so that the
incident a run triggers is the one it acknowledges and resolves. PagerDuty answers 202
`{"status": "success", "message": "Event processed", "dedup_key": ...}`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from vvrun.notify import _http
from vvrun.notify.base import SEVERITIES, Delivery, Message, option

KIND = "pagerduty"
BASE = "https://events.pagerduty.com"
PATH = "/v2/enqueue"
_SUMMARY_MAX = 1024  # the Events API's limit on payload.summary


def dedup_key(message: Message) -> str:
    return message.run_id


def payload(message: Message, *, routing_key: str, severity: str, source: str | None,
            component: str | None = None) -> dict[str, Any]:
    """The event; a trigger carries `payload` (summary, source and severity are required),
    an acknowledge or resolve needs only the key."""
    action = message.incident_action()
    event: dict[str, Any] = {"routing_key": routing_key, "event_action": action,
                             "dedup_key": dedup_key(message)}
    if action != "trigger":
        return event
    summary = message.headline() + (f": {message.text}" if message.text else "")
    details = {"runbook": message.runbook, "run_id": message.run_id, "event": message.kind,
               "step": message.step, "status": message.status, "operator": message.operator,
               "message": message.text}
    event["payload"] = {
        "summary": summary[:_SUMMARY_MAX],
        "source": source or message.runbook,
        "severity": message.severity or severity,
        "timestamp": message.time,
        "component": component or message.step,
        "group": message.runbook,
        "class": message.kind,
        "custom_details": {k: v for k, v in details.items() if v},
    }
    event["payload"] = {k: v for k, v in event["payload"].items() if v}
    event["client"] = "vvrun"
    if message.link:
        event["client_url"] = message.link
        event["links"] = [{"href": message.link, "text": f"vvrun run {message.run_id}"}]
    return event


@dataclass(repr=False)
class PagerDutyNotifier:
    """PagerDuty Events API v2: trigger, acknowledge and resolve by dedup key."""

    KIND: ClassVar[str] = KIND
    name: str
    routing_key: str
    severity: str = "error"
    source: str | None = None
    component: str | None = None
    url: str | None = None
    _client: _http.Client = field(default_factory=_http.Client)

    def render(self, message: Message) -> _http.HttpRequest:
        body = payload(message, routing_key=self.routing_key, severity=self.severity,
                       source=self.source, component=self.component)
        return _http.HttpRequest("POST", _http.join(self.url or BASE, PATH),
                                 _http.json_headers(), body)

    def send(self, message: Message, timeout: float) -> Delivery:
        return _http.deliver(self, self._client, message, self.render(message), timeout,
                             ref=lambda r: _http.json_field(r, "dedup_key") or dedup_key(message))

    def secrets(self) -> tuple[str, ...]:
        return (self.routing_key,)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"PagerDutyNotifier(name={self.name!r}, routing_key='***')"


def from_config(name: str, config: Mapping[str, Any]) -> PagerDutyNotifier:
    severity = option(config, "severity", name, SEVERITIES, "error")
    return PagerDutyNotifier(name, str(config[KIND]), severity=severity or "error",
                             source=config.get("source"), component=config.get("component"),
                             url=config.get("url"))
