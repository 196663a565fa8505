"""Messages as each service will receive them, sent nowhere: what plans show.

`payload` is the request a notifier would make (its URL, headers and JSON body, or the e-mail);
`preview` is that request as text with the notifier's secrets masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vvrun.notify import build
from vvrun.notify.base import Message, Notifier, Rendered


def payload(notifier: Notifier, message: Message) -> Rendered:
    """The request `notifier.send(message)` would make now. Pure: no network, no driver."""
    return notifier.render(message)


def mask_for(notifier: Notifier) -> Any:
    from vvrun.secrets import Masker

    return Masker(notifier.secrets())


def preview(notifier_config: Mapping[str, Any], message: Message, *,
            name: str = "notifier") -> str:
    """`→ name (kind)` and the rendered request, secrets masked; for plans and docs."""
    notifier = build(name, notifier_config)
    return preview_notifier(notifier, message)


def preview_notifier(notifier: Notifier, message: Message) -> str:
    text = payload(notifier, message).preview()
    return mask_for(notifier).mask(f"→ {notifier.name} ({notifier.KIND})\n{text}")
