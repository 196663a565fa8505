"""The generic webhook: the documented JSON of a run event, signed with HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import json

from tests.notify_services import deliver, message
from vvrun.notify import build

SECRET = "whsec-9f8e7d6c5b4a"


def _verify(request) -> bool:
    """What a receiver does: recompute the signature over the raw body, compare in constant
    time."""
    expected = "sha256=" + hmac.new(SECRET.encode(), request["body"],
                                    hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request["headers"]["X-Vvrun-Signature-256"])


def test_posts_the_documented_event_json_signed(http_server):
    http_server.route("POST", "/hooks/vvrun", lambda _r: (204, {}, b""))
    notifier = build("hook", {"webhook": http_server.url + "/hooks/vvrun", "secret": SECRET})
    msg = message("approval_needed", status="paused")
    [delivery] = deliver(notifier, msg)
    assert delivery.ok and delivery.status == 204
    [request] = http_server.requests
    assert _verify(request)
    assert request["headers"]["X-Vvrun-Event"] == "approval_needed"
    assert request["headers"]["X-Vvrun-Delivery"] == msg.id
    assert json.loads(request["body"]) == {
        "event": "approval_needed", "runbook": "db-emergency", "run_id": msg.run_id,
        "text": "Terminated 3 stuck queries", "step": "kill", "status": "paused",
        "operator": "alice", "link": "http://127.0.0.1:8080/runs/20261206-7f3a",
        "action": "trigger", "id": msg.id, "time": msg.time}


def test_a_forged_body_does_not_verify(http_server):
    http_server.route("POST", "/hooks/vvrun", lambda _r: (200, {}, b""))
    deliver(build("hook", {"webhook": http_server.url + "/hooks/vvrun", "secret": SECRET}),
            message())
    [request] = http_server.requests
    forged = dict(request, body=request["body"].replace(b"alice", b"mallory"))
    assert _verify(request) and not _verify(forged)


def test_a_retry_repeats_the_same_delivery_id_and_signature(http_server):
    answers = iter([(500, {}, b"upstream down"), (200, {}, b"")])
    http_server.route("POST", "/hooks/vvrun", lambda _r: next(answers))
    notifier = build("hook", {"webhook": http_server.url + "/hooks/vvrun", "secret": SECRET})
    [delivery] = deliver(notifier, message())
    assert delivery.ok and delivery.attempts == 2
    first, second = http_server.requests
    for header in ("X-Vvrun-Delivery", "X-Vvrun-Signature-256"):
        assert first["headers"][header] == second["headers"][header]
    assert first["body"] == second["body"]


def test_the_url_token_and_secret_stay_out_of_errors_and_repr(http_server):
    path = "/hooks/t0ken-abc123"
    http_server.route("POST", path, lambda r: (410, {}, f"no hook at {r.path}".encode()))
    notifier = build("hook", {"webhook": http_server.url + path, "secret": SECRET})
    [delivery] = deliver(notifier, message())
    assert delivery.status == 410 and "no hook at ***" in delivery.error
    for text in (delivery.error, repr(notifier)):
        assert "t0ken-abc123" not in text and SECRET not in text
