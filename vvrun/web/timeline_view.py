"""A run's audit trail as rows for the page, and the live output from its worker's log."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vvrun.secrets import Masker
from vvrun.text.controls import visible

SHOWN = {"run_started", "step_started", "step_ended", "step_skipped", "confirmed", "approved",
         "approval_requested", "approval_signed", "denied", "acknowledged", "uncertain_settled",
         "run_ended", "lock_broken"}
MAX_ROWS = 50  # of a result table; the rest is counted, not shown


def row(event: Mapping[str, Any], masker: Masker) -> dict[str, Any]:
    """One event, masked, with what the template needs."""
    from vvrun.ui.timeline import describe_event

    data = masker.mask_obj(dict(event.get("data") or {}))
    out = {"n": event.get("n"), "kind": event.get("kind"), "ts": event.get("ts"),
           "operator": masker.mask(str(event.get("operator") or "")), "data": data,
           "text": masker.mask(describe_event(event))}
    result = data.get("result") if isinstance(data.get("result"), dict) else {}
    rows = result.get("rows") if isinstance(result.get("rows"), list) else None
    if rows and isinstance(rows[0], dict):
        columns = list(rows[0])
        out["table"] = {"columns": columns,
                        "rows": [[r.get(c) for c in columns] for r in rows[:MAX_ROWS]],
                        "more": max(0, len(rows) - MAX_ROWS)}
    return out


def rows(events: list[Mapping[str, Any]], masker: Masker) -> list[dict[str, Any]]:
    return [row(e, masker) for e in events if e.get("kind") in SHOWN]


def output_since(path: str, offset: int, masker: Masker, limit: int = 65536
                 ) -> tuple[list[dict[str, str]], int]:
    """Streamed output lines a worker wrote after byte `offset` (whole lines only)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            chunk = fh.read(limit)
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n") + 1
    lines = []
    for raw in chunk[:end].splitlines():
        try:
            event = json.loads(raw)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == "step_output":
            lines.append({"step_id": str(event.get("step_id") or ""),
                          "text": visible(masker.mask(str(event.get("text") or "")))})
    return lines, offset + end
