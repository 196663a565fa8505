"""high-error-rate carries on to the triage when Vercel's API does not answer (an outage
there may be the very cause of the errors), as site-down does (tests/test_library_fixes_vercel.py):
the deployments, the live deployment and its runtime logs are read with `on_failure: continue`,
the logs are skipped when there is no live deployment to read them from, the triage says what
could not be read — and a run that recovers after such a failure ends completed with failures
(exit 6), never as a success."""

from __future__ import annotations

from typing import Any

from world import vercel
from world.harness import World

pytest_plugins = ["world.fixtures"]

DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens
EXTERNAL = {"pattern": "api", "cause": "external"}


def _shown(out: Any) -> str:
    return "".join(str(e.data) for e in out.events)


def test_high_error_rate_goes_on_to_the_triage_when_vercel_is_down(world: World) -> None:
    world.sentry.degrade()
    out = world.run("high-error-rate", app_dir=str(world.tmp), fields=EXTERNAL,
                    env={"VERCEL_API_URL": DEAD})
    assert out.status_of("deployments") == "failed"
    assert out.status_of("live") == "failed"
    assert out.status_of("error_logs") == "skipped"  # no live deployment: no template error
    assert out.status_of("outdated") == "succeeded"
    assert out.status_of("triage") == "succeeded"
    assert out.status_of("rollback") == "skipped"
    shown = _shown(out)
    assert ("Vercel's API did not answer (deployments: **failed**, live\\ndeployment: "
            "**failed**, error logs: **skipped**)") in shown
    assert "Live deployment:" not in shown
    # the errors stay high: escalate and page on-call, as when Vercel answers
    assert out.exit_code == 1
    assert "escalate" in (out.error or "")


def test_high_error_rate_with_vercels_api_down_never_ends_as_a_success(world: World) -> None:
    world.sentry.recover_after(2)  # the errors fall while the runbook waits
    out = world.run("high-error-rate", app_dir=str(world.tmp), fields=EXTERNAL,
                    env={"VERCEL_API_URL": DEAD})
    assert out.status_of("triage") == "succeeded"
    assert out.status_of("recovered") == "succeeded"
    assert out.status_of("escalate") == "skipped"
    assert out.status == "completed_with_failures"
    assert out.exit_code == 6


def test_high_error_rate_goes_on_when_vercel_refuses_the_logs(world: World) -> None:
    world.sentry.recover_after(2)
    world.vercel._runtime_logs = lambda project, dep: (403, vercel._error(  # type: ignore[method-assign]
        "forbidden", "Not authorized to read logs"))
    out = world.run("high-error-rate", app_dir=str(world.tmp), fields=EXTERNAL)
    assert out.status_of("live") == "succeeded"
    assert out.status_of("error_logs") == "failed"  # not "no error line": the logs were unread
    assert out.status_of("triage") == "succeeded"
    shown = _shown(out)
    live = next(d for d in world.vercel.deployments if d["uid"] == world.vercel.production)
    assert (f"Live deployment: {live['url']}.\\n"
            "The live deployment's runtime logs could not be read (error logs: **failed**).\\n"
            "Open Sentry") in shown
    assert out.status == "completed_with_failures"
    assert out.exit_code == 6


def test_high_error_rate_shows_the_live_deployment_when_vercel_answers(world: World) -> None:
    bad = world.vercel.ship_bad_release()
    world.sentry.recover_after(2)
    out = world.run("high-error-rate", app_dir=str(world.tmp), fields=EXTERNAL)
    assert out.status == "succeeded", out.error
    assert out.status_of("error_logs") == "succeeded"
    shown = _shown(out)
    assert f"Live deployment: {bad['url']}.\\nOpen Sentry" in shown
    assert "did not answer" not in shown and "could not be read" not in shown
