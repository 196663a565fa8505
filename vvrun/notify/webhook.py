"""A generic webhook: the message's documented JSON (`Message.to_json`, docs/notifiers.md)
POSTed to a URL, optionally signed: `X-Vvrun-Signature-256: sha256=<hex HMAC-SHA256 of the
body with the shared secret>` (GitHub's scheme, so receivers have code for it). The
`X-Vvrun-Delivery` header stays the same across retries, so a receiver can drop repeats."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from vvrun.notify import _http
from vvrun.notify.base import Delivery, Message

KIND = "webhook"
SIGNATURE_HEADER = "X-Vvrun-Signature-256"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(repr=False)
class WebhookNotifier:
    KIND: ClassVar[str] = KIND
    name: str
    target: str
    secret: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    url: str | None = None
    _client: _http.Client = field(default_factory=_http.Client)

    def render(self, message: Message) -> _http.HttpRequest:
        extra = (("X-Vvrun-Event", message.kind), ("X-Vvrun-Delivery", message.id),
                 *self.headers)
        req = _http.HttpRequest("POST", self.url or self.target, _http.json_headers(*extra),
                                message.to_json())
        if self.secret:
            sig = (SIGNATURE_HEADER, signature(self.secret, req.body()))
            req = _http.HttpRequest(req.method, req.url, (*req.headers, sig), req.json_body)
        return req

    def send(self, message: Message, timeout: float) -> Delivery:
        return _http.deliver(self, self._client, message, self.render(message), timeout)

    def secrets(self) -> tuple[str, ...]:
        # a webhook URL often carries its token in the path or query: mask all but the host
        tail = _http.split(self.url or self.target)[1]
        values = [self.secret or "", tail if len(tail) > 1 else ""]
        values += [v for k, v in self.headers if k.lower() in ("authorization", "x-api-key")]
        return tuple(v for v in values if v)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"WebhookNotifier(name={self.name!r}, host={_http.host(self.target)!r})"


def from_config(name: str, config: Mapping[str, Any]) -> WebhookNotifier:
    headers = tuple((str(k), str(v)) for k, v in (config.get("headers") or {}).items())
    return WebhookNotifier(name, str(config[KIND]), secret=config.get("secret"),
                           headers=headers, url=config.get("url"))
