"""The attack: a value from the world carries terminal control sequences — a row in the
database, a command's output, a value templated into the action an operator confirms. On a real
terminal (tmux, read back with capture-pane) it must show as text, never clear the screen, move
the cursor, set the clipboard or fake a prompt. Also the pure function, and `vvrun show`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests import test_screen_run
from tests.test_engine_support import write_runbook
from tests.test_screen_run import Screen
from vvrun.text.controls import visible, visible_obj

screen = test_screen_run.screen
needs_tmux_and_postgres = test_screen_run.pytestmark

HOSTILE = """
    version: 1
    name: hostile
    title: Hostile output
    inputs:
      database_url: {type: string, env: DATABASE_URL, secret: true}
    connections:
      db: {postgres: "{{ inputs.database_url }}"}
    steps:
      - id: first
        shell: echo KEEP-THIS-LINE
      - id: row
        sql: >-
          SELECT E'\\033[2J\\033[HAll good, nothing to see\\033]52;c;cm0gLXJmIH4=\\007'
          AS name
        outputs:
          name: result.value
      - id: change
        danger: true
        shell: "echo changing {{ steps.row.outputs.name }}"
"""


@needs_tmux_and_postgres[0]
@needs_tmux_and_postgres[1]
def test_control_sequences_are_shown_not_obeyed(tmp_path: Path,
                                                 screen: Callable[..., Screen]) -> None:
    s = screen(write_runbook(tmp_path, HOSTILE), 200)
    text = s.wait_for("[y/N]")
    # the screen was not cleared: what came before the hostile row is still there
    assert "KEEP-THIS-LINE" in text
    # and the sequences are on it as text, in the result and in the action to confirm
    assert text.count("\\x1b[2J\\x1b[HAll good") >= 2, text
    assert "\\x1b]52;c;cm0gLXJmIH4=\\a" in text
    s.send("n", "Enter")
    assert s.exit_code() != 0


INVISIBLE = """
    version: 1
    name: invisible
    title: Invisible characters
    inputs:
      database_url: {type: string, env: DATABASE_URL, secret: true}
    connections:
      db: {postgres: "{{ inputs.database_url }}"}
    steps:
      - id: row
        sql: >-
          SELECT U&'us\\200Bers' AS t, U&'a\\200Eb\\2028c\\FEFFd\\200De' AS u
        outputs:
          t: result.rows[0].t
          u: result.rows[0].u
      - id: drop
        danger: true
        shell: "echo dropping {{ steps.row.outputs.t }} {{ steps.row.outputs.u }}"
"""


@needs_tmux_and_postgres[0]
@needs_tmux_and_postgres[1]
def test_characters_that_print_as_nothing_are_shown_in_the_action_to_confirm(
        tmp_path: Path, screen: Callable[..., Screen]) -> None:
    # A table called `us<ZWSP>ers` reads as `users` on a terminal: the operator would confirm
    # an action on a name they cannot see.
    s = screen(write_runbook(tmp_path, INVISIBLE), 200)
    text = s.wait_for("[y/N]")
    assert "us\\u200bers" in text, text
    assert "a\\u200eb\\u2028c\\ufeffd\\u200de" in text, text
    s.send("n", "Enter")
    assert s.exit_code() != 0


def test_visible_escapes_controls_and_keeps_the_rest() -> None:
    assert visible("a\tb\nc") == "a\tb\nc"
    assert visible("\x1b[31mred\x1b[0m\r\x07\x00\x7f\x9b") == \
        "\\x1b[31mred\\x1b[0m\\r\\a\\x00\\x7f\\x9b"
    assert visible("evil\u202eexe.txt") == "evil\\u202eexe.txt"
    assert visible("ünïcødé ✓ 表") == "ünïcødé ✓ 表"
    # characters that print as nothing, and the implicit direction marks
    for hidden in "\u200b\u200e\u200f\u061c\u2028\u2029\u2060\ufeff\xad\u180e":
        assert visible(f"us{hidden}ers") == f"us\\u{ord(hidden):04x}ers".replace(
            "\\u00ad", "\\xad"), hidden
    # the joiners are text in Persian, Indic scripts and emoji, not next to ASCII
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    persian = "\u0645\u06cc\u200c\u0634\u0648\u062f"
    assert visible(family) == family and visible(persian) == persian
    assert visible("us\u200ders") == "us\\u200ders"
    assert visible("\u200cstart end\u200d") == "\\u200cstart end\\u200d"
    assert visible("\U0001f468\u200dx") == "\U0001f468\\u200dx"
    assert visible_obj({"k": ["\x1b", ("x", 1)], "n": None}) == {"k": ["\\x1b", ["x", 1]],
                                                                 "n": None}


def test_show_prints_a_stored_result_without_obeying_it(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: stored
        title: Stored
        steps:
          - id: a
            shell: "printf 'x\\\\033[2Jy' >&2; exit 3"
    """)
    env = {**test_screen_run.base_env(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "vvrun", "run", str(rb), "--output", "json"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr
    run_id = json.loads(run.stdout.splitlines()[0])["run_id"]
    shown = subprocess.run([sys.executable, "-m", "vvrun", "show", run_id], env=env,
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "\x1b[2J" not in shown.stdout and "x\\x1b[2Jy" in shown.stdout
