"""Display polish found by driving real runs in tmux at narrow and wide widths: what the screen
says while a step is being stopped, how a danger prompt shows its action and parameters, how
inputs, a notifier that is off, long notes and resumed progress read (issue: UI polish)."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import test_screen_run
from tests.test_engine_support import write_runbook
from tests.test_screen_run import Screen

screen = test_screen_run.screen
needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
needs_postgres = test_screen_run.pytestmark[1]

DEAF = """
    version: 1
    name: deaf-{name}
    title: A step that ignores SIGTERM
    steps:
      - id: stub
        grace: 10m
        shell: >-
          python3 -c 'import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN);
          print("ready", flush=True); time.sleep(100)'
"""


@needs_tmux
@pytest.mark.parametrize("width", [60, 200])
def test_the_stop_grace_says_stopping_and_a_second_ctrl_c_ends_it(
        tmp_path: Path, screen: Callable[..., Screen], width: int) -> None:
    s = screen(write_runbook(tmp_path, DEAF.replace("{name}", str(width))), width)
    s.wait_for("│ ready")  # SIGTERM is ignored from here on
    s.send("C-c")
    # the live line says what is going on for the whole grace (ten minutes here)
    text = s.wait_for("stopping… (Ctrl-C again to stop it now)")
    line = next(row for row in s.rows() if "stopping…" in row)
    assert "running stub" not in line and len(line) <= width, line
    assert "(Ctrl-C again to stop it now)" in line  # whole, even at 60 columns
    assert text.count("stopping…") == 1  # one line updated in place, not a line per tick
    s.send("C-c")
    # the second one skips the grace: well inside ten minutes
    text = s.finished(130, timeout=30)
    assert "stopping…" not in text  # the live line is gone with the step
    assert "resume with `vvrun resume" in text


DANGER_LIST = """
    version: 1
    name: danger-list-{name}
    title: A dangerous step with a list parameter
    inputs:
      database_url: {type: string, env: DATABASE_URL, secret: true}
      ids: {type: list, default: [10476, 10477]}
      who: {type: string, default: "o'brien"}
    connections:
      db: {postgres: "{{ inputs.database_url }}"}
    steps:
      - id: purge
        danger: true
        sql: >-
          SELECT count(*) AS gone FROM pg_catalog.pg_class
          WHERE oid = ANY({{ inputs.ids }}) AND relname = {{ inputs.who }}
"""


@needs_tmux
@needs_postgres
@pytest.mark.parametrize("width", [60, 200])
def test_the_danger_prompt_shows_the_sql_and_its_parameters_once_one_way(
        tmp_path: Path, screen: Callable[..., Screen], width: int) -> None:
    s = screen(write_runbook(tmp_path, DANGER_LIST.replace("{name}", str(width))), width)
    text = s.wait_for("[y/N]")
    assert text.count("pg_catalog.pg_class") == 1, text
    assert text.count("$1 = [10476, 10477]") == 1, text
    assert "'[10476" not in text  # a list is not written as the text of one
    assert "$2 = 'o''brien'" in text
    s.send("y", "Enter")
    text = s.finished(0)
    assert "(1 row)" in text


BOOLEANS = """
    version: 1
    name: booleans
    title: Boolean inputs
    inputs:
      flush_all: {type: boolean, default: false}
      edge_delete: {type: boolean, default: true}
    steps:
      - id: say
        shell: echo flush={{ inputs.flush_all }}
"""


@needs_tmux
def test_boolean_inputs_read_as_written(tmp_path: Path,
                                        screen: Callable[..., Screen]) -> None:
    s = screen(write_runbook(tmp_path, BOOLEANS), 80, "--var", "edge_delete=false")
    text = s.finished(0)
    assert "inputs: flush_all=false, edge_delete=false" in text, text


NOTIFY_OFF = """
    version: 1
    name: tell
    title: Notify with the notifier off
    inputs:
      hook: {type: string, default: ""}
    notifiers:
      incidents: {slack: "{{ inputs.hook }}"}
    steps:
      - id: tell
        notify: {to: incidents, message: "Checkout is slow; we are on it"}
"""


@needs_tmux
def test_a_notify_step_whose_notifier_is_off_says_so_in_a_sentence(
        tmp_path: Path, screen: Callable[..., Screen]) -> None:
    s = screen(write_runbook(tmp_path, NOTIFY_OFF), 80)
    text = s.finished(0)
    result = text.split("[1/1] notify tell")[1].split("✓ succeeded")[0]
    assert "not sent to incidents: the notifier is off (its slack is empty)" in result
    assert "message_id" not in text and '"sent"' not in text and "{" not in result
    assert "off for this run: its slack is empty" in text  # the notice, said once


LONG_LINES = """
    version: 1
    name: long-lines
    title: Long notes and errors
    inputs:
      hook: {type: string, default: ""}
    notifiers:
      incidents: {slack: "{{ inputs.hook }}"}
    steps:
      - id: check
        shell: echo 3
        expect:
          - result.stdout | trim == 'the number of replicas that acknowledged the write in time'
"""


@needs_tmux
def test_vvruns_own_lines_fold_at_spaces_at_60_columns(
        tmp_path: Path, screen: Callable[..., Screen]) -> None:
    s = screen(write_runbook(tmp_path, LONG_LINES), 60)
    s.finished(1)
    rows = s._tmux("capture-pane", "-p", "-S", "-200", "-t", s.name).splitlines()
    said = [row for row in rows if "notifier incidents is off" in row]
    assert said and len(said[0].rstrip()) <= 60
    error = "\n".join(rows[next(i for i, r in enumerate(rows) if "✗ failed" in r):])
    for phrase in ("notifier incidents is off for this run: its slack is empty",
                   "the number of replicas that acknowledged the write in time"):
        for word in phrase.split():  # each word whole on one row: none broken by the terminal
            assert any(word in row for row in rows), (word, "\n".join(rows))
    # a continuation hangs under the text, not at the left edge
    assert any(row.startswith("    ") and "replicas" in row for row in error.splitlines())


REDIS_URL = os.environ.get("VVRUN_TEST_REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="VVRUN_TEST_REDIS_URL is not set")

PURGE = """
    version: 1
    name: purge-{prefix}
    title: Delete a cache prefix
    connections:
      cache: {redis: "{{ env.REDIS_URL }}"}
    steps:
      - id: purge
        redis:
          delete_pattern: {pattern: "{prefix}:*", batch: 50, max_per_second: 400}
"""


@needs_tmux
@needs_redis
def test_progress_after_the_uncertain_prompt_is_one_line_updated_in_place(
        tmp_path: Path, screen: Callable[..., Screen]) -> None:
    import redis

    prefix = f"vvrun-polish-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REDIS_URL)
    client.mset({f"{prefix}:k{i}": "x" for i in range(2000)})
    try:
        rb = write_runbook(tmp_path, PURGE.replace("{prefix}", prefix))
        first = screen(rb, 80, "--yes", REDIS_URL=REDIS_URL)
        first.wait_for(f"keys matching {prefix}")  # the live line, counting
        first.send("C-c")
        run_id = re.search(r"run (\S+) · operator", first.finished(130)).group(1)  # type: ignore[union-attr]
        again = screen(("resume", run_id), 80, REDIS_URL=REDIS_URL)
        again.wait_for("Run it again? [y/N]")
        again.send("y", "Enter")
        # the status line is back: a spinner line counting, not a line per count
        after = again.wait_for(lambda t: f"keys matching {prefix}" in t.split("[y/N]")[-1])
        assert "  … deleted" not in after.split("[y/N]")[-1], after
        text = again.finished(0)
        tail = text.split("[y/N]")[-1]
        assert "  … deleted" not in tail and f"keys matching {prefix}" not in tail, tail
        assert "✓ succeeded" in tail and client.exists(f"{prefix}:k1999") == 0
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
