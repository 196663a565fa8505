"""The Dispatcher: off the caller's path, retried with backoff, outcomes reported, required
deliveries that raise. Real HTTP receivers; no sleeps: tests wait on events and tickets."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.notify_services import FAST, PagerDuty, deliver, message
from vvrun.notify import build
from vvrun.notify.base import NotifierConfigError, NotifyFailed
from vvrun.notify.dispatch import Dispatcher, RetryPolicy

KEY = "R0VTNGKEY0123456789abcdef012345x"


def _hook(url: str, name: str = "hook"):
    return build(name, {"webhook": url + "/hook"})


def test_a_failing_service_is_retried_until_it_answers(http_server):
    answers = iter([(500, {}, b"oops"), (503, {"Retry-After": "0"}, b"busy"), (200, {}, b"")])
    http_server.route("POST", "/hook", lambda _r: next(answers))
    [delivery] = deliver(_hook(http_server.url), message())
    assert delivery.ok and delivery.attempts == 3 and delivery.status == 200
    assert len(http_server.requests) == 3


def test_attempts_are_bounded_and_the_last_error_is_reported(http_server):
    http_server.route("POST", "/hook", lambda _r: (502, {}, b"bad gateway"))
    [delivery] = deliver(_hook(http_server.url), message())
    assert not delivery.ok and delivery.attempts == FAST.attempts
    assert delivery.error.endswith("HTTP 502 bad gateway")
    assert len(http_server.requests) == FAST.attempts


def test_the_total_time_is_bounded_too(http_server):
    http_server.route("POST", "/hook", lambda _r: (500, {}, b""))
    policy = RetryPolicy(attempts=1000, first_delay=0.05, factor=1.0, deadline=0.5, timeout=5)
    [delivery] = deliver(_hook(http_server.url), message(), policy=policy)
    assert not delivery.ok and delivery.attempts < 1000
    assert delivery.attempts == len(http_server.requests)
    assert delivery.seconds <= policy.deadline + policy.timeout


def test_a_refused_connection_is_retried_then_reported():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    [delivery] = deliver(_hook(f"http://127.0.0.1:{port}"), message())
    assert not delivery.ok and delivery.attempts == FAST.attempts
    assert "ConnectError" in delivery.error and "127.0.0.1" in delivery.error


def test_a_receiver_that_never_answers_does_not_hold_up_submit(http_server):
    arrived, release = threading.Event(), threading.Event()

    def hang(_request):
        arrived.set()
        release.wait(30)
        return 200, {}, b""

    http_server.route("POST", "/hook", hang)
    dispatcher = Dispatcher({"hook": _hook(http_server.url)},
                            policy=RetryPolicy(attempts=2, first_delay=0.01, timeout=0.3))
    try:
        ticket = dispatcher.submit("hook", message())
        assert arrived.wait(10)  # the request is in flight, held by the receiver...
        assert not ticket.done()  # ...and submit has long returned
        assert dispatcher.flush(0.01) is False
        delivery = ticket.result(30)
        assert not delivery.ok and delivery.attempts == 2
        assert delivery.error.endswith("no answer within 0.3s")
    finally:
        release.set()
        dispatcher.close()


def test_a_required_delivery_that_fails_raises_a_clear_error(http_server):
    http_server.route("POST", "/v2/enqueue", lambda _r: (400, {}, b'{"status":"invalid event"}'))
    notifier = build("oncall", {"pagerduty": KEY, "url": http_server.url})
    dispatcher = Dispatcher({"oncall": notifier}, policy=FAST)
    ticket = dispatcher.submit("oncall", message(), required=True)
    with pytest.raises(NotifyFailed) as caught:
        ticket.result(30)
    dispatcher.close()
    text = caught.value.format()
    assert text.startswith("required notification to 'oncall' (failed) failed after 1 "
                           "attempt(s): pagerduty notifier 'oncall' (127.0.0.1:")
    assert "HTTP 400" in text and "hint: fix the notifier" in text and KEY not in text


def test_a_required_delivery_that_succeeds_returns_it(http_server):
    PagerDuty(http_server)
    dispatcher = Dispatcher({"oncall": build("oncall", {"pagerduty": KEY,
                                                        "url": http_server.url})}, policy=FAST)
    delivery = dispatcher.submit("oncall", message(), required=True).result(30)
    dispatcher.close()
    assert delivery.ok and delivery.required and delivery.to_dict()["ref"] == message().run_id


def test_messages_to_one_notifier_arrive_in_order(http_server):
    pd = PagerDuty(http_server)
    notifier = build("oncall", {"pagerduty": KEY, "url": http_server.url})
    actions = ["trigger", "acknowledge", "trigger", "resolve"] * 5
    deliver(notifier, *[message("step", action=a) for a in actions])
    assert [e["event_action"] for e in pd.accepted] == actions


def test_a_broken_outcome_callback_does_not_stop_deliveries(http_server):
    http_server.route("POST", "/hook", lambda _r: (200, {}, b""))

    def broken(_delivery):
        raise RuntimeError("audit store is down")

    dispatcher = Dispatcher({"hook": _hook(http_server.url)}, on_delivery=broken, policy=FAST)
    tickets = [dispatcher.submit("hook", message()) for _ in range(3)]
    assert dispatcher.close(30)
    assert all(t.delivery.ok for t in tickets)
    assert dispatcher.callback_errors == ["RuntimeError: audit store is down"] * 3


def test_an_unknown_notifier_is_refused_at_submit():
    dispatcher = Dispatcher({})
    with pytest.raises(NotifierConfigError, match="no notifier named 'pager' \\(declared: "
                       "none\\)"):
        dispatcher.submit("pager", message())


def test_the_engines_mask_applies_to_errors(http_server):
    http_server.route("POST", "/hook", lambda _r: (400, {}, b"db password hunter2 leaked"))
    seen = []
    dispatcher = Dispatcher({"hook": _hook(http_server.url)}, on_delivery=seen.append,
                            policy=FAST, mask=lambda t: t.replace("hunter2", "***"))
    dispatcher.submit("hook", message())
    dispatcher.close(30)
    assert seen[0].error.endswith("db password *** leaked")


@pytest.mark.parametrize("url", ["ftp://files.example.com/hook", "http://[::1/hook",
                                 "⟨secrets.hook_url⟩"])
def test_a_url_that_is_not_http_is_a_final_failure(url):
    [delivery] = deliver(build("hook", {"webhook": url}), message())
    assert not delivery.ok and delivery.attempts == 1
    assert delivery.error.endswith("the URL is not a valid http(s) URL")


def test_every_httpx_error_is_translated():
    """httpx's whole exception tree lands in one of `deliver`'s handlers."""
    import httpx

    handled = (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.TransportError,
               httpx.TimeoutException, httpx.HTTPError)
    public = [getattr(httpx, n) for n in httpx.__all__]
    errors = [e for e in public if isinstance(e, type) and issubclass(e, Exception)]
    # HTTPStatusError is raised only by raise_for_status(), which deliver never calls;
    # StreamError and CookieConflict come from APIs it does not use
    unused = (httpx.HTTPStatusError, httpx.StreamError, httpx.CookieConflict)
    assert [e for e in errors if not issubclass(e, handled + unused)] == []
