"""Notifications, finishing touches (SPEC §3.8), through `vvrun` as an operator runs it: a plan
shows the run events' messages and sends nothing; a `required` run-event message that is not
delivered fails the command after the run's own outcome is recorded; the terminal says, one
line each, which notifier is off and which delivery failed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.notify_services import Slack
from tests.test_engine_support import write_runbook
from tests.test_run_cli import _env, events, vv

RUNBOOK = """
    version: 1
    name: told
    title: Told
    inputs:
      db: {{default: main}}
    secrets:
      hook: {{from: env, name: TEAM_HOOK}}
    notifiers:
      team: {{slack: "{{{{ secrets.hook }}}}", url: "{url}"}}
    notify:
      - {{on: [started, succeeded, failed], to: team,
          message: "{{{{ run.operator }}}} works on {{{{ inputs.db }}}}", required: {required}}}
    steps:
      - id: one
        shell: echo one
"""


def _runbook(tmp_path: Path, url: str, required: bool = False) -> Path:
    return write_runbook(tmp_path, RUNBOOK.format(url=url, required=str(required).lower()))


def test_a_plan_shows_the_run_events_messages_and_sends_nothing(tmp_path: Path,
                                                                 http_server) -> None:
    slack = Slack(http_server)
    rb = _runbook(tmp_path, http_server.url)
    env = _env(tmp_path, TEAM_HOOK=slack.webhook)
    text = vv(tmp_path, "plan", str(rb), "--var", "db=orders", env=env)
    assert text.returncode == 0, text.stderr
    after = text.stdout.split("On run events (rendered here, sent only by a run):", 1)[1]
    for event in ("started", "succeeded", "failed"):
        assert f"  {event}:\n    → team (slack)" in after
        assert f'"text": "told: {event}: ⟨run.operator⟩ works on orders"' in after
    doc = json.loads(vv(tmp_path, "plan", str(rb), "--format", "json", env=env).stdout)
    planned = doc["runbooks"][0]["notifications"]
    assert [(n["event"], n["notifier"]) for n in planned] == [
        ("started", "team"), ("succeeded", "team"), ("failed", "team")]
    markdown = vv(tmp_path, "plan", str(rb), "--format", "markdown", env=env).stdout
    assert "On run events" in markdown and "told: failed" in markdown
    assert slack.path not in text.stdout + markdown + json.dumps(doc)
    assert http_server.requests == [] and slack.accepted == []


def test_a_required_run_event_that_fails_fails_the_command_after_the_outcome_is_recorded(
        tmp_path: Path, http_server) -> None:
    rb = _runbook(tmp_path, http_server.url, required=True)
    # a webhook Slack does not know: 404 no_service, which no retry can fix
    gone = http_server.url + "/services/T0VVRUN01/B0VVRUN02/g0neW3bh00kT0k3n"
    http_server.route("POST", "/services/T0VVRUN01/B0VVRUN02/g0neW3bh00kT0k3n",
                      lambda _r: (404, {"Content-Type": "text/plain"}, b"no_service"))
    proc = vv(tmp_path, "run", str(rb), env=_env(tmp_path, TEAM_HOOK=gone))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "but a required notification was not delivered" in proc.stderr
    out = proc.stdout
    assert "⚠ notification to team (slack) about started not delivered after 1 attempt" in out
    assert "⚠ required notification to team failed" in out
    assert "g0neW3bh00kT0k3n" not in out + proc.stderr
    run_id = proc.stderr.split("run ", 1)[1].split()[0]
    shown = json.loads(vv(tmp_path, "show", run_id, "--format", "json",
                          env=_env(tmp_path)).stdout)
    assert shown["run"]["status"] == "succeeded"  # the run's own outcome, as it was
    failed = [e["data"] for e in shown["events"] if e["kind"] == "notification_required_failed"]
    assert [f["notifier"] for f in failed] == ["team", "team"]  # started, succeeded
    assert len([r for r in http_server.requests if r["method"] == "POST"]) == 2


def test_the_terminal_says_which_notifier_is_off_in_one_line(tmp_path: Path,
                                                              http_server) -> None:
    rb = _runbook(tmp_path, http_server.url)
    proc = vv(tmp_path, "run", str(rb))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [ln.strip() for ln in proc.stdout.splitlines() if "⚠" in ln]
    assert lines == ["⚠ notifier team is off for this run: secret 'hook': environment variable "
                     "TEAM_HOOK is not set"]
    as_json = vv(tmp_path, "run", str(rb), "--output", "json")
    assert [e["notifier"] for e in events(as_json.stdout) if e["event"] == "notifier_off"] == [
        "team"]
    assert http_server.requests == []
