"""Rollback, cache purge and SLIs against stand-ins that follow Vercel's and Sentry's
documented APIs (issue 19): the live deployment really changes, the CDN cache is invalidated
by tag, and a stand-in refuses what the real service refuses."""

from __future__ import annotations

import httpx
import pytest
from world import sentry, vercel
from world.harness import World

pytest_plugins = ["world.fixtures"]

GOOD = "dpl_7f3k2l9qpXyZ"


def test_the_vercel_stand_in_refuses_what_vercel_refuses(world: World) -> None:
    api = world.vercel.url
    assert httpx.get(f"{api}/v9/projects/web?teamId={vercel.TEAM}").status_code == 401
    auth = {"Authorization": f"Bearer {vercel.TOKEN}"}
    assert httpx.get(f"{api}/v9/projects/web", headers=auth).status_code == 403  # no teamId
    ok = httpx.get(f"{api}/v9/projects/web?teamId={vercel.TEAM}", headers=auth)
    assert ok.json()["targets"]["production"]["id"] == GOOD
    # no HTTP PURGE, no invented metrics on the app
    assert httpx.request("PURGE", f"{world.api.url}/api/words").status_code == 501
    assert httpx.get(f"{world.api.url}/api/v1/metrics").status_code == 404
    assert httpx.get(f"{world.sentry.url}/api/0/organizations/{sentry.ORG}/events/?"
                     "field=failure_rate()").status_code == 401


def test_rollback_promotes_the_previous_deployment_and_sees_it_live(world: World) -> None:
    bad = world.vercel.ship_bad_release()
    assert world.api.health["status"] != "healthy"
    out = world.run("rollback")
    assert out.status == "succeeded", out.error
    assert out.outputs("live")["id"] == bad["uid"]
    assert out.outputs("target")["id"] == GOOD
    assert world.vercel.production == GOOD
    promoted = [r for r in world.vercel.requests if r["method"] == "POST"]
    assert [(r["path"], r["query"]) for r in promoted] == [
        (f"/v10/projects/{vercel.PROJECT['id']}/promote/{GOOD}", {"teamId": vercel.TEAM})]
    assert out.result("verify_live")["json"]["targets"]["production"]["id"] == GOOD
    assert out.result("verify_health")["json"]["status"] == "healthy"
    assert world.doubles_called() == []  # no CLI, no git


def test_rollback_to_a_named_deployment_url(world: World) -> None:
    world.vercel.ship_bad_release()
    out = world.run("rollback", deployment="https://web-5h6j3k8lu-vocavision.vercel.app")
    assert out.status == "succeeded", out.error
    assert world.vercel.production == "dpl_5h6j3k8luGhI"


def test_rollback_fails_when_the_promotion_never_takes(world: World,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    bad = world.vercel.ship_bad_release()
    # Vercel accepts the promotion (201) but production keeps serving the bad deployment
    monkeypatch.setattr(world.vercel, "_go_live", lambda dep: None)
    out = world.run("rollback")
    assert out.exit_code == 1
    assert out.status_of("promote") == "succeeded"
    assert out.status_of("verify_live") == "failed"
    assert world.vercel.production == bad["uid"]
    assert "verify_health" not in out.steps


def test_rollback_fails_when_the_old_version_is_unhealthy_too(world: World) -> None:
    world.vercel.find(GOOD)["healthy"] = False  # the previous one: broken as well
    world.vercel.ship_bad_release()
    out = world.run("rollback")
    assert out.exit_code == 1
    assert world.vercel.production == GOOD
    assert out.status_of("verify_health") == "failed"


def test_cache_clear_invalidates_cdn_tags_through_vercel(world: World) -> None:
    out = world.run("cache-clear", prefixes=[f"{world.prefix}cache:words:"], edge_tags=["words"])
    assert out.status == "succeeded", out.error
    assert world.vercel.invalidated == [
        {"how": "invalidate-by-tags", "tags": ["words"], "target": "production"}]
    request = next(r for r in world.vercel.requests if r["method"] == "POST")
    assert request["path"] == "/v1/edge-cache/invalidate-by-tags"
    assert request["query"] == {"projectIdOrName": vercel.PROJECT["id"], "teamId": vercel.TEAM}


def test_cache_clear_can_delete_tags(world: World) -> None:
    out = world.run("cache-clear", prefixes=[f"{world.prefix}x:"], edge_tags=["words", "decks"],
                    edge_delete=True)
    assert out.status == "succeeded", out.error
    assert world.vercel.invalidated[0]["how"] == "dangerously-delete-by-tags"
    assert world.vercel.invalidated[0]["tags"] == ["words", "decks"]


def test_health_check_reads_the_slis_from_sentry(world: World) -> None:
    out = world.run("health-check", max_pool_usage_pct=100)
    assert out.status == "succeeded", out.error
    assert out.outputs("slis") == {"error_rate_pct": 0.08, "p95_ms": 182.0, "p99_ms": 431.0,
                                   "healthy": True, "breaches": []}
    asked = world.sentry.requests[0]["query"]
    assert asked["field"] == ["failure_rate()", "p95(transaction.duration)",
                              "p99(transaction.duration)"]
    assert asked["statsPeriod"] == ["5m"]
    world.sentry.degrade()
    out = world.run("health-check", max_pool_usage_pct=100)
    assert out.exit_code == 1
    assert out.status_of("slis") == "failed"
