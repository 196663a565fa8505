"""`--output json`: one JSON object per line, `{"event": kind, "ts": ..., **data}`."""

from __future__ import annotations

import json
import threading
from typing import Any, TextIO

from vvrun.events import Event


def _default(value: Any) -> Any:
    """Values JSON has no type for: bytes as text, sets as lists, anything else as its str."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


class JsonSink:
    """Writes each event as one line and flushes it, so a reader sees it at once. Safe to
    call from several threads (a shell step streams stdout and stderr from two)."""

    def __init__(self, file: TextIO):
        self.file = file
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        record = {"event": event.kind, "ts": event.ts, **event.data}
        line = json.dumps(record, default=_default, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self.file.write(line + "\n")
            self.file.flush()
