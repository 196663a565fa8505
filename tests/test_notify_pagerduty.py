"""PagerDuty Events API v2, against a local receiver that checks the documented event schema."""

from __future__ import annotations

import json

from tests.notify_services import PagerDuty, deliver, message
from vvrun.notify import build

KEY = "R0VTNGKEY0123456789abcdef012345x"  # routing keys are 32 characters


def test_a_run_triggers_acknowledges_and_resolves_one_incident_keyed_by_its_run_id(
        http_server):
    pd = PagerDuty(http_server)
    notifier = build("oncall", {"pagerduty": KEY, "severity": "critical",
                                "url": http_server.url})
    out = deliver(notifier, message("failed"), message("step", action="acknowledge"),
                  message("succeeded"))
    assert [d.ok for d in out] == [True, True, True], [d.error for d in out]
    assert [d.status for d in out] == [202, 202, 202]
    run_id = message().run_id
    assert {d.ref for d in out} == {run_id}
    assert [e["event_action"] for e in pd.accepted] == ["trigger", "acknowledge", "resolve"]
    assert pd.incidents == {run_id: "resolved"}
    trigger = pd.accepted[0]
    assert trigger["routing_key"] == KEY and trigger["dedup_key"] == run_id
    payload = trigger["payload"]
    assert payload["severity"] == "critical" and payload["source"] == "db-emergency"
    assert payload["summary"] == "db-emergency: failed: Terminated 3 stuck queries"
    assert payload["custom_details"] == {
        "runbook": "db-emergency", "run_id": run_id, "event": "failed", "step": "kill",
        "status": "failed", "operator": "alice", "message": "Terminated 3 stuck queries"}
    assert trigger["links"][0]["href"] == "http://127.0.0.1:8080/runs/20261206-7f3a"
    assert "payload" not in pd.accepted[2]


def test_a_message_severity_overrides_the_notifiers(http_server):
    pd = PagerDuty(http_server)
    notifier = build("oncall", {"pagerduty": KEY, "url": http_server.url})
    deliver(notifier, message("step", severity="warning"))
    assert pd.accepted[0]["payload"]["severity"] == "warning"


def test_an_invalid_event_is_refused_once_and_the_echoed_key_is_masked(http_server):
    bad_key = "too-short-routing-key"

    def echo(request):  # a service that quotes the request in its error: an attack on logs
        body = {"status": "invalid event", "message": "Event object is invalid",
                "errors": [f"bad event {request.body.decode()}"]}
        return 400, {"Content-Type": "application/json"}, json.dumps(body).encode()

    http_server.route("POST", "/v2/enqueue", echo)
    notifier = build("oncall", {"pagerduty": bad_key, "url": http_server.url})
    [delivery] = deliver(notifier, message())
    assert not delivery.ok and delivery.status == 400 and delivery.attempts == 1
    assert "Event object is invalid" in delivery.error
    assert bad_key not in delivery.error and "***" in delivery.error
    assert bad_key not in repr(notifier)


def test_the_receiver_refuses_what_pagerduty_refuses(http_server):
    pd = PagerDuty(http_server)
    notifier = build("oncall", {"pagerduty": "short", "url": http_server.url})
    [delivery] = deliver(notifier, message())
    assert delivery.status == 400 and "should be 32 characters" in delivery.error
    assert pd.accepted == []
