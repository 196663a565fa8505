"""Key-first lookup (SPEC §4): a mapping's key always wins, no Python method is reachable,
and what the sandbox refuses is a validate error and makes `plan` exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_engine_support import Runner, write_runbook
from vvrun.language.pipeline import check_file
from vvrun.language.templates import Templater, TemplateRenderError

NAMES = """
    version: 1
    name: names
    title: Names that are also Python methods
    inputs:
      keys: {default: "a,b,c"}
      prefix: {default: "cache:"}
    connections:
      db: {postgres: "{{ env.PG_URL }}"}
    steps:
      - id: items
        sql: SELECT 42 AS value, {{ inputs.prefix }}::text AS prefix
        outputs: {n: result.value}
      - id: keys
        shell: echo {{ inputs.keys | split(',') | join(' ') }}
        outputs: {words: result.stdout | split}
      - id: clear
        when: steps.items.outputs.n == 42 and steps['keys'].status == 'succeeded'
        shell: echo {{ steps.items.result.row.prefix }}{{ steps.keys.outputs.words | length }}
        expect: (result.stdout | trim) == 'cache:3'
"""


def test_steps_and_inputs_named_like_dict_methods_work(tmp_path: Path, pg_url: str) -> None:
    out = Runner(environ={"PG_URL": pg_url}).run(write_runbook(tmp_path, NAMES))
    assert out.status == "succeeded", out.result.error
    assert out.step("keys").outputs == {"words": ["a", "b", "c"]}
    assert out.step("clear").result["stdout"].strip() == "cache:3"


@pytest.mark.parametrize(("source", "said"), [
    ("inputs.keys.split(',')", "use `| split(',')`"),
    ("inputs['keys']['upper']", "use `| upper`"),
    ("steps.items.result.rows.append", "Python method of list"),
])
def test_methods_of_values_are_never_reachable(source: str, said: str) -> None:
    tpl = Templater({"inputs": {"keys": "a,b"}, "steps": {"items": {"result": {"rows": []}}}})
    with pytest.raises(TemplateRenderError) as err:
        tpl.expr(source)
    assert said in err.value.message


def test_a_missing_key_names_the_keys_there() -> None:
    with pytest.raises(TemplateRenderError) as err:
        Templater({"inputs": {"keys": 1, "prefix": 2}}).expr("inputs.clear")
    assert "no key 'clear' here (its keys: keys, prefix)" in err.value.message


BAD = """
    version: 1
    name: bad
    title: Bad
    inputs:
      keys: {default: "a,b"}
    steps:
      - id: one
        shell: echo {{ inputs.keys.split(',') | first }}
      - id: two
        when: inputs.__class__
        shell: echo {{ inputs.keys | attr('mro') }}
      - id: three
        shell: echo {{ steps.one.outputs.nothing }} {{ inputs.nokey }}
"""


def test_validate_reports_methods_internals_and_missing_keys(tmp_path: Path) -> None:
    _, problems = check_file(str(write_runbook(tmp_path, BAD)))
    got = {(p.where.line, p.where.step_id, p.code) for p in problems}
    assert got == {(8, "one", "sandbox"), (10, "two", "sandbox"), (11, "two", "sandbox"),
                   (13, "three", "unknown-output"), (13, "three", "unknown-input")}
    one = next(p for p in problems if p.where.step_id == "one")
    assert "`| split(',')`" in one.message and one.where.column == 32


def test_plan_exits_2_on_what_the_sandbox_refuses(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, BAD)
    proc = subprocess.run([sys.executable, "-m", "vvrun", "plan", str(rb)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "'__class__' is refused by the sandbox" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
