"""A value that is one whole `{{ expr }}` keeps its type in structured places (an http `json:`
body): a list stays a list, a number a number; text around it makes it text. Sent to a real
local HTTP server; the plan shows the known value as JSON and an unknown one as ⟨its name⟩."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_engine_support import Runner, write_runbook
from vvrun.language.pipeline import load_runbook
from vvrun.language.templates import Templater
from vvrun.plan import make_plan

RUNBOOK = """
    version: 1
    name: native
    title: Native values in JSON
    inputs:
      teams: {{default: "sre,db"}}
    steps:
      - id: find
        http: {{url: "{url}/ids"}}
        outputs: {{ids: result.json.ids, first: "result.json.ids[0]"}}
      - id: post
        http:
          method: POST
          url: "{url}/hook"
          json:
            ids: "{{{{ steps.find.outputs.ids }}}}"
            count: "{{{{ steps.find.outputs.ids | length }}}}"
            first: "{{{{steps.find.outputs.first}}}}"
            teams: "{{{{ inputs.teams | split(',') }}}}"
            nested: {{all: ["{{{{ steps.find.outputs.ids }}}}", "x"]}}
            said: "ids: {{{{ steps.find.outputs.ids }}}}"
            text: "{{{{ steps.find.outputs.ids | join('-') }}}}"
            flag: "{{{{ steps.find.outputs.ids | length > 2 }}}}"
"""


def test_whole_templates_in_a_json_body_send_native_values(tmp_path: Path, http_server) -> None:
    http_server.json("GET", "/ids", {"ids": [3, 5, 8]})
    http_server.json("POST", "/hook", {"ok": True})
    rb = write_runbook(tmp_path, RUNBOOK.format(url=http_server.url))
    out = Runner().run(rb)
    assert out.status == "succeeded", out.result.error
    posted = [r for r in http_server.requests if r["method"] == "POST"]
    assert len(posted) == 1
    assert json.loads(posted[0]["body"]) == {
        "ids": [3, 5, 8], "count": 3, "first": 3, "teams": ["sre", "db"],
        "nested": {"all": [[3, 5, 8], "x"]}, "said": "ids: [3, 5, 8]", "text": "3-5-8",
        "flag": True}


def test_the_plan_shows_known_values_as_json_and_unknown_ones_by_name(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, RUNBOOK.format(url="http://127.0.0.1:9"))
    plan = make_plan(load_runbook(str(rb)), {"teams": "a,b"}, environ={})
    body = plan.steps[1].body
    shown = json.loads(body.split("\n\n", 1)[1])
    assert shown["teams"] == ["a", "b"]
    assert shown["ids"] == "⟨steps.find.outputs.ids⟩"
    assert shown["said"] == "ids: ⟨steps.find.outputs.ids⟩"


def test_strings_and_secrets_stay_text() -> None:
    tpl = Templater({"inputs": {"s": "5", "n": 5, "none": None}})
    assert tpl.value("{{ inputs.s }}") == "5"  # a string value stays exactly its text
    assert tpl.value("{{ inputs.n }}") == 5
    assert tpl.value(" {{ inputs.n }} ") == 5
    assert tpl.value("{{ inputs.n }}{{ inputs.n }}") == "55"
    assert tpl.value("n={{ inputs.n }}") == "n=5"
    assert tpl.value("{{ inputs.none }}") is None
    assert tpl.value({"a": ["{{ inputs.n + 1 }}"]}) == {"a": [6]}
