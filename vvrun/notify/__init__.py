"""Notifiers (SPEC §3.8): the explicit registry of kinds, one module each.

    notifier = build("incidents", {"slack": "https://hooks.slack.com/services/..."})
    preview(config, message)              # what would be sent, secrets masked; sends nothing
    Dispatcher(notifiers, on_delivery=...).submit("incidents", message)   # off the caller's path

Importing this package loads no driver: httpx and smtplib are imported when a message is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vvrun.notify import pagerduty, slack, smtp, statuspage, webhook
from vvrun.notify.base import Notifier, one_kind

#: kind key in `notifiers:` -> its module (each has KIND and from_config(name, config)).
NOTIFIER_KINDS: dict[str, Any] = {m.KIND: m for m in (slack, pagerduty, statuspage, smtp,
                                                      webhook)}


def kind_of(name: str, config: Mapping[str, Any]) -> str:
    """The kind key of `notifiers.<name>` (exactly one), or NotifierConfigError."""
    return one_kind(config, NOTIFIER_KINDS, name)


def build(name: str, config: Mapping[str, Any]) -> Notifier:
    """A notifier from its rendered configuration (templates already expanded). Pure."""
    notifier: Notifier = NOTIFIER_KINDS[kind_of(name, config)].from_config(name, config)
    return notifier


def build_all(configs: Mapping[str, Mapping[str, Any]]) -> dict[str, Notifier]:
    return {name: build(name, config) for name, config in configs.items()}
