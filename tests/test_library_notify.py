"""Every incident runbook pages on-call when it fails and tells #incidents as it starts and
ends; a real failed run reaches a local Slack and a local PagerDuty."""

from __future__ import annotations

import shutil

import pytest
import yaml
from world.harness import RUNBOOKS, World

from tests.notify_services import PagerDuty, Slack

pytest_plugins = ["world.fixtures"]

PD_KEY = "R0VTNGKEY0123456789abcdef012345x"
INCIDENT = sorted(p.stem for p in RUNBOOKS.glob("*.yaml")
                  if {"incident", "emergency"} & set(yaml.safe_load(p.read_text())["tags"]))


def test_the_incident_runbooks_are_the_seeds() -> None:
    assert set(INCIDENT) >= {"connection-pool-exhausted", "db-emergency", "high-error-rate",
                             "high-response-times", "rollback", "security-breach", "site-down"}


@pytest.mark.parametrize("name", INCIDENT)
def test_incident_runbook_pages_oncall_on_failure(name: str) -> None:
    doc = yaml.safe_load((RUNBOOKS / f"{name}.yaml").read_text())
    assert "pagerduty" in doc["notifiers"]["oncall"]
    assert doc["notifiers"]["oncall"]["severity"] == "critical"
    assert doc["secrets"]["pd_routing_key"] == {"from": "env", "name": "PAGERDUTY_ROUTING_KEY"}
    assert "slack" in doc["notifiers"]["incidents"]
    to = {}
    for rule in doc["notify"]:
        for event in rule.get("on", rule.get(True)):  # YAML 1.1 reads the key `on` as true
            to.setdefault(rule["to"], set()).add(event)
    assert "failed" in to["oncall"]
    assert {"started", "failed", "completed_with_failures", "succeeded"} <= to["incidents"]


def _aimed(world: World, name: str, url: str, *callees: str) -> str:
    """A copy of the runbook (and the runbooks it calls) with its notifiers sent to `url`."""
    for callee in callees:
        shutil.copy(RUNBOOKS / callee, world.tmp / callee)
    text = (RUNBOOKS / f"{name}.yaml").read_text()
    text = text.replace('{slack: "{{ secrets.slack_webhook }}"}',
                        f'{{slack: "{{{{ secrets.slack_webhook }}}}", url: "{url}"}}')
    text = text.replace("source: vocavision-web}", f'source: vocavision-web, url: "{url}"}}')
    path = world.tmp / f"{name}.yaml"
    path.write_text(text)
    return str(path)


def test_high_error_rate_that_stays_high_pages_oncall(world: World, http_server) -> None:
    slack, pd = Slack(http_server), PagerDuty(http_server)
    path = _aimed(world, "high-error-rate", http_server.url, "sli-check.yaml", "rollback.yaml")
    world.sentry.degrade()
    out = world.run(path, app_dir=str(world.tmp), fields={"pattern": "api", "cause": "bug"},
                    env={"SLACK_INCIDENTS_WEBHOOK": slack.webhook,
                         "PAGERDUTY_ROUTING_KEY": PD_KEY})
    assert out.exit_code == 1
    assert "escalate" in (out.error or "")
    assert [e["event_action"] for e in pd.accepted] == ["trigger"]
    assert pd.accepted[0]["payload"]["severity"] == "critical"
    assert pd.accepted[0]["payload"]["source"] == "vocavision-web"
    texts = [b["text"] for b in slack.accepted]
    assert texts[0].startswith("high-error-rate: started") and "failed" in texts[-1]


def test_high_error_rate_that_recovers_pages_nobody(world: World, http_server) -> None:
    slack, pd = Slack(http_server), PagerDuty(http_server)
    path = _aimed(world, "high-error-rate", http_server.url, "sli-check.yaml", "rollback.yaml")
    world.sentry.recover_after(2)  # the hotfix takes effect while the runbook waits
    out = world.run(path, app_dir=str(world.tmp), fields={"pattern": "api", "cause": "bug"},
                    env={"SLACK_INCIDENTS_WEBHOOK": slack.webhook,
                         "PAGERDUTY_ROUTING_KEY": PD_KEY})
    assert out.status == "succeeded", out.error
    # nobody paged: no trigger (a resolve for an incident that was never opened is a no-op)
    assert "trigger" not in [e["event_action"] for e in pd.accepted]
    assert [b["text"].split(":")[1].strip() for b in slack.accepted] == ["started", "succeeded"]
