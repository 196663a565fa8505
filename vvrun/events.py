"""Events the engine emits; `ui/` renders them (terminal, JSON lines). The engine never prints.

Kinds (data keys):
  run_started (run_id, runbook, title, description, operator, inputs, resumed)
  step_started (index, total, step_id, type, title, description, summary, body, language,
                target, params, danger, attempt)
  step_output (step_id, text, stream)            live shell lines, watch redraws, and
                                                 `stopping` (grace, hurried) after a signal
  step_progress (step_id, done, total, label)    delete_pattern and other long operations
  step_retry (step_id, attempt, delay, error)
  step_ended (step_id, status, result, outputs, error, duration)
  step_skipped (step_id, reason)
  run_ended (run_id, status, exit_code, steps: [{step_id, status, duration, error}], error)
Every value is already masked by the engine's Masker before it reaches a sink.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)
    ts: float = 0.0


class Sink(Protocol):
    def emit(self, event: Event) -> None: ...


class NullSink:
    """Drops every event (benchmarks, embedding the engine without a view)."""

    def emit(self, event: Event) -> None:
        return None


class ListSink:
    """Keeps events in memory (tests, `show`)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]
