"""The pure parts of the display polish (tests/test_screen_polish.py drives the whole at a
terminal): the stopping line, parameters written one way, already-shown detection."""

from __future__ import annotations

import io
import threading

import pytest

from tests.test_ui_console import render, started
from vvrun.engine.context import describe_dict
from vvrun.engine.worker import Renewer, run_in_worker
from vvrun.events import Event
from vvrun.secrets import Masker
from vvrun.steps.base import Description
from vvrun.ui.console import TerminalSink
from vvrun.ui.items import items_table
from vvrun.ui.live import stopping_text
from vvrun.ui.values import param_text, parameters

# -- 1. the stop grace --------------------------------------------------------------------------


def test_stopping_text_fits_beside_the_spinner_and_states_the_grace_in_a_log() -> None:
    live = stopping_text(False, None)
    assert live == "stopping… (Ctrl-C again to stop it now)" and len(live) <= 45
    assert stopping_text(True, None) == stopping_text(True, 5.0) == "stopping now…"
    assert "up to 5 s" in stopping_text(False, 5.0)


def test_the_live_line_and_a_log_say_the_step_is_stopping() -> None:
    out = io.StringIO()
    sink = TerminalSink(out, color=True, interactive=True, width=60)
    sink.emit(started(1, "stub", "shell", summary="sleep 100"))
    assert sink._live is not None and sink._live.description == "running stub"
    sink.emit(Event("step_output", {"step_id": "stub", "stream": "stopping", "text": "x",
                                    "grace": 5.0, "hurried": False}))
    assert sink._live.description == "stopping… (Ctrl-C again to stop it now)"
    sink.emit(Event("step_output", {"step_id": "stub", "stream": "stopping", "text": "x",
                                    "grace": 5.0, "hurried": True}))
    assert sink._live.description == "stopping now…"
    sink.pause()
    text = render([started(1, "stub", "shell", summary="sleep 100"),
                   Event("step_output", {"step_id": "stub", "stream": "stopping",
                                         "text": "x", "grace": 2.5, "hurried": False})])
    assert "  … stopping: up to 2.5 s for it to end (Ctrl-C again" in text


def test_the_worker_tells_when_it_stops_a_step_and_when_it_is_hurried() -> None:
    """A KeyboardInterrupt in the main thread while the step runs: `stopping(False)`; the
    hurry event (a second signal): `stopping(True)`, once."""
    told: list[bool] = []
    cancel, hurry, release = threading.Event(), threading.Event(), threading.Event()

    def step() -> None:
        import _thread

        _thread.interrupt_main()  # Ctrl-C, once the step runs
        cancel.wait(10)
        hurry.wait(10)
        release.wait(10)
        raise RuntimeError("stopped")

    def stopping(hurried: bool) -> None:
        told.append(hurried)
        if not hurried:
            hurry.set()  # as the edge's handler does on the second Ctrl-C
        else:
            release.set()

    with pytest.raises(KeyboardInterrupt):
        run_in_worker(step, cancel, Renewer(lambda: None, 60), hurry=hurry, grace=5,
                      stopping=stopping)
    assert told == [False, True]


# -- 2. parameters one way, the action once -----------------------------------------------------


def test_param_text_writes_values_as_plans_do() -> None:
    assert param_text([10476, 10477]) == "[10476, 10477]"
    assert param_text("[10476, 10477]") == "'[10476, 10477]'"  # a string stays one
    assert param_text("o'brien") == "'o''brien'"
    assert [param_text(v) for v in (None, True, False, 3, 1.5)] == [
        "NULL", "true", "false", "3", "1.5"]
    assert param_text({"a": 1}) == '{"a": 1}'


def test_events_carry_each_parameter_written_as_itself_and_masked() -> None:
    masker = Masker()
    masker.add("hunter2")
    shown = describe_dict(Description(summary="DELETE", body="DELETE … ANY($1) $2 $3",
                                      params=([10476, 10477], "x hunter2", ["hunter2"])), masker)
    assert shown["params"][0] == "[10476, 10477]"  # unchanged: the action hash reads it
    assert shown["param_texts"] == ["[10476, 10477]", "'x ***'", "['***']"]
    assert parameters(shown) == ("parameters: $1 = [10476, 10477], $2 = 'x ***', "
                                 "$3 = ['***']")
    assert parameters({"params": ["alice", None]}) == "parameters: $1 = 'alice', $2 = NULL"
    assert parameters({"params": []}) == ""


def test_header_items_table_and_prompt_write_parameters_alike() -> None:
    shown = {"summary": "DELETE", "body": "DELETE … ANY($1)", "params": ["[1, 2]"],
             "param_texts": ["[1, 2]"], "target": "db"}
    text = render([started(1, "purge", "sql", **shown)])
    assert "parameters: $1 = [1, 2]" in text and "'[1, 2]'" not in text
    table = items_table("purge", [("a", shown), ("b", shown)])
    assert "$1 = [1, 2]" in table and "'[1, 2]'" not in table


def test_a_prompt_detail_is_shown_when_it_says_the_same_parameters_another_way() -> None:
    sink = TerminalSink(io.StringIO(), color=False, interactive=False, width=80)
    sink.emit(started(1, "purge", "sql", summary="DELETE x", body="DELETE x",
                      params=["o'brien"], param_texts=["'o''brien'"], target="db"))
    # engine/approval.py writes the detail with repr(): the same action, said differently
    assert sink.already_shown("DELETE x\nparameters: $1 = \"o'brien\"\non db")
    assert not sink.already_shown("DELETE y\nparameters: $1 = \"o'brien\"\non db")
    sink.emit(started(2, "other", "sql", summary="SELECT 1", body="SELECT 1", target="db"))
    assert not sink.already_shown("SELECT 1\nparameters: $1 = 1\non db")  # none shown


# -- 3. booleans as the runbook's author wrote them ---------------------------------------------


def test_inputs_outputs_and_fields_write_booleans_as_yaml_does() -> None:
    from vvrun.ui.values import cell, short

    assert short(False) == "false" and short(True) == "true"
    assert short([True, None]) == "[true, null]"
    assert cell(False) == "f"  # a query's table cell still reads as psql shows it
    text = render([Event("run_started", {"run_id": "r", "runbook": "x", "title": "X",
                                         "inputs": {"flush_all": False, "edge_delete": True,
                                                    "n": 3}})])
    assert "inputs: flush_all=false, edge_delete=true, n=3" in text


# -- 4. a notify step's result is sentences ------------------------------------------------------


def test_a_notify_result_says_what_was_sent_and_what_was_not() -> None:
    from vvrun.ui.results import result_lines

    def texts(r: dict) -> list[str]:
        return [ln.text for ln in result_lines("notify", r, 80)]

    off = {"sent": [], "off": {"incidents": "notifier 'incidents' is off: its slack is empty",
                               "pager": "no notifier named 'pager' is declared"},
           "deliveries": [], "message_id": "abc"}
    assert texts(off) == [
        "not sent to incidents: the notifier is off (its slack is empty)",
        "not sent to pager: no notifier named 'pager' is declared"]
    sent = {"sent": ["a", "b", "c"], "off": {}, "message_id": "x", "deliveries": [
        {"notifier": "a", "kind": "slack", "ok": True},
        {"notifier": "b", "kind": "webhook", "ok": False, "error": "HTTP 500"}]}
    assert texts(sent) == ["delivered to a (slack)", "not delivered to b: HTTP 500",
                           "sending to c in the background"]
    text = render([started(1, "tell", "notify", summary="notify incidents: hi"),
                   Event("step_ended", {"step_id": "tell", "status": "succeeded",
                                        "result": off, "duration": 0.01})])
    assert "message_id" not in text and "{" not in text


# -- 5. vvrun's own lines fold at spaces at a terminal -----------------------------------------


def test_fold_breaks_at_spaces_and_hangs_under_the_text() -> None:
    from vvrun.ui.tables import fold

    assert fold("short", 60) == ["short"]
    assert fold("  ⚠ notification to incidents not delivered after 3 attempts", 30) == [
        "  ⚠ notification to incidents", "    not delivered after 3", "    attempts"]
    assert fold("hint: resume with `vvrun resume 261207-062240-abfb` now", 36) == [
        "hint: resume with `vvrun resume", "      261207-062240-abfb` now"]
    long_word = "x" * 50
    assert fold(f"a {long_word} b", 30) == ["a", long_word, "b"]  # whole, never cut


def test_only_a_terminal_gets_folded_lines_and_command_output_never() -> None:
    note = " ".join(["at most 2000 keys/s"] * 5)
    events = [started(1, "purge", "shell", summary="x"),
              Event("step_output", {"step_id": "purge", "text": note, "stream": "stdout"}),
              Event("step_ended", {"step_id": "purge", "status": "failed", "result": {},
                                   "error": note, "duration": 0.1})]
    log = render(events, width=60)
    assert f"    {note}" in log  # a log keeps each line whole, for grep
    out = io.StringIO()
    sink = TerminalSink(out, color=False, interactive=True, width=60)
    for event in events:
        sink.emit(event)
    lines = out.getvalue().splitlines()
    assert f"  │ {note}" in lines  # the command's own line, as it came
    error = lines[next(i for i, ln in enumerate(lines) if "✗ failed" in ln) + 1:]
    assert len(error) > 1 and all(len(ln) <= 60 and ln.startswith("    ") for ln in error)
    assert " ".join(ln.strip() for ln in error) == note  # broken only at spaces


# -- 6. the live line comes back after a prompt -------------------------------------------------


def test_the_status_line_comes_back_after_a_prompt_and_not_after_the_step() -> None:
    sink = TerminalSink(io.StringIO(), color=True, interactive=True, width=80)
    sink.emit(started(1, "purge", "redis", summary="delete_pattern x:*"))
    sink.pause()  # the uncertain prompt put it away
    sink.emit(Event("uncertain_settled", {"step_id": "purge", "decision": "rerun"}))
    assert sink._live is not None and sink._live.description == "running purge"
    sink.pause()  # a note, or a prompt the sink has no event for: progress brings it back
    sink.emit(Event("step_progress", {"step_id": "purge", "done": 200, "total": None,
                                      "label": "deleted 200 keys matching x:*"}))
    assert sink._live is not None and sink._live.description == "deleted 200 keys matching x:*"
    sink.emit(Event("step_ended", {"step_id": "purge", "status": "succeeded",
                                   "result": {"scanned": 200, "deleted": 200}}))
    sink.emit(Event("step_progress", {"step_id": "purge", "done": 1, "total": None}))
    assert sink._live is None  # a late event does not bring back an ended step's line
    sink.emit(started(2, "again", "redis", summary="DEL y"))
    sink.pause()
    sink.emit(Event("uncertain_settled", {"step_id": "again", "decision": "done"}))
    assert sink._live is None  # taken as done: it will not run
