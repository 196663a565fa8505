"""At a real terminal (tmux): a dangerous loop shows one table of every item and asks once; a
manual field's bad answer is said and asked again (issue 16, item 5)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.test_engine_support import write_runbook
from tests.test_screen_run import Screen, pytestmark, screen  # noqa: F401 (the fixture, skips)

LOOP = """
    version: 1
    name: loop-on-screen
    title: A dangerous loop
    inputs:
      database_url: {type: string, env: DATABASE_URL, secret: true}
      who: {type: list, default: [alice, bob, carol]}
    connections:
      db: {postgres: "{{ inputs.database_url }}"}
    steps:
      - id: drop_sessions
        danger: true
        for_each: inputs.who
        sql: SELECT {{ item }} || '_gone' AS gone
      - id: pick
        manual:
          instructions: Pick the session to look at.
          record:
            - name: who
              choices: >-
                {{ steps.drop_sessions.result['items'] | map(attribute='row')
                | map(attribute='gone') | list }}
"""


def test_one_table_one_question_then_a_bad_answer_is_asked_again(
        tmp_path: Path, screen: Callable[..., Screen]) -> None:  # noqa: F811
    s = screen(write_runbook(tmp_path, LOOP), 100)
    text = s.wait_for("[y/N]")
    assert "dangerous step 'drop_sessions', 3 items, on postgresql://" in text
    for i, name in enumerate(("alice", "bob", "carol")):
        assert f"drop_sessions[{i}] | SELECT $1 || '_gone' AS gone | $1 = '{name}'" in text
    assert text.count("[y/N]") == 1
    assert "Run dangerous step 'drop_sessions' for all 3 items?" in text
    s.send("y", "Enter")
    s.wait_for("Press Enter when it is done")
    s.send("Enter")
    text = s.wait_for("who: ")
    assert "1) alice_gone" in text and "3) carol_gone" in text
    assert text.count("[y/N]") == 1  # the three items ran without another question
    s.send("dave_gone", "Enter")
    s.wait_for("field 'who' must be one of alice_gone, bob_gone, carol_gone, not 'dave_gone'")
    s.send("2", "Enter")
    text = s.finished(0)
    assert "bob_gone" in text.split("not 'dave_gone'")[1]
