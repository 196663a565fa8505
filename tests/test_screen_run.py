"""What a person sees at a real terminal: vvrun driven in tmux at 80 and 200 columns against
the real PostgreSQL, read back with `capture-pane` (issue 15)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.test_engine_support import write_runbook

PG_URL = os.environ.get("VVRUN_TEST_POSTGRES_URL", "")
pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.skipif(not PG_URL, reason="VVRUN_TEST_POSTGRES_URL is not set"),
]
ROOT = Path(__file__).resolve().parent.parent


class Screen:
    """One detached tmux session running one command, `width` columns wide."""

    END = "[vvrun exited "  # printed after vvrun, in the same pty: everything before it is drawn

    def __init__(self, tmp_path: Path, command: list[str], width: int, env: dict[str, str]):
        self.name = f"vvrun-{uuid.uuid4().hex[:8]}"
        self.socket = str(tmp_path / f"{self.name}.sock")
        self.done = tmp_path / f"{self.name}.rc"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        script = (f"cd {shlex.quote(str(tmp_path))} && env -i {exports} {shlex.join(command)}; "
                  f"rc=$?; echo $rc > {shlex.quote(str(self.done))}; "
                  f"printf '\\n{self.END}%s]\\n' $rc; sleep 600")
        self._tmux("new-session", "-d", "-s", self.name, "-x", str(width), "-y", "40",
                   "bash", "--norc", "-c", script)

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True,
                              text=True, check=True, timeout=20).stdout

    def text(self) -> str:
        return self._tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", self.name)

    def rows(self) -> list[str]:
        """The pane's rows as drawn (no joining of wrapped lines)."""
        return self._tmux("capture-pane", "-p", "-t", self.name).splitlines()

    def wait_for(self, what: str | Callable[[str], bool], timeout: float = 30.0) -> str:
        test = what if callable(what) else (lambda text: what in text)
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if test(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"not on the screen after {timeout} s: {what!r}\n{text}")
            time.sleep(0.05)  # polling the pane; the condition is what we wait for

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.name, *keys)

    def exit_code(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while not self.done.exists() or not self.done.read_text().strip():
            if time.monotonic() > deadline:
                raise AssertionError(f"vvrun did not end:\n{self.text()}")
            time.sleep(0.05)
        return int(self.done.read_text())

    def finished(self, code: int | None = None, timeout: float = 60.0) -> str:
        """The whole screen once vvrun has exited (and, given `code`, with that exit code).

        Waiting for the summary line is not enough: the error and its hint are printed after
        it, and a pane read between the two misses them."""
        rc = self.exit_code(timeout)
        text = self.wait_for(self.END, timeout)
        if code is not None:
            assert rc == code, f"exit code {rc}, not {code}:\n{text}"
        return text

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True,
                       timeout=20)


def base_env(tmp_path: Path) -> dict[str, str]:
    """What vvrun gets in a pane: a terminal, the test database, its own state and home."""
    return {"PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "HOME": str(tmp_path),
            "PATH": os.environ.get("PATH", ""), "DATABASE_URL": PG_URL,
            "VVRUN_STATE": str(tmp_path / "state.db"), "VVRUN_OPERATOR": "op@test",
            "XDG_STATE_HOME": str(tmp_path / "xdg")}


@pytest.fixture
def screen(tmp_path: Path) -> Iterator[Callable[..., Screen]]:
    opened: list[Screen] = []

    def open_(runbook: Path | tuple[str, ...], width: int, *args: str, **env: str) -> Screen:
        """`vvrun run RUNBOOK ARGS` (or, given a tuple, `vvrun *runbook ARGS`) in a pane."""
        command = ("run", str(runbook)) if isinstance(runbook, Path) else runbook
        s = Screen(tmp_path, [sys.executable, "-m", "vvrun", *command, *args],
                   width, {**base_env(tmp_path), **env})
        opened.append(s)
        return s

    yield open_
    for s in opened:
        s.close()


WIDE = """
    version: 1
    name: wide
    title: A wide result
    inputs:
      database_url: {type: string, env: DATABASE_URL, secret: true}
    connections:
      db: {postgres: "{{ inputs.database_url }}"}
    steps:
      - id: stuck
        sql: >-
          SELECT 4242 AS pid, 'active' AS state,
          'UPDATE accounts SET balance = balance - 10 WHERE id = 7 AND owner = ''alice'' AND
          region = ''eu-west-1'' RETURNING id, balance' AS query,
          1 AS count, 22 AS count, now() - now() AS waited
"""


@pytest.mark.parametrize("width", [80, 200])
def test_a_wide_table_fits_the_terminal(tmp_path: Path, screen: Callable[..., Screen],
                                        width: int) -> None:
    s = screen(write_runbook(tmp_path, WIDE), width)
    text = s.wait_for("run ")
    text = s.finished(0)
    assert all(len(row) <= width for row in s.rows())
    shown = text.split("Summary")[0].split("\n", 5)[-1]  # the step's lines below its header
    assert "…" not in shown  # no value is cut (only the header's title gives way)
    if width == 80:  # psql's expanded display
        assert "-[ RECORD 1 ]-" in text
        block = text[text.index("-[ RECORD 1 ]"):]
        assert "pid    | 4242" in block and "state  | active" in block
        # the query is wrapped at spaces, whole: every word of it is on the screen
        words = " ".join(line.split("| ", 1)[1] for line in block.splitlines()
                         if line.strip().startswith(("query", "|")) and "| " in line)
        assert "RETURNING id, balance" in words and "region = 'eu-west-1'" in words
    else:
        header = next(line for line in text.splitlines() if "| state" in line)
        assert header.split() == ["pid", "|", "state", "|", "query", "|", "count", "|",
                                  "count", "|", "waited"]
        assert "  4242 | active | UPDATE accounts" in text
        # numbers to the right, both `count` columns kept (the first shows `?` until the sql
        # step sends rows by position: a mapping row keeps one value per name)
        assert re.search(r"\| (    1|\?    ) \|    22 \|", text), text


TARGET = """
    version: 1
    name: target
    title: Which database
    inputs:
      database_url: {type: string, env: DATABASE_URL, secret: true}
    connections:
      db: {postgres: "{{ inputs.database_url }}"}
    steps:
      - id: one
        sql: SELECT 1 AS one
"""


@pytest.mark.parametrize("width", [80, 200])
def test_the_target_line_names_the_database_and_masks_only_a_password(
        tmp_path: Path, screen: Callable[..., Screen], width: int) -> None:
    rb = write_runbook(tmp_path, TARGET)
    s = screen(rb, width)
    text = s.finished(0)
    assert _target(text) == PG_URL
    assert "***" not in text.split("inputs:")[1].split("\n", 1)[1]  # only the input is hidden
    # with a password in the URL: everything but the password is shown
    with_pw = PG_URL.replace("@", ":not-the-password@", 1) if "@" in PG_URL \
        else PG_URL.replace("://", "://postgres:not-the-password@", 1)
    other = screen(rb, width, DATABASE_URL=with_pw)
    text = other.finished()
    assert _target(text) == with_pw.replace("not-the-password", "***")
    assert "not-the-password" not in text


def _target(text: str) -> str:
    """The URL of the step's `on …` line (a connection's name may precede it: `on db: URL`)."""
    line = next(ln.strip() for ln in text.splitlines() if ln.strip().startswith("on "))
    return line.removeprefix("on ").split(": ", 1)[-1]


DANGER = """
    version: 1
    name: danger
    title: A dangerous step
    inputs:
      database_url: {type: string, env: DATABASE_URL, secret: true}
      who: {type: string, default: alice}
    connections:
      db: {postgres: "{{ inputs.database_url }}"}
    steps:
      - id: drop_sessions
        danger: true
        sql: SELECT {{ inputs.who }}::text AS victim_of_the_day, pg_sleep(1.5)::text AS slept
"""


@pytest.mark.parametrize("width", [80, 200])
def test_the_danger_prompt_shows_the_action_once(tmp_path: Path, screen: Callable[..., Screen],
                                                 width: int) -> None:
    s = screen(write_runbook(tmp_path, DANGER), width)
    text = s.wait_for("[y/N]")
    assert text.count("victim_of_the_day") == 1
    assert text.count("$1 = 'alice'") == 1
    assert "⚠ DANGER" in text
    s.send("y", "Enter")
    # the long step that follows has its status line back (spinner, elapsed time)
    s.wait_for(lambda t: "running drop_sessions" in t.split("[y/N]")[1])
    text = s.finished(0)
    assert "running drop_sessions" not in text  # gone once the step ended
    assert "victim_of_the_day" in text.split("[y/N]")[1]  # the result's column, after


SLOW = """
    version: 1
    name: slow
    title: A long step
    steps:
      - id: poll
        shell: test -e {flag}
        retry: {attempts: 200, delay: 100ms, until: result.exit_code == 0}
"""


@pytest.mark.parametrize("width", [80, 200])
def test_one_status_line_while_polling_plain_lines_in_a_pipe(
        tmp_path: Path, screen: Callable[..., Screen], width: int) -> None:
    flag = tmp_path / "ready"
    rb = write_runbook(tmp_path, SLOW.replace("{flag}", str(flag)))
    s = screen(rb, width)
    text = s.wait_for(lambda t: "attempt 5" in t)
    assert "↻" not in text  # no line per attempt at a terminal
    status = [line for line in text.splitlines() if "attempt" in line]
    assert len(status) == 1 and "0:00:0" in status[0], text  # spinner line with elapsed time
    flag.touch()
    text = s.finished(0)
    assert "attempt" not in text  # the status line is gone once the step ends
    # not at a terminal: plain lines, one per attempt
    flag.unlink()
    proc = subprocess.Popen([sys.executable, "-m", "vvrun", "run", str(rb)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT),
                                 "VVRUN_STATE": str(tmp_path / "state2.db")})
    assert proc.stdout is not None
    for line in proc.stdout:
        if "↻" in line and "attempt 3" in line:
            flag.touch()
            break
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "\x1b" not in out


TEMPLATE_ERROR = """
    version: 1
    name: tplerr
    title: A template that fails at run time
    steps:
      - id: a
        shell: echo hi
      - id: b
        shell: echo {{ steps.a.result.stdout.nope.deeper }}
"""


def test_a_template_error_is_on_the_screen_once(tmp_path: Path,
                                                screen: Callable[..., Screen]) -> None:
    s = screen(write_runbook(tmp_path, TEMPLATE_ERROR), 80)
    text = s.finished(1)
    assert text.count("has no attribute 'nope'") == 1, text
    assert "Traceback" not in text
