"""The table that ends a run: each step's status and duration, then the run's outcome."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vvrun.ui.results import Line
from vvrun.ui.tables import aligned, clip, text_width
from vvrun.ui.values import format_duration

STYLES = {"succeeded": "green", "failed": "red", "skipped": "dim", "paused": "yellow",
          "aborted": "red", "interrupted": "yellow", "uncertain": "yellow",
          "completed_with_failures": "yellow", "pending": "dim"}
ICONS = {"succeeded": "✓", "failed": "✗", "skipped": "↷", "paused": "⏸", "aborted": "■",
         "interrupted": "⚡", "running": "…", "uncertain": "?", "completed_with_failures": "!",
         "pending": "·"}
COLUMNS = ("#", "step", "status", "duration", "note")


def summary_lines(d: Mapping[str, Any], total: float | None, width: int) -> list[Line]:
    """`Summary`, one row per step (a failed step's note is its error's first line, cut to
    the width: the whole error is printed above), and `✓ run ID succeeded in 2 min (exit 0)`."""
    out: list[Line] = []
    steps = d.get("steps") or []
    if steps:
        cells = []
        for i, s in enumerate(steps, 1):
            status = str(s.get("status", ""))
            error = str(s.get("error") or "").strip().splitlines()
            cells.append([str(i), str(s.get("step_id", "")),
                          f"{ICONS.get(status, ' ')} {status}",
                          format_duration(s.get("duration")), error[0] if error else ""])
        # the headers count too: `duration` is wider than `–`, and a note cut to a room
        # computed from the cells alone made the table wider than the terminal
        widths = [max([text_width(COLUMNS[i]), *(text_width(r[i]) for r in cells)])
                  for i in range(4)]
        room = max(10, width - 2 - sum(widths) - 3 * 4)
        for row in cells:
            row[4] = clip(row[4], room)
        lines = aligned(COLUMNS, cells, (True, False, False, True, False))
        out.append(Line("Summary", "bold", 0))
        out += [Line(lines[0], "bold"), Line(lines[1], "dim")]
        for row, text in zip(steps, lines[2:], strict=True):
            out.append(Line(text, STYLES.get(str(row.get("status", "")), "")))
        out.append(Line("", "", 0))
    status = str(d.get("status", ""))
    line = f"{ICONS.get(status, '')} run {d.get('run_id', '')} {status.replace('_', ' ')}"
    if total is not None:
        line += f" in {format_duration(total)}"
    line += f" (exit {d.get('exit_code', 0)})"
    out.append(Line(line, "bold " + STYLES.get(status, ""), 0))
    return out
