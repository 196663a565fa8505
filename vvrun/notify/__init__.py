"""Notifiers (SPEC §3.8): the explicit registry of kinds, one module each.

    notifier = build("incidents", {"slack": "https://hooks.slack.com/services/..."})
    preview(config, message)              # what would be sent, secrets masked; sends nothing
    Dispatcher(notifiers, on_delivery=...).submit("incidents", message)   # off the caller's path

Importing this package loads no driver: httpx and smtplib are imported when a message is sent.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from vvrun.notify.base import Notifier, one_kind


class _Kinds(Mapping[str, Any]):
    """kind key in `notifiers:` -> its module (KIND, from_config), imported when first used:
    `validate` and `plan` of a runbook with a notify step load no notifier (smtplib, email)."""

    _NAMES = ("slack", "pagerduty", "statuspage", "smtp", "webhook")

    def __getitem__(self, kind: str) -> Any:
        if kind not in self._NAMES:
            raise KeyError(kind)
        return importlib.import_module(f"vvrun.notify.{kind}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._NAMES)

    def __len__(self) -> int:
        return len(self._NAMES)


#: the explicit registry of notifier kinds, one module each (pre-commit's all_languages style)
NOTIFIER_KINDS: Mapping[str, Any] = _Kinds()


def kind_of(name: str, config: Mapping[str, Any]) -> str:
    """The kind key of `notifiers.<name>` (exactly one), or NotifierConfigError."""
    return one_kind(config, NOTIFIER_KINDS, name)


def build(name: str, config: Mapping[str, Any]) -> Notifier:
    """A notifier from its rendered configuration (templates already expanded). Pure."""
    notifier: Notifier = NOTIFIER_KINDS[kind_of(name, config)].from_config(name, config)
    return notifier


def build_all(configs: Mapping[str, Mapping[str, Any]]) -> dict[str, Notifier]:
    return {name: build(name, config) for name, config in configs.items()}
