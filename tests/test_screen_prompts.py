"""Prompts as a person meets them at a real terminal (tmux): Ctrl-C at a question means "not
started", an approval is bound to the execution it approved, a wrong answer is asked again;
and what the engine sends the status line and `watch` (issue 15, items 6-10)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from tests import test_screen_run
from tests.test_engine_support import write_runbook
from tests.test_screen_run import Screen

pytestmark = test_screen_run.pytestmark  # tmux and the test database
screen = test_screen_run.screen  # the fixture: vvrun in a tmux pane

DANGER = """
    version: 1
    name: careful
    title: A careful change
    steps:
      - id: change
        title: Change the thing
        danger: true
        shell: test -e {flag} && echo changed
"""


def _run_id(text: str) -> str:
    found = re.search(r"run (\d{6}-\d{6}-\w+)", text)
    assert found, text
    return found.group(1)


def test_ctrl_c_at_a_prompt_means_not_started(tmp_path: Path,
                                              screen: Callable[..., Screen]) -> None:
    flag = tmp_path / "flag"
    flag.touch()
    rb = write_runbook(tmp_path, DANGER.replace("{flag}", str(flag)))
    s = screen(rb, 80)
    text = s.wait_for("[y/N]")
    s.send("C-c")
    text = s.finished(130)
    after = text.split("[y/N]")[1]
    assert "did not start" in after and "· not started" in after, after
    assert "changed" not in after  # the command never ran
    run_id = _run_id(text)
    # the resume asks the same question again, and does not wonder whether it took effect
    again = screen(("resume", run_id), 80)
    text = again.wait_for("[y/N]")
    assert "cannot know" not in text and "in flight" not in text
    again.send("y", "Enter")
    text = again.finished(0)
    assert "changed" in text.split("[y/N]")[1]


def test_a_failed_danger_step_asks_again_on_resume(tmp_path: Path,
                                                   screen: Callable[..., Screen]) -> None:
    flag = tmp_path / "flag"
    rb = write_runbook(tmp_path, DANGER.replace("{flag}", str(flag)))
    s = screen(rb, 80)
    s.wait_for("[y/N]")
    s.send("y", "Enter")
    text = s.finished(1)
    flag.touch()
    again = screen(("resume", _run_id(text)), 80)
    text = again.wait_for("[y/N]")  # the old yes approved the execution that failed
    again.send("y", "Enter")
    again.finished(0)


def test_a_wrong_answer_is_asked_again(tmp_path: Path, screen: Callable[..., Screen]) -> None:
    flag = tmp_path / "flag"
    flag.touch()
    s = screen(write_runbook(tmp_path, DANGER.replace("{flag}", str(flag))), 80)
    s.wait_for("[y/N]")
    s.send("maybe", "Enter")
    text = s.wait_for("Please answer y or n.")
    assert text.count("[y/N]") == 2  # asked again, the run still waits
    s.send("y", "Enter")
    s.finished(0)


NESTED = """
    version: 1
    name: nested
    title: Steps in a group
    steps:
      - id: first
        shell: echo one
      - id: grouped
        steps:
          - id: inner_a
            shell: echo a
          - id: inner_b
            shell: echo b
"""


def test_steps_in_a_group_are_numbered_as_in_plans(tmp_path: Path,
                                                   screen: Callable[..., Screen]) -> None:
    s = screen(write_runbook(tmp_path, NESTED), 80)
    text = s.finished(0)
    assert "[1/2] shell first" in text
    assert "[2.1] shell grouped.inner_a" in text, text
    assert "[2.2] shell grouped.inner_b" in text


WATCH = """
    version: 1
    name: watcher
    title: Watch a table
    inputs:
      database_url: {type: string, env: DATABASE_URL, secret: true}
    connections:
      db: {postgres: "{{ inputs.database_url }}"}
    steps:
      - id: sessions
        watch: 300ms
        sql: SELECT 'idle' AS state, 3 AS sessions, interval '133 seconds' AS oldest
"""


def test_watch_redraws_a_table_in_place(tmp_path: Path, screen: Callable[..., Screen]) -> None:
    s = screen(write_runbook(tmp_path, WATCH), 80)
    text = s.wait_for("Enter to stop watching")
    assert re.search(r"state\s+\|\s+sessions\s+\|\s+oldest", text), text
    assert "2 min 13 s" in text  # the interval as people write it, not 133.0
    assert '{"rows"' not in text  # a table, not JSON
    s.send("Enter")
    text = s.finished(0)
    # redrawn in place, not appended; the last redraw is the result (not printed twice)
    assert text.count("Enter to stop watching") == 1, text
    assert text.count("2 min 13 s") == 1, text


def test_polling_counts_attempts_out_of_the_total(tmp_path: Path,
                                                  screen: Callable[..., Screen]) -> None:
    flag = tmp_path / "ready"
    s = screen(write_runbook(tmp_path, f"""
        version: 1
        name: poll
        title: Poll
        steps:
          - id: wait_ready
            shell: test -e {flag}
            retry: {{attempts: 300, delay: 100ms, until: result.exit_code == 0}}
    """), 80)
    text = s.wait_for(lambda t: re.search(r"attempt [3-9]/300", t) is not None)
    assert len([ln for ln in text.splitlines() if "/300" in ln]) == 1, text
    flag.touch()
    s.finished(0)


def test_ctrl_c_at_a_confirm_step_asks_it_again_on_resume(
        tmp_path: Path, screen: Callable[..., Screen]) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: gate
        title: A gate
        steps:
          - id: go
            confirm: Traffic drained?
          - id: after
            shell: echo through the gate
    """)
    s = screen(rb, 80)
    text = s.wait_for("Traffic drained? [y/N]")
    s.send("C-c")
    text = s.finished(130)
    assert "did not start" in text and "through the gate" not in text
    again = screen(("resume", _run_id(text)), 80)
    text = again.wait_for("Traffic drained? [y/N]")
    assert "cannot know" not in text
    again.send("y", "Enter")
    text = again.finished(0)
    assert "through the gate" in text
