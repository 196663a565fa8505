"""The operator's console and the JSON event stream, rendered from whole event sequences."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from vvrun.events import Event
from vvrun.ui.console import MAX_ROWS, TerminalSink, format_duration
from vvrun.ui.events import JsonSink

RUN_STARTED = Event("run_started", {
    "run_id": "20240101-abc", "runbook": "db-emergency", "title": "Database emergency",
    "description": "The database is **unresponsive**.", "operator": "alice@db1",
    "inputs": {"stuck_after": "5 minutes"}, "resumed": False}, ts=1000.0)


def started(index: int, step_id: str, type_: str, **kw: object) -> Event:
    data = {"index": index, "total": 5, "step_id": step_id, "type": type_, "title": None,
            "description": "", "summary": "", "body": "", "language": "text", "target": None,
            "params": (), "danger": False, "attempt": 1}
    data.update(kw)
    return Event("step_started", data)


def ended(step_id: str, status: str = "succeeded", result: dict | None = None,
          duration: float = 0.25, error: str | None = None, **kw: object) -> Event:
    return Event("step_ended", {"step_id": step_id, "status": status, "result": result or {},
                                "outputs": kw.get("outputs", {}), "error": error,
                                "duration": duration})


SEQUENCE = [
    RUN_STARTED,
    started(1, "stuck", "sql", title="Find stuck queries", summary="SELECT pid FROM …",
            body="SELECT pid, ARRAY[1] AS a\nFROM pg_stat_activity\nWHERE age > $1",
            language="sql", target="postgresql://app@db:5432/app", params=("5 minutes",)),
    ended("stuck", result={"columns": ["pid", "query"],
                           "rows": [{"pid": i, "query": None if i == 0 else f"q{i} [b]x[/b]"}
                                    for i in range(30)],
                           "rowcount": 57, "status": "SELECT 57"},
          outputs={"count": 57}, duration=0.0123),
    started(2, "kill", "shell", title="Kill them", summary="pkill -f '[w]orker'",
            body="pkill -f '[w]orker'", language="bash", danger=True,
            notes=("env PGPASSWORD=***",)),
    Event("step_output", {"step_id": "kill", "text": "killed 3 [red]", "stream": "stdout"}),
    Event("step_output", {"step_id": "kill", "text": "pkill: warning", "stream": "stderr"}),
    Event("step_output", {"step_id": "kill", "text": "waiting for workers", "stream": "status"}),
    Event("step_retry", {"step_id": "kill", "attempt": 2, "delay": 2.0,
                         "error": "command exited with 1\n  stderr: x"}),
    ended("kill", result={"exit_code": 0, "stdout": "killed 3", "stderr": ""}, duration=65.2),
    Event("step_skipped", {"step_id": "notify", "reason": "`when` was false"}),
    started(4, "purge", "redis", summary="delete_pattern cache:*"),
    *[Event("step_progress", {"step_id": "purge", "done": d, "total": 1000, "label": "deleted"})
      for d in range(0, 1001, 50)],
    ended("purge", result={"scanned": 1200, "deleted": 1000}, duration=3.0),
    started(5, "health", "http", summary="GET http://api/health",
            body="GET http://api/health\nAccept: application/json", language="http"),
    ended("health", "failed", result={"status": 500, "reason": "Internal Server Error",
                                      "elapsed_ms": 3.2, "url": "http://api/health",
                                      "json": {"error": "db down"}, "text": ""},
          error="test.yaml:9:3: step 'health': GET http://api/health returned 500", duration=0.5),
    Event("run_ended", {
        "run_id": "20240101-abc", "status": "failed", "exit_code": 1, "error": "step 'health'",
        "steps": [{"step_id": "stuck", "status": "succeeded", "duration": 0.0123, "error": None},
                  {"step_id": "kill", "status": "succeeded", "duration": 65.2, "error": None},
                  {"step_id": "notify", "status": "skipped", "duration": None, "error": None},
                  {"step_id": "purge", "status": "succeeded", "duration": 3.0, "error": None},
                  {"step_id": "health", "status": "failed", "duration": 0.5,
                   "error": "GET http://api/health returned 500\nbody: x"}]}, ts=1070.5),
]


def render(events: list[Event], **kw: object) -> str:
    out = io.StringIO()
    sink = TerminalSink(out, **{"color": False, "interactive": False, **kw})  # type: ignore[arg-type]
    for event in events:
        sink.emit(event)
    return out.getvalue()


def test_plain_text_has_no_ansi_and_no_trailing_blanks() -> None:
    text = render(SEQUENCE)
    assert "\x1b" not in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_the_run_header() -> None:
    text = render(SEQUENCE)
    assert "Database emergency (db-emergency)" in text
    assert "run 20240101-abc · operator alice@db1" in text
    assert "The database is unresponsive." in text
    assert "inputs: stuck_after=5 minutes" in text


def test_each_step_announces_itself_with_its_action() -> None:
    text = render(SEQUENCE)
    assert "[1/5] sql stuck — Find stuck queries" in text
    assert "  on postgresql://app@db:5432/app" in text
    assert "    SELECT pid, ARRAY[1] AS a\n    FROM pg_stat_activity\n    WHERE age > $1" in text
    assert "    parameters: $1 = '5 minutes'" in text
    assert "[2/5] shell kill — Kill them  ⚠ DANGER" in text
    assert "    $ pkill -f '[w]orker'" in text  # not taken as rich markup
    assert "    · env PGPASSWORD=***" in text
    assert "[5/5] http health\n    GET http://api/health\n    Accept: application/json" in text


def test_sql_rows_are_a_capped_table() -> None:
    text = render(SEQUENCE)
    assert "pid" in text and "query" in text
    assert "q1 [b]x[/b]" in text
    assert "NULL" in text
    assert f"q{MAX_ROWS - 1} " in text + " " and f"q{MAX_ROWS} " not in text + " "
    assert "… 37 more rows" in text
    assert "(57 rows) SELECT 57" in text
    assert "output count = 57" in text
    assert "✓ succeeded in 12 ms" in text


def test_shell_lines_retry_and_exit_code() -> None:
    text = render(SEQUENCE)
    assert "  │ killed 3 [red]" in text
    assert "  ! pkill: warning" in text
    assert "  … waiting for workers" in text
    assert "  ↻ command exited with 1; attempt 2 in 2 s" in text
    assert "  exit code 0\n  ✓ succeeded in 1 min 05 s" in text


def test_skipped_progress_and_redis() -> None:
    text = render(SEQUENCE)
    assert "↷ notify skipped — `when` was false" in text
    progress = [line for line in text.splitlines() if line.startswith("  … deleted")]
    assert progress == ["  … deleted 0/1000 (0%)", "  … deleted 250/1000 (25%)",
                        "  … deleted 500/1000 (50%)", "  … deleted 750/1000 (75%)",
                        "  … deleted 1000/1000 (100%)"]
    assert "scanned 1200, deleted 1000" in text


def test_http_status_json_excerpt_and_error() -> None:
    text = render(SEQUENCE)
    assert "HTTP 500 Internal Server Error · 3.2 ms · http://api/health" in text
    assert '    {"error": "db down"}' in text
    assert "  ✗ failed in 500 ms\n    test.yaml:9:3: step 'health': GET http://api/health " \
           "returned 500" in text


def test_the_summary_lists_every_step_with_status_and_duration() -> None:
    text = render(SEQUENCE)
    summary = text[text.index("Summary"):]
    assert summary.splitlines()[1:8] == [
        "  # | step   | status      | duration   | note",
        "  --+--------+-------------+------------+-----------------------------------",
        "  1 | stuck  | ✓ succeeded |      12 ms |",
        "  2 | kill   | ✓ succeeded | 1 min 05 s |",
        "  3 | notify | ↷ skipped   |          – |",
        "  4 | purge  | ✓ succeeded |        3 s |",
        "  5 | health | ✗ failed    |     500 ms | GET http://api/health returned 500",
    ]
    assert "✗ run 20240101-abc failed in 1 min 10 s (exit 1)" in summary
    assert "resume with `vvrun resume 20240101-abc`" in summary


def test_paused_run_says_how_to_resume() -> None:
    text = render([RUN_STARTED, Event("run_ended", {
        "run_id": "r1", "status": "paused", "exit_code": 3, "steps": [],
        "error": "waiting for an operator"})])
    assert "⏸ run r1 paused (exit 3)\n  waiting for an operator\n  resume with " \
           "`vvrun resume r1`" in text


def test_long_json_is_an_excerpt() -> None:
    text = render([started(1, "h", "http"), ended("h", result={
        "status": 200, "reason": "OK", "elapsed_ms": 1, "url": "u",
        "json": {"items": list(range(100))}})])
    assert "… 84 more lines" in text


def test_confirm_and_manual_results() -> None:
    text = render([started(1, "c", "confirm"), ended("c", result={"confirmed": True}),
                   started(2, "m", "manual", body="# Escalate\nOpen a **ticket**.",
                           language="markdown", notes=("[ ] paged",)),
                   ended("m", result={"acknowledged": True, "checklist": ["paged"],
                                      "fields": {"ticket": "INC-1"}, "notes": "by phone",
                                      "verified": True})])
    assert "  confirmed\n" in text
    assert "Escalate" in text and "Open a ticket." in text
    assert "    · [ ] paged" in text
    assert "  acknowledged\n    [x] paged\n    ticket = INC-1\n    notes: by phone\n" \
           "    verified" in text


def test_for_each_items_and_watch_redraws() -> None:
    text = render([started(1, "ping[0]", "http", item={"index": 1, "total": 3}),
                   Event("step_output", {"step_id": "ping[0]", "stream": "watch",
                                         "text": "HTTP 200\nok"}, ts=0.0)])
    assert "[1/5] http ping[0] (item 1/3)" in text
    assert "  ⟳\n    HTTP 200\n    ok" in text


def test_interactive_watch_redraws_in_place() -> None:
    out = io.StringIO()
    sink = TerminalSink(out, color=True, interactive=True, width=80)
    sink.emit(started(1, "lag", "sql"))
    for n in (1, 2):
        sink.emit(Event("step_output", {"step_id": "lag", "stream": "watch",
                                        "text": f"lag = {n}"}, ts=1000.0))
    assert sink._live is None and sink._watch is not None
    sink.emit(ended("lag", result={"columns": ["lag"], "rows": [{"lag": 2}], "rowcount": 1}))
    assert sink._watch is None
    assert "lag = 2" in out.getvalue()


def test_unknown_events_are_ignored() -> None:
    assert render([Event("something_new", {"x": 1})]) == ""


def test_color_adds_styles() -> None:
    assert "\x1b[" in render(SEQUENCE, color=True)


def test_interactive_live_status_starts_and_stops() -> None:
    out = io.StringIO()
    sink = TerminalSink(out, color=True, interactive=True, width=80)
    sink.emit(started(1, "purge", "redis", summary="delete_pattern x"))
    assert sink._live is not None
    sink.emit(Event("step_progress", {"step_id": "purge", "done": 5, "total": 10,
                                      "label": "deleting"}))
    sink.emit(Event("step_output", {"step_id": "purge", "text": "a line", "stream": "stdout"}))
    sink.emit(Event("step_output", {"step_id": "purge", "text": "BGSAVE", "stream": "status"}))
    assert sink._live.description == "BGSAVE"
    sink.pause()
    assert sink._live is None
    sink.emit(ended("purge", result={"scanned": 10, "deleted": 10}))
    sink.emit(started(2, "ask", "confirm", summary="Go?"))
    assert sink._live is None  # prompts own the terminal during confirm/manual steps
    text = out.getvalue()
    assert "a line" in text and "deleted 10" in text


def test_format_duration() -> None:
    assert [format_duration(s) for s in (None, 0.0004, 0.5, 2, 12.34, 61, 3725)] == \
        ["–", "0 ms", "500 ms", "2 s", "12 s", "1 min 01 s", "1 h 02 min"]


def test_json_sink_writes_one_flushed_object_per_line() -> None:
    out = io.StringIO()
    sink = JsonSink(out)
    sink.emit(Event("step_started", {"step_id": "x", "params": ("a", 1), "raw": b"\xff"},
                    ts=12.5))
    sink.emit(Event("step_output", {"step_id": "x", "text": "é\nnext"}, ts=13.0))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == {"event": "step_started", "ts": 12.5, "step_id": "x",
                                    "params": ["a", 1], "raw": "\ufffd"}
    assert json.loads(lines[1])["text"] == "é\nnext"


def test_planning_does_not_import_rich() -> None:
    code = ("import sys, io; from vvrun.ui.console import TerminalSink; "
            "from vvrun.ui.events import JsonSink; import vvrun.ui.prompter; "
            "print('rich' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_a_failed_runs_error_is_marked_shown_only_at_a_terminal() -> None:
    # the run command then leaves it out of stderr: the operator read it a line above
    ended = Event("run_ended", {"run_id": "r1", "status": "failed", "exit_code": 1,
                                "steps": [], "error": "x.yaml:3:5: step 'a': boom"}, 1.0)
    for interactive in (True, False):
        out = io.StringIO()
        sink = TerminalSink(out, color=interactive, interactive=interactive, width=80)
        sink.emit(ended)
        assert "step 'a': boom" in out.getvalue()
        assert sink.showed_error is interactive
