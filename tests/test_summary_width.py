"""The table that ends a run fits the terminal it is printed on: a long note (an error's first
line) is cut to the room the other columns leave, headers included."""

from __future__ import annotations

import pytest

from vvrun.ui.summary import summary_lines
from vvrun.ui.tables import text_width


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_summary_is_never_wider_than_the_terminal(width: int) -> None:
    note = ("the query was cancelled on the server (SIGTERM); nothing of this step was "
            "committed unless it ran in autocommit and had already finished " * 2)
    d = {"run_id": "261207-060000-abcd", "status": "interrupted", "exit_code": 143,
         "steps": [{"step_id": "pgnap", "status": "interrupted", "duration": None,
                    "error": note},
                   {"step_id": "a", "status": "pending", "duration": None, "error": None}]}
    printed = summary_lines(d, 3.2, width)
    lines = [line.text for line in printed]
    assert max(line.indent + text_width(line.text) for line in printed) <= width, (
        "\n".join(lines))
    assert any(t.startswith("# | step") for t in lines)
    assert any("pgnap" in t and "…" in t for t in lines)  # the note was cut, not wrapped
