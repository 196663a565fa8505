"""Previews (what plans show: every message rendered, nothing sent), configuration errors,
and the schema fragments the runbook schema takes in."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.notify_services import message
from vvrun.language.load import load_bytes
from vvrun.language.schema.validator import Validator
from vvrun.notify import build
from vvrun.notify.base import NotifierConfigError
from vvrun.notify.render import preview
from vvrun.notify.schema import NOTIFIERS, NOTIFY_STEP, RUN_NOTIFY

KEY = "R0VTNGKEY0123456789abcdef012345x"
SPEC_EXAMPLE = """
notifiers:
  incidents: {slack: "{{ secrets.slack_webhook }}"}
  oncall:    {pagerduty: "{{ secrets.pd_routing_key }}", severity: critical}
  status:    {statuspage: {page_id: abc123, api_key: "{{ secrets.statuspage_key }}",
                           component: api}}
  email:     {smtp: "smtp://mail.internal:587", from: ops@vocavision.com, to: [eng@vocavision.com]}
  hook:      {webhook: https://hooks.example.com/vvrun}
notify:
  - {on: [started, paused, approval_needed, failed, completed_with_failures, succeeded],
     to: incidents}
  - {on: [failed], to: oncall}
"""


def test_a_preview_renders_the_request_masks_secrets_and_sends_nothing(http_server):
    config = {"pagerduty": KEY, "severity": "critical", "url": http_server.url}
    text = preview(config, message("failed"), name="oncall")
    assert text.startswith(f"→ oncall (pagerduty)\nPOST {http_server.url}/v2/enqueue\n")
    assert '"routing_key": "***"' in text and KEY not in text
    assert '"summary": "db-emergency: failed: Terminated 3 stuck queries"' in text
    assert http_server.requests == []


@pytest.mark.parametrize(("config", "secret"), [
    ({"slack": "https://hooks.slack.com/services/T0/B0/s3cr3tT0k3n"}, "s3cr3tT0k3n"),
    ({"statuspage": {"page_id": "p1", "api_key": "sp-key-123456"}}, "sp-key-123456"),
    ({"webhook": "https://h.example.com/in/tok-98765", "secret": "hmac-k3y"}, "tok-98765"),
    ({"webhook": "https://h.example.com/in", "secret": "hmac-k3y"}, "hmac-k3y"),
    ({"smtp": "smtp://ops:mail-pw-42@mail.internal:587", "from": "ops@example.com",
      "to": "eng@example.com"}, "mail-pw-42"),
])
def test_previews_and_reprs_never_show_secrets(config, secret):
    text = preview(config, message(), name="n")
    assert secret not in text and secret not in repr(build("n", config))


def test_previews_load_no_driver():
    code = textwrap.dedent("""
        import sys
        from vvrun.notify.base import Message
        from vvrun.notify.render import preview
        m = Message("failed", "db", "run-1", "text")
        for config in ({"slack": "https://hooks.slack.com/services/x"}, {"pagerduty": "k"},
                       {"statuspage": {"page_id": "p", "api_key": "k"}},
                       {"smtp": "smtp://m:25", "from": "a@b", "to": "c@d"},
                       {"webhook": "https://h/x"}):
            preview(config, m)
        print(sorted(n for n in ("httpx", "smtplib", "ssl") if n in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("config", "expected"), [
    ({"url": "http://x"}, "notifier 'n' has no kind\n  hint: give exactly one of: slack, "
     "pagerduty, statuspage, smtp, webhook"),
    ({"slack": "a", "webhook": "b"}, "notifier 'n' has several kinds (slack, webhook)"),
    ({"pagerduty": KEY, "severity": "fatal"}, "notifier 'n': severity 'fatal' is not one of "
     "critical, error, warning, info"),
    ({"statuspage": {"page_id": "p"}}, "notifier 'n': statuspage needs page_id and api_key"),
    ({"smtp": "http://mail.internal:587", "from": "a@b", "to": "c@d"},
     "notifier 'n': smtp wants smtp://host:port or smtps://host:port"),
    ({"smtp": "smtp://m:25", "to": "c@d"}, "notifier 'n': smtp needs from and to"),
])
def test_a_bad_configuration_is_one_clear_error(config, expected):
    with pytest.raises(NotifierConfigError) as caught:
        build("n", config)
    assert caught.value.format().startswith(expected)
    assert caught.value.exit_code == 2


def _valid(schema, instance) -> bool:
    import jsonschema

    ours = Validator(schema).is_valid(instance)  # check=True: only keywords it knows
    assert ours == jsonschema.Draft202012Validator(schema).is_valid(instance)
    return ours


def test_the_specs_yaml_fits_the_fragments():
    loaded = load_bytes(SPEC_EXAMPLE.encode(), "spec.yaml")  # vvrun's YAML: `on:` is "on"
    assert loaded.problems == []
    doc = loaded.data
    assert _valid(NOTIFIERS, doc["notifiers"])
    assert _valid(RUN_NOTIFY, doc["notify"])
    for name, config in doc["notifiers"].items():
        build(name, config)  # and each one builds


@pytest.mark.parametrize(("schema", "instance", "ok"), [
    (NOTIFY_STEP, {"to": "incidents", "message": "hi"}, True),
    (NOTIFY_STEP, {"to": ["incidents", "oncall"], "message": "hi", "required": True,
                   "action": "resolve", "severity": "info"}, True),
    (NOTIFY_STEP, {"to": "incidents"}, False),
    (NOTIFY_STEP, {"to": "incidents", "message": "hi", "action": "close"}, False),
    (NOTIFY_STEP, {"to": "incidents", "message": "hi", "mesage": "typo"}, False),
    (RUN_NOTIFY, [{"on": "failed", "to": "oncall", "required": True}], True),
    (RUN_NOTIFY, [{"on": ["exploded"], "to": "oncall"}], False),
    (NOTIFIERS, {"x": {"slack": "u", "pagerduty": "k"}}, False),
    (NOTIFIERS, {"x": {"slack": "u", "severity": "critical"}}, False),
    (NOTIFIERS, {"x": {"pagerduty": "k", "url": "https://events.eu.pagerduty.com"}}, True),
    (NOTIFIERS, {"x": {"smtp": "smtp://m:25", "from": "a@b"}}, False),
    (NOTIFIERS, {"x": {"smtp": "mail:25", "from": "a@b", "to": "c@d"}}, False),
    (NOTIFIERS, {"x": {"smtp": "{{ secrets.smtp }}", "from": "a@b", "to": "c@d"}}, True),
    (NOTIFIERS, {"Bad Name": {"webhook": "https://h"}}, False),
])
def test_the_fragments_accept_and_refuse(schema, instance, ok):
    assert _valid(schema, instance) is ok


def test_rules_route_events_and_success_resolves_incident_notifiers():
    from vvrun.notify import build_all
    from vvrun.notify.events import parse_rules, targets

    notifiers = build_all({"incidents": {"slack": "https://hooks.slack.com/services/x"},
                           "oncall": {"pagerduty": KEY},
                           "status": {"statuspage": {"page_id": "p", "api_key": "k"}}})
    rules = parse_rules([{"on": ["started", "failed"], "to": "incidents"},
                         {"on": "failed", "to": ["oncall", "status"], "required": True}])
    assert [n for n, _ in targets(rules, "started", notifiers)] == ["incidents"]
    failed = targets(rules, "failed", notifiers)
    assert [(n, r.required) for n, r in failed] == [("incidents", False), ("oncall", True),
                                                    ("status", True)]
    assert targets(rules, "succeeded", notifiers) == [("oncall", None), ("status", None)]


def test_a_step_message_carries_the_steps_incident_hints():
    from vvrun.notify.events import event_message, parse_step, step_message

    spec = parse_step({"to": "oncall", "message": "{{ x }}", "action": "acknowledge",
                       "severity": "warning"})
    msg = step_message(spec, text="On it", title=None, runbook="db", run_id="r1", step="ack")
    assert (msg.kind, msg.incident_action(), msg.severity) == ("step", "acknowledge", "warning")
    assert msg.headline() == "db: step ack"
    done = event_message("succeeded", runbook="db", run_id="r1")
    assert (done.text, done.incident_action()) == ("Run r1 succeeded.", "resolve")


def test_the_yaml_examples_in_docs_fit_the_fragments():
    import re
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "notifiers.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    checked = 0
    for block in blocks:
        if block.startswith("  - "):  # a list of steps: the loader wants a mapping on top
            block = "steps:\n" + block
        loaded = load_bytes(block.encode(), "docs/notifiers.md")
        assert loaded.problems == [], block
        data = loaded.data
        items = data if isinstance(data, list) else [data]
        for item in items:
            for name, config in (item.get("notifiers") or {}).items():
                assert _valid(NOTIFIERS, {name: config}), config
                build(name, config)
                checked += 1
            if "notify" in item:
                schema = NOTIFY_STEP if "id" in item else RUN_NOTIFY
                assert _valid(schema, item["notify"]), item["notify"]
                checked += 1
            for step in item.get("steps") or ():
                if "notify" in step:
                    assert _valid(NOTIFY_STEP, step["notify"])
                    checked += 1
    assert checked >= 12
