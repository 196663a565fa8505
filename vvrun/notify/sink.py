"""The engine's events as run events for notifiers: a sink that wraps the view's sink.

The engine emits `run_started` and `run_ended`; this wrapper passes every event on unchanged
and tells `hooks` which run events (`RUN_EVENTS`) they mean, so the engine itself knows
nothing of notifiers. Deliveries finish on worker threads; `hooks.drain()` records them from
the thread that emits the engine's events (never from a step's worker, whose live output is
not audited), so the audit trail is written from one thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from vvrun.events import Event, Sink

LIVE = frozenset({"step_output", "step_progress"})  # emitted from a step's worker thread
#: how the engine words a pause that waits for an approval (a danger step with nobody to
#: confirm it, or a step short of its `approvers`), as opposed to an answer or a value
APPROVAL_WAITS = ("waits for approvals", "marked danger and waits for a confirmation",
                  "waits for the operator's signed confirmation")


class Hooks(Protocol):
    def drain(self) -> None: ...  # record finished deliveries (the engine's thread)
    def run_event(self, event: str, data: Mapping[str, Any]) -> None: ...
    def ended(self) -> None: ...  # the run ended: wait (bounded) for deliveries, record them


def run_events(event: Event) -> tuple[str, ...]:
    """The run events (`notify:` `on:` words) an engine event means, in order."""
    if event.kind == "run_started":
        return ("started",)
    if event.kind != "run_ended":
        return ()
    status = str(event.data.get("status", ""))
    if status == "paused":
        error = str(event.data.get("error") or "")
        waits = any(w in error for w in APPROVAL_WAITS)
        return ("approval_needed", "paused") if waits else ("paused",)
    if status in ("failed", "succeeded", "completed_with_failures"):
        return (status,)
    return ()  # aborted by the operator, interrupted: nobody is waiting on those


class NotifySink:
    """Passes events to `inner`; turns run starts and ends into notifications."""

    def __init__(self, inner: Sink, hooks: Hooks):
        self.inner = inner
        self.hooks = hooks

    def __getattr__(self, name: str) -> Any:  # the view's extras: pause(), showed_error
        return getattr(self.inner, name)

    def emit(self, event: Event) -> None:
        if event.kind not in LIVE:
            self.hooks.drain()
        self.inner.emit(event)
        for name in run_events(event):
            self.hooks.run_event(name, event.data)
        if event.kind == "run_ended":
            self.hooks.ended()
