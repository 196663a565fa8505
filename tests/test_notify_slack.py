"""Slack incoming webhooks, against a local receiver that checks Slack's request format."""

from __future__ import annotations

from tests.notify_services import Slack, deliver, message
from vvrun.notify import build


def test_posts_text_and_blocks_with_runbook_step_status_operator_link(http_server):
    slack = Slack(http_server)
    notifier = build("incidents", {"slack": slack.webhook})
    [delivery] = deliver(notifier, message("failed", text="Kill <all> & retry"))
    assert delivery.ok and delivery.status == 200 and delivery.attempts == 1
    [body] = slack.accepted
    assert body["text"] == "db-emergency: failed: Kill &lt;all&gt; &amp; retry"
    header, section, facts, context = body["blocks"]
    assert header["text"]["text"] == "db-emergency: failed"
    assert section["text"]["text"] == "Kill &lt;all&gt; &amp; retry"
    assert [f["text"] for f in facts["fields"]] == [
        "*Runbook*\ndb-emergency", "*Step*\nkill", "*Status*\nfailed", "*Operator*\nalice"]
    assert "<http://127.0.0.1:8080/runs/20261206-7f3a|open the run>" in \
        context["elements"][0]["text"]


def test_long_text_is_cut_to_slacks_limits(http_server):
    slack = Slack(http_server)
    notifier = build("incidents", {"slack": slack.webhook})
    [delivery] = deliver(notifier, message("step", text="x" * 5000, title="t" * 400))
    assert delivery.ok, delivery.error
    assert len(slack.accepted[0]["blocks"][0]["text"]["text"]) == 150


def test_url_replaces_scheme_and_host_and_keeps_the_webhook_path(http_server):
    slack = Slack(http_server)
    notifier = build("incidents", {"slack": "https://hooks.slack.com" + slack.path,
                                   "url": http_server.url})
    [delivery] = deliver(notifier, message())
    assert delivery.ok and len(slack.accepted) == 1


def test_an_unknown_webhook_is_a_final_failure_that_does_not_show_the_secret_path(
        http_server):
    slack = Slack(http_server)
    notifier = build("incidents", {"slack": http_server.url + "/services/T0/B0/wrongtoken"})
    [delivery] = deliver(notifier, message())
    assert not delivery.ok and delivery.status == 404 and delivery.attempts == 1
    assert "wrongtoken" not in delivery.error and "/services" not in delivery.error
    assert "slack notifier 'incidents' (127.0.0.1:" in delivery.error
    assert "wrongtoken" not in repr(notifier)
    assert slack.accepted == []
