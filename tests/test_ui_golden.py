"""Plain output (a pipe, a log, NO_COLOR) is stable byte for byte: a golden file. After an
intended change, regenerate with `VVRUN_REGEN_GOLDEN=1 pytest tests/test_ui_golden.py` and
review the diff like any other change."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from tests.test_ui_console import SEQUENCE, ended, started
from vvrun.events import Event
from vvrun.ui.console import TerminalSink

GOLDEN = Path(__file__).parent / "golden" / "console.plain.txt"
QUERY = ("UPDATE accounts SET balance = balance - 10 WHERE id = 7 AND owner = 'alice' AND "
         "region = 'eu-west-1' RETURNING id, balance")
MORE = [
    started(1, "wide", "sql", title="Who holds the lock", summary="SELECT …", body="SELECT …",
            language="sql", target="postgresql://ops:***@db.internal:5432/vocavision"),
    ended("wide", result={"columns": ["pid", "query", "count", "count", "since", "waited"],
                          "rows": [{"pid": 4242, "query": QUERY, "count": 2,
                                    "since": "2026-12-06T13:03:11.5-01:00", "waited": 133.0}],
                          "types": ["int4", "text", "int8", "int8", "timestamptz", "interval"],
                          "rowcount": 1, "status": "SELECT 1"}, duration=133.2),
    started(2, "ping", "redis", summary="PING", body="PING"),
    ended("ping", result={"value": True}),
    started(3, "info", "redis", summary="INFO keyspace"),
    ended("info", result={"value": {"db0": {"keys": 12, "expires": 3}}}),
    started(4, "lag", "sql", summary="SELECT lag", body="SELECT lag"),
    Event("step_output", {"step_id": "lag", "stream": "watch",
                          "text": '{"rows": [{"lag": 3}], "status": "SELECT 1"}'}, ts=0.0),
    ended("lag", result={"columns": ["lag"], "rows": [{"lag": 0}], "rowcount": 1}),
]


def _render(width: int | None, interactive: bool) -> str:
    out = io.StringIO()
    sink = TerminalSink(out, color=False, interactive=interactive, width=width)
    for event in [*SEQUENCE[:1], *MORE, *SEQUENCE[1:]]:
        sink.emit(event)
    return out.getvalue()


def test_plain_output_matches_its_golden_file() -> None:
    text = _render(None, False)
    if os.environ.get("VVRUN_REGEN_GOLDEN"):
        GOLDEN.write_text(text)
        pytest.skip("golden file regenerated")
    assert text == GOLDEN.read_text()


def test_no_color_at_a_terminal_is_the_same_plain_text() -> None:
    assert _render(100, True) == GOLDEN.read_text()
