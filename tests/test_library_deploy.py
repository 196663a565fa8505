"""deploy and scale-application through Vercel's REST API (the stand-in in world/vercel.py):
each succeeds only when the live production deployment changed, and fails otherwise."""

from __future__ import annotations

import json

from world.harness import World

pytest_plugins = ["world.fixtures"]


def test_deploy_a_failed_build_fails_and_production_stays(world: World) -> None:
    before = world.vercel.production
    world.vercel.fail_next_build()
    out = world.run("deploy", ref="v1.2.0")
    assert out.exit_code == 1
    assert out.status_of("wait_build") == "failed"
    assert "readyState" in out.step("wait_build").error and "ERROR" in out.step("wait_build").error
    assert "verify_live" not in out.steps
    assert world.vercel.production == before


def test_deploy_sends_the_git_source_vercel_documents(world: World) -> None:
    out = world.run("deploy", ref="v1.2.0")
    assert out.status == "succeeded", out.error
    post = next(r for r in world.vercel.requests if r["method"] == "POST")
    assert post["path"] == "/v13/deployments"
    body = json.loads(post["body"])
    # `name` is the project's name; `project` (id or name) picks the project (Vercel's docs)
    assert body == {"name": "web", "project": "prj_vocavisionWeb1", "target": "production",
                    "gitSource": {"type": "github", "org": "vocavision", "repo": "vocavision",
                                  "ref": "v1.2.0"}}
    assert world.vercel.live()["meta"]["githubCommitRef"] == "v1.2.0"


def test_deploy_ships_a_checked_preview(world: World) -> None:
    preview = world.vercel.ship_preview()
    out = world.run("deploy", method="preview", deployment=preview["url"])
    assert out.status == "succeeded", out.error
    live = world.vercel.live()
    assert live["uid"] == out.outputs("ship_preview")["id"] != preview["uid"]
    assert live["meta"]["githubCommitSha"] == preview["meta"]["githubCommitSha"]
    assert out.status_of("build") == "skipped"


def test_deploy_refuses_a_production_deployment_as_the_preview(world: World) -> None:
    before = world.vercel.production
    out = world.run("deploy", method="preview", deployment="dpl_2b8d1x0mzAbC")
    assert out.exit_code == 1
    assert "result.json.target != 'production'" in out.step("preview").error
    assert world.vercel.production == before


def test_scale_the_pool_sets_the_variable_and_redeploys(world: World) -> None:
    before = world.vercel.production
    out = world.run("scale-application", what="pool", pool_size=100)
    assert out.status == "succeeded", out.error
    assert world.vercel.env_value("DATABASE_POOL_SIZE") == "100"
    live = world.vercel.live()
    assert live["uid"] != before and live["env"]["DATABASE_POOL_SIZE"] == "100"
    assert out.status_of("functions") == "skipped"


def test_scale_refuses_what_vercel_refuses(world: World) -> None:
    before = world.vercel.production
    out = world.run("scale-application", max_duration=5000)
    assert out.exit_code == 1
    assert "functionDefaultTimeout must be 1-800" in out.step("functions").error
    assert world.vercel.production == before  # nothing redeployed
