"""A notifier from its rendered configuration, or why it is off for this run.

A notifier whose address renders empty (`slack: "{{ env.SLACK_WEBHOOK_URL | default('') }}"`
with the variable unset) is *off*: the run goes on and says so, as an operator rehearsing
without Slack expects. Everything else wrong with it is the library's `NotifierConfigError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vvrun.notify import NOTIFIER_KINDS, build, kind_of
from vvrun.notify.base import Notifier, NotifierConfigError


class NotifierOff(NotifierConfigError):
    """A notifier's address or key rendered empty: nothing is sent through it this run."""


def configured(name: str, rendered: Mapping[str, Any]) -> Notifier:
    kind = kind_of(name, rendered)
    value = rendered[kind]
    address = value.get("api_key") if isinstance(value, Mapping) else value
    if address is None or not str(address).strip():
        what = "api_key" if isinstance(value, Mapping) else kind
        raise NotifierOff(f"notifier '{name}' is off: its {what} is empty",
                          hint="set the secret or variable it comes from to send through it")
    assert kind in NOTIFIER_KINDS
    return build(name, rendered)
