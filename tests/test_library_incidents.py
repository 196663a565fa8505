"""high-error-rate and site-down read Vercel through its REST API (issue 19), not the CLI:
deployments from `GET /v6/deployments`, the live one from the project's
`targets.production`, its details from `GET /v13/deployments/{id}` and its error lines from
the runtime logs — and the token never reaches a command line."""

from __future__ import annotations

import os
from pathlib import Path

from world import vercel
from world.harness import World

pytest_plugins = ["world.fixtures"]

PREVIOUS = "dpl_2b8d1x0mzAbC"


def _asked(world: World) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in world.vercel.requests]


def _spying_curl(world: World) -> tuple[dict[str, str], Path]:
    """A `curl` first on PATH that records the command line the kernel holds for it
    (/proc/self/cmdline, what any local user can read) and then runs the real curl."""
    real = next(Path(d) / "curl" for d in os.environ["PATH"].split(os.pathsep)
                if (Path(d) / "curl").is_file())
    spy_dir, log = world.tmp / "spy", world.tmp / "curl-cmdlines"
    spy_dir.mkdir()
    spy = spy_dir / "curl"
    spy.write_text(f"#!/bin/bash\ntr '\\0' ' ' < /proc/$$/cmdline >> {log}\necho >> {log}\n"
                   f'exec {real} "$@"\n')
    spy.chmod(0o755)
    return {"PATH": f"{spy_dir}{os.pathsep}{world.env()['PATH']}"}, log


def test_high_error_rate_reads_deployments_and_error_logs_from_vercels_api(
        world: World) -> None:
    bad = world.vercel.ship_bad_release()
    world.sentry.degrade()
    env, cmdlines = _spying_curl(world)
    out = world.run("high-error-rate", app_dir=str(world.tmp), env=env,
                    fields={"pattern": "api", "cause": "external"})
    assert out.status_of("deployments") == "succeeded"
    assert out.outputs("deployments")["recent"][0] == bad["url"]
    assert out.outputs("live")["id"] == bad["uid"]
    logs = f"/v1/projects/{vercel.PROJECT['id']}/deployments/{bad['uid']}/runtime-logs"
    assert {("GET", "/v6/deployments"), ("GET", logs)} <= set(_asked(world))
    assert all(r["query"].get("teamId") == vercel.TEAM for r in world.vercel.requests)
    errors = out.result("error_logs")["stdout"]
    assert "PrismaClientKnownRequestError" in errors
    assert "words served" not in errors  # only error lines, not the info ones
    assert ["vercel", "list"] not in world.doubles_called()
    assert all(call[0] != "vercel" for call in world.doubles_called())
    lines = cmdlines.read_text()
    assert "runtime-logs" in lines  # curl ran, and the token was not on its command line
    assert vercel.TOKEN not in lines


def test_high_error_rate_with_no_error_in_the_logs_carries_on(world: World) -> None:
    world.sentry.degrade()
    world.vercel._runtime_logs = lambda project, dep: (200, vercel._Stream(  # type: ignore[method-assign]
        '{"level":"info","message":"ok","requestPath":"/api/health"}\n'))
    out = world.run("high-error-rate", app_dir=str(world.tmp),
                    fields={"pattern": "api", "cause": "external"})
    assert out.status_of("error_logs") == "succeeded"  # grep's 1: no error line, good news
    assert out.result("error_logs")["stdout"] == ""


def test_high_error_rate_carries_on_when_vercel_refuses_the_logs(world: World) -> None:
    world.sentry.degrade()
    world.vercel._runtime_logs = lambda project, dep: (403, vercel._error(  # type: ignore[method-assign]
        "forbidden", "Not authorized to read logs"))
    out = world.run("high-error-rate", app_dir=str(world.tmp),
                    fields={"pattern": "api", "cause": "external"})
    # the failure is recorded and the triage still happens; errors remain, so it escalates
    assert out.exit_code == 1 and "escalate" in (out.error or "")
    assert out.status_of("error_logs") == "failed"  # not "no error line": the logs were unread
    assert out.status_of("triage") == "succeeded"


def test_site_down_inspects_the_live_deployment_not_the_newest(world: World) -> None:
    # after an earlier rollback production serves an older deployment: `vercel list | awk
    # '/Production/'` would have inspected the newest one, which is not live
    world.vercel.production = PREVIOUS
    out = world.run("site-down", host="localhost", fields={"cause": "provider"})
    assert out.status == "succeeded", out.error
    assert out.outputs("live")["id"] == PREVIOUS
    assert out.outputs("inspect") == {"url": "web-2b8d1x0mz-vocavision.vercel.app",
                                      "state": "READY",
                                      "aliases": "vocavision.com, www.vocavision.com"}
    assert out.outputs("deployments")["recent"][0] == "web-7f3k2l9qp-vocavision.vercel.app"
    assert ("GET", f"/v13/deployments/{PREVIOUS}") in _asked(world)
    assert world.doubles_called() == []


def test_site_down_carries_on_when_vercels_api_refuses_the_token(world: World) -> None:
    out = world.run("site-down", host="localhost", fields={"cause": "provider"},
                    env={"VERCEL_TOKEN": "revoked-token"})
    assert out.exit_code == 6  # on to triage (tests/test_library_fixes_vercel.py), not success
    assert out.status_of("deployments") == "failed"
    assert "401" in out.step("deployments").error
    assert "revoked-token" not in out.step("deployments").error
