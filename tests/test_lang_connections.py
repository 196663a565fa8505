"""Connections aimed at what a step found (SPEC §4): opened when a step first needs them."""

from __future__ import annotations

from pathlib import Path

from tests.test_engine_support import Runner, write_runbook
from vvrun.language.pipeline import check_file, load_runbook
from vvrun.plan import make_plan

RB = """
    version: 1
    name: conn-from-step
    title: Connection from a step
    connections:
      primary: {{postgres: "{{{{ steps.find_primary.outputs.url }}}}"}}
    steps:
      - id: find_primary
        shell: echo {url}
        outputs: {{url: result.stdout | trim}}
      - id: ask
        sql: SELECT current_setting('port') AS port, pg_is_in_recovery() AS standby
"""


def test_a_connection_from_a_step_output_is_opened_at_first_use(
        tmp_path: Path, pg_url: str) -> None:
    rb = write_runbook(tmp_path, RB.format(url=pg_url))
    out = Runner().run(rb)
    assert out.status == "succeeded", out.result.error
    from urllib.parse import urlsplit

    assert out.step("ask").result["row"] == {"port": str(urlsplit(pg_url).port or 5432),
                                             "standby": False}


def test_plans_show_the_connection_as_unknown(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, RB.format(url="postgresql://nowhere.invalid/db"))
    plan = make_plan(load_runbook(str(rb)), {}, environ={})
    assert plan.connections[0].target == "⟨steps.find_primary.outputs.url⟩"


def test_validate_checks_the_step_and_output_a_connection_names(tmp_path: Path) -> None:
    text = RB.format(url="x").replace("find_primary.outputs.url", "find_primary.outputs.uri")
    _, problems = check_file(str(write_runbook(tmp_path, text)))
    assert [(p.code, p.where.line) for p in problems] == [("unknown-output", 5)]
    text = RB.format(url="x").replace("steps.find_primary.outputs", "steps.nowhere.outputs")
    _, problems = check_file(str(write_runbook(tmp_path, text, "b.yaml")))
    assert [(p.code, p.where.line) for p in problems] == [("unknown-step", 5)]
