"""A called runbook reads its own `secrets:` and tells people through its own `notifiers:`:
fetched by the same providers (a real script here), once a run however often it is called,
masked in the caller's run; its notifier posts to a local Slack receiver."""

from __future__ import annotations

import json
from pathlib import Path

from tests.notify_services import Slack
from tests.test_engine_support import Runner, write_runbook

TOKEN = "callee-t0ken-8f3a1c9e77"  # what the callee's provider script prints
CALLER_TOKEN = "caller-t0ken-55d2b0e1aa"

CALLEE = """
    version: 1
    name: sub
    title: Sub
    secrets:
      token: {{from: command, run: [{script}]}}
      hook: {{from: env, name: SUB_SLACK_HOOK}}
    notifiers:
      team: {{slack: "{{{{ secrets.hook }}}}", url: "{url}"}}
    outputs:
      checked: steps.use.result.stdout
    steps:
      - id: use
        shell:
          run: 'test "$TOKEN" = "{token}" && echo token-ok; echo "leak? $TOKEN" >&2'
          env: {{TOKEN: "{{{{ secrets.token }}}}"}}
      - id: tell
        notify: {{to: team, message: "sub checked its token"}}
"""

CALLER = """
    version: 1
    name: main
    title: Main
    secrets:
      token: {from: env, name: CALLER_TOKEN}
    steps:
      - id: once
        runbook: sub/sub.yaml
      - id: twice
        runbook: sub/sub.yaml
      - id: mine
        shell:
          run: 'test "$T" = "caller-t0ken-55d2b0e1aa" && echo caller-ok'
          env: {T: "{{ secrets.token }}"}
"""


def test_a_called_runbook_reads_its_own_secrets_and_notifies_through_its_own_notifiers(
        tmp_path: Path, http_server) -> None:
    slack = Slack(http_server)
    (tmp_path / "sub").mkdir()
    calls = tmp_path / "calls"
    script = tmp_path / "sub" / "token.sh"
    script.write_text(f"#!/bin/bash\nset -eu\necho x >> {calls}\necho {TOKEN}\n")
    script.chmod(0o700)
    write_runbook(tmp_path, CALLEE.format(script=script, url=http_server.url, token=TOKEN),
                  "sub/sub.yaml")
    rb = write_runbook(tmp_path, CALLER)
    runner = Runner(environ={"SUB_SLACK_HOOK": slack.webhook, "CALLER_TOKEN": CALLER_TOKEN,
                             "PATH": "/usr/bin:/bin"})
    out = runner.run(rb)
    assert out.status == "succeeded", out.result.error
    assert out.step("once").outputs == {"checked": "token-ok"}
    assert out.step("twice.use").result["stdout"] == "token-ok"
    assert out.step("mine").result["stdout"] == "caller-ok"  # the caller's own, after
    assert calls.read_text() == "x\n"  # fetched once for the run, though called twice
    # the callee's notifier posted both times; its deliveries are in the trail, by its name
    assert [b["text"] for b in slack.accepted] == ["sub: step tell: sub checked its token"] * 2
    delivered = [e["data"] for e in out.audit("notification")]
    assert [(d["notifier"], d["ok"]) for d in delivered] == [("sub/team", True)] * 2
    # masked by the run's masker: neither token nor webhook anywhere in events or trail
    shown = json.dumps([dict(e.data) for e in out.sink.events]) + json.dumps(out.audit())
    assert TOKEN not in shown and CALLER_TOKEN not in shown and slack.path not in shown
    assert "leak? ***" in shown  # the callee's secret, masked where the step printed it


def test_a_called_runbooks_notifier_without_its_secret_is_off_and_the_run_goes_on(
        tmp_path: Path, http_server) -> None:
    (tmp_path / "sub").mkdir()
    script = tmp_path / "sub" / "token.sh"
    script.write_text(f"#!/bin/bash\necho {TOKEN}\n")
    script.chmod(0o700)
    write_runbook(tmp_path, CALLEE.format(script=script, url=http_server.url, token=TOKEN),
                  "sub/sub.yaml")
    rb = write_runbook(tmp_path, CALLER)
    out = Runner(environ={"CALLER_TOKEN": CALLER_TOKEN}).run(rb)
    assert out.status == "succeeded", out.result.error
    off = [e["data"] for e in out.audit("notifier_off")]
    assert [(o["notifier"], o["reason"]) for o in off] == [
        ("sub/team", "secret 'hook': environment variable SUB_SLACK_HOOK is not set")]
    assert http_server.requests == []
