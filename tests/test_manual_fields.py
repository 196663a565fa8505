"""Manual fields (SPEC §3.10): choices from an expression over what an earlier step found (the
real PostgreSQL), optional fields, and `resume --ack --field` refusing a value the step would
not accept before the run is touched — as real `vvrun` processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import ScriptedPrompter
from tests.test_engine_support import Runner, write_runbook

PG_URL = os.environ.get("VVRUN_TEST_POSTGRES_URL", "")
REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not PG_URL, reason="VVRUN_TEST_POSTGRES_URL is not set")

BOOK = """
    version: 1
    name: pick-a-pid
    title: Pick a backend
    inputs:
      database_url: {type: string, env: DATABASE_URL, secret: true}
    connections:
      db: {postgres: "{{ inputs.database_url }}"}
    steps:
      - id: stuck
        sql: SELECT * FROM (VALUES (4101), (4102)) AS t(pid)
      - id: choose
        manual:
          instructions: Pick the backend to terminate.
          record:
            - name: pid
              choices: "{{ steps.stuck.result.rows | map(attribute='pid') | list }}"
            - {name: ticket, pattern: "INC-[0-9]+", optional: true}
"""


def _vv(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VVRUN_")}
    env.update({"PYTHONPATH": str(REPO), "HOME": str(tmp), "VVRUN_STATE": str(tmp / "s.db"),
                "DATABASE_URL": PG_URL, "NO_COLOR": "1", "VVRUN_OPERATOR": "op@test"})
    return subprocess.run([sys.executable, "-m", "vvrun", *args], env=env, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=120,
                          check=False)


def test_choices_come_from_the_rows_and_an_optional_field_may_stay_empty(
        tmp_path: Path) -> None:
    book = write_runbook(tmp_path, BOOK)
    prompter = ScriptedPrompter(answers={"pid": ["9999", "4102"], "ticket": ""})
    out = Runner(environ={"DATABASE_URL": PG_URL}).run(book, prompter=prompter)
    assert out.status == "succeeded", out.result.error
    assert out.step("choose").result["fields"] == {"pid": "4102", "ticket": None}
    assert prompter.asked == ["ack", "pid", "pid", "ticket"]  # 9999 was asked again


def test_a_bad_field_on_resume_is_a_usage_error_and_the_run_is_untouched(
        tmp_path: Path) -> None:
    book = write_runbook(tmp_path, BOOK)
    first = _vv(tmp_path, "run", str(book))
    assert first.returncode == 3, first.stdout + first.stderr
    run_id = re.findall(r"run (\S+) paused", first.stdout)[-1]
    before = json.loads(_vv(tmp_path, "show", run_id, "--format", "json").stdout)

    bad = _vv(tmp_path, "resume", run_id, "--ack", "choose", "--field", "pid=9999",
              "--field", "ticket=INC-1")
    assert bad.returncode == 2
    assert ("--field pid: field 'pid' must be one of 4101, 4102, not '9999'" in bad.stderr)
    assert "give one of: 4101, 4102" in bad.stderr
    assert "Traceback" not in bad.stderr
    worse = _vv(tmp_path, "resume", run_id, "--ack", "choose", "--field", "pid=4101",
                "--field", "ticket=12")
    assert worse.returncode == 2
    assert "field 'ticket' must match INC-[0-9]+, not '12'" in worse.stderr
    after = json.loads(_vv(tmp_path, "show", run_id, "--format", "json").stdout)
    assert after["run"]["status"] == before["run"]["status"] == "paused"
    assert len(after["events"]) == len(before["events"])

    good = _vv(tmp_path, "resume", run_id, "--ack", "choose", "--field", "pid=4101")
    assert good.returncode == 0, good.stdout + good.stderr
    done = json.loads(_vv(tmp_path, "show", run_id, "--format", "json").stdout)
    acked = [e for e in done["events"] if e["kind"] == "acknowledged"]
    assert acked[0]["data"]["fields"] == {"pid": "4101", "ticket": None}


def test_validate_refuses_choices_that_are_not_one_expression(tmp_path: Path) -> None:
    book = tmp_path / "bad.yaml"
    book.write_text(textwrap.dedent("""\
        version: 1
        name: bad-choices
        title: Bad choices
        steps:
          - id: choose
            manual:
              instructions: Pick.
              record:
                - {name: pid, choices: "cancel, terminate"}
                - {name: other, choices: "{{ steps.nowhere.result.rows | list }}"}
          - id: each
            confirm_each: true
            shell: echo hi
        """))
    out = _vv(tmp_path, "validate", str(book))
    assert out.returncode == 2
    text = out.stdout + out.stderr
    assert "bad.yaml:9:32: error: `choices` is a list, or one `{{ expression }}` giving a " \
           "list [choose]" in text
    assert "bad.yaml:10:38: error: unknown step 'nowhere' [choose]" in text
    assert "bad.yaml:12:5: error: `confirm_each` asks before each item of a dangerous loop; " \
           "this step needs `danger: true` and `for_each` [each]" in text
