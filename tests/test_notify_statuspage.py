"""Atlassian Statuspage, against a local receiver that checks the incident API's requests."""

from __future__ import annotations

from tests.notify_services import Statuspage, deliver, message
from vvrun.notify import build


def _notifier(sp: Statuspage, url: str, **body):
    return build("status", {"statuspage": {"page_id": sp.page_id, "api_key": sp.api_key,
                                           **body}, "url": url})


def test_a_run_opens_updates_and_resolves_one_incident_and_its_component(http_server):
    sp = Statuspage(http_server)
    notifier = _notifier(sp, http_server.url, component="api")
    out = deliver(notifier, message("failed", text="API errors"),
                  message("step", text="Replica promoted", incident_status="monitoring",
                          component_status="degraded_performance"),
                  message("succeeded", text="All good"))
    assert all(d.ok for d in out), [d.error for d in out]
    [incident_id] = sp.incidents
    assert [d.ref for d in out] == [incident_id] * 3
    assert [kind for kind, _ in sp.requests] == ["create", "update", "update"]
    created = sp.requests[0][1]
    assert created["name"] == "db-emergency: failed" and created["status"] == "investigating"
    assert created["body"] == "API errors" and created["component_ids"] == ["ftgks51sfs2d"]
    assert sp.requests[1][1]["status"] == "monitoring"
    assert sp.incidents[incident_id]["status"] == "resolved"
    assert sp.component_status == {"ftgks51sfs2d": "operational"}
    auth = [r["headers"]["Authorization"] for r in http_server.requests]
    assert set(auth) == {f"OAuth {sp.api_key}"}


def test_a_resumed_run_updates_the_incident_it_opened_before(http_server):
    sp = Statuspage(http_server)
    first = _notifier(sp, http_server.url)
    [opened] = deliver(first, message("failed"))
    second = _notifier(sp, http_server.url)  # another process: it knows the audit's ref
    second.remember(message().run_id, opened.ref)
    [resolved] = deliver(second, message("succeeded"))
    assert resolved.ok and resolved.ref == opened.ref
    assert len(sp.incidents) == 1 and sp.incidents[opened.ref]["status"] == "resolved"


def test_resolving_with_no_incident_open_sends_nothing(http_server):
    sp = Statuspage(http_server)
    [delivery] = deliver(_notifier(sp, http_server.url), message("succeeded"))
    assert delivery.ok and delivery.ref is None and http_server.requests == []


def test_a_wrong_api_key_fails_once_without_showing_it(http_server):
    sp = Statuspage(http_server)
    wrong = "0123456789abcdef0123456789abcdef"
    notifier = build("status", {"statuspage": {"page_id": sp.page_id, "api_key": wrong},
                                "url": http_server.url})
    [delivery] = deliver(notifier, message())
    assert not delivery.ok and delivery.status == 401 and delivery.attempts == 1
    assert "Could not authenticate" in delivery.error and wrong not in delivery.error
    assert wrong not in repr(notifier)


def test_an_unknown_component_names_the_pages_components(http_server):
    sp = Statuspage(http_server)
    [delivery] = deliver(_notifier(sp, http_server.url, component="db"), message())
    assert not delivery.ok
    assert delivery.error == (f"statuspage notifier 'status': no component db on page "
                              f"{sp.page_id} (it has: api, web)")
    assert sp.incidents == {}
