"""Slack, through an incoming webhook: `text` (the notification's fallback) and Block Kit
`blocks` (runbook, step, status, operator, link). Slack answers 200 `ok`, or a status with a
word such as `invalid_payload` or `channel_not_found`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from vvrun.notify import _http
from vvrun.notify.base import Delivery, Message

KIND = "slack"
BASE = "https://hooks.slack.com"
_HEADER_MAX = 150  # Block Kit's limits
_SECTION_MAX = 3000


def _escape(text: str) -> str:
    """Slack's mrkdwn reserves &, < and > (its link and mention syntax)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def payload(message: Message) -> dict[str, Any]:
    """The webhook body: `text` for notifications and old clients, `blocks` for the rest."""
    facts = [("Runbook", message.runbook), ("Step", message.step),
             ("Status", message.status or message.kind.replace("_", " ")),
             ("Operator", message.operator)]
    fields = [{"type": "mrkdwn", "text": f"*{label}*\n{_escape(value)}"}
              for label, value in facts if value]
    context = f"run `{_escape(message.run_id)}`"
    if message.link:
        context += f" · <{message.link}|open the run>"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(message.headline(),
                                                                       _HEADER_MAX)}},
    ]
    if message.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": _cut(_escape(message.text),
                                                                _SECTION_MAX)}})
    blocks += [{"type": "section", "fields": fields},
               {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}]
    text = f"{message.headline()}: {message.text}" if message.text else message.headline()
    return {"text": _cut(_escape(text), _SECTION_MAX), "blocks": blocks}


@dataclass(repr=False)
class SlackNotifier:
    """A Slack incoming webhook: one Block Kit message per event."""

    KIND: ClassVar[str] = KIND
    name: str
    webhook: str
    url: str | None = None
    _client: _http.Client = field(default_factory=_http.Client)

    def endpoint(self) -> str:
        """The webhook URL; `url:` replaces its scheme and host (a proxy, a test receiver)
        and keeps its path, which is the webhook's secret."""
        if not self.url:
            return self.webhook
        return _http.join(self.url, _http.split(self.webhook)[1])

    def render(self, message: Message) -> _http.HttpRequest:
        return _http.HttpRequest("POST", self.endpoint(), _http.json_headers(), payload(message))

    def send(self, message: Message, timeout: float) -> Delivery:
        return _http.deliver(self, self._client, message, self.render(message), timeout)

    def secrets(self) -> tuple[str, ...]:
        # the path is the secret; masking it alone keeps the host readable in errors
        path = _http.split(self.webhook)[1]
        return (path if len(path) > 1 else self.webhook,)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"SlackNotifier(name={self.name!r}, webhook='***')"


def from_config(name: str, config: Mapping[str, Any]) -> SlackNotifier:
    return SlackNotifier(name, str(config[KIND]), url=config.get("url"))
