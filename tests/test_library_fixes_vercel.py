"""The Vercel runbooks as Vercel documents its REST API (https://vercel.com/docs/rest-api):

- rollback goes *back*: the candidates are production deployments created before the live
  one (`GET /v6/deployments?until=`), never a newer build that did not go live;
- rotate-secrets edits the production entry of a key (a key may have a preview value too),
  names every environment a shared entry covers, and offers no preview rotation it cannot
  redeploy or verify;
- `POST /v13/deployments` gets `name` (required: the project *name*) and `project` (the id or
  name of the project, which overrides `name`) from deploy, scale-application and
  rotate-secrets;
- site-down goes on to the status page, triage and the provider path when Vercel's API does
  not answer — and never reports success for it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from world import vercel
from world.harness import RUNBOOKS, World

pytest_plugins = ["world.fixtures"]

NEWEST = "dpl_7f3k2l9qpXyZ"  # the newest production deployment of the stand-in
PREVIOUS = "dpl_2b8d1x0mzAbC"  # 3 hours old
OLDEST = "dpl_5h6j3k8luGhI"  # 2 days old
DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {vercel.TOKEN}"}


def _posted(world: World, path: str = "/v13/deployments") -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in world.vercel.requests
            if r["method"] == "POST" and r["path"] == path]


def _shown(out: Any) -> str:
    return "".join(str(e.data) for e in out.events)


# -- 1. rollback: only deployments older than the live one ------------------------------


def test_the_stand_in_lists_deployments_created_before_until_and_after_since(
        world: World) -> None:
    created = {d["uid"]: d["created"] for d in world.vercel.deployments}
    url = f"{world.vercel.url}/v6/deployments"
    before = httpx.get(url, headers=_auth(), params={
        "teamId": vercel.TEAM, "projectId": vercel.PROJECT["id"],
        "until": created[PREVIOUS]}).json()["deployments"]
    assert [d["uid"] for d in before] == ["dpl_9q4w7e1rtDeF", OLDEST]  # strictly before
    after = httpx.get(url, headers=_auth(), params={
        "teamId": vercel.TEAM, "since": created[PREVIOUS]}).json()["deployments"]
    assert [d["uid"] for d in after] == [NEWEST]


def test_rollback_never_goes_forward_to_a_build_that_was_not_live(world: World) -> None:
    # production was rolled back to PREVIOUS earlier (auto-assignment off since); NEWEST, the
    # build rolled back from, is still the newest READY production deployment, and a newer
    # one became READY without going live
    world.vercel.production = PREVIOUS
    world.vercel.deployments.insert(0, vercel._deployment(
        "dpl_notlive01PqR", "web-notlive01-vocavision.vercel.app", 1))
    out = world.run("rollback")
    assert out.status == "succeeded", out.error
    assert out.outputs("candidates")["previous"] == OLDEST
    assert out.outputs("target")["id"] == OLDEST
    assert world.vercel.production == OLDEST
    listed = next(r for r in world.vercel.requests if r["path"] == "/v6/deployments")
    assert listed["query"]["until"] == str(world.vercel.find(PREVIOUS)["created"])
    assert out.outputs("live")["created"] == world.vercel.find(PREVIOUS)["created"]


def test_rollback_fails_when_nothing_older_than_the_live_one_is_ready(world: World) -> None:
    world.vercel.production = OLDEST  # every other production deployment is newer
    out = world.run("rollback")
    assert out.exit_code == 1
    assert out.status_of("candidates") == "failed"
    assert "promote" not in out.steps
    assert world.vercel.production == OLDEST


# -- 2. rotate-secrets: the production entry of the key ---------------------------------


def test_rotate_edits_the_production_entry_of_a_key_with_a_preview_value(
        world: World) -> None:
    world.vercel.envs.append({"id": "env_openaiprev", "key": "OPENAI_API_KEY",
                              "value": "sk-preview", "type": "encrypted",
                              "target": ["preview"]})
    key = "sk-proj-NEWkeyFromTheProvider0123456789abcdef"
    out = world.run("rotate-secrets", secret_name="OPENAI_API_KEY", source="provider",
                    env={"FAKE_OP_VALUE": key})
    assert out.status == "succeeded", out.error
    assert world.vercel.env_value("OPENAI_API_KEY") == key
    assert world.vercel.env_value("OPENAI_API_KEY", "preview") == "sk-preview"  # left alone
    patched = [r["path"] for r in world.vercel.requests if r["method"] == "PATCH"]
    assert patched == [f"/v9/projects/{vercel.PROJECT['id']}/env/env_openai0001"]
    assert world.vercel.live()["env"]["OPENAI_API_KEY"] == key


def test_rotate_says_which_environments_a_shared_entry_covers(world: World) -> None:
    out = world.run("rotate-secrets", secret_name="NEXTAUTH_SECRET")
    assert out.status == "succeeded", out.error
    assert "Replace NEXTAUTH_SECRET in Vercel (in place) for production, preview" in _shown(out)


def test_rotate_fails_before_any_change_without_a_production_value(world: World) -> None:
    next(e for e in world.vercel.envs if e["key"] == "OPENAI_API_KEY")["target"] = ["preview"]
    out = world.run("rotate-secrets", secret_name="OPENAI_API_KEY", source="provider",
                    env={"FAKE_OP_VALUE": "sk-new"})
    assert out.exit_code == 1
    assert out.status_of("current") == "failed"
    assert not [r for r in world.vercel.requests if r["method"] in ("PATCH", "POST")]


def test_rotate_offers_no_preview_rotation(world: World) -> None:
    # a preview "rotation" rebuilt the live production deployment as a preview, then waited
    # for production to become it — which never happens — and rolled back
    ran = world.cli("run", str(RUNBOOKS / "rotate-secrets.yaml"), "--yes",
                    "--var", "secret_name=NEXTAUTH_SECRET", "--var", "environment=preview")
    assert ran.returncode == 2, ran.stderr
    assert "production" in ran.stderr
    assert world.vercel.requests == []  # refused before anything was asked of Vercel


def test_rotate_redeploys_a_project_given_by_its_name(world: World) -> None:
    out = world.run("rotate-secrets", secret_name="NEXTAUTH_SECRET", environment="production",
                    env={"VERCEL_PROJECT_ID": "web"})
    assert out.status == "succeeded", out.error
    assert _posted(world) == [{"name": "web", "project": "web", "deploymentId": NEWEST,
                               "target": "production"}]


# -- 3. POST /v13/deployments: `name` is the project name, `project` the id --------------


def test_the_stand_in_takes_the_project_as_vercel_documents_it(world: World) -> None:
    url = f"{world.vercel.url}/v13/deployments?teamId={vercel.TEAM}"

    def post(body: dict[str, Any]) -> httpx.Response:
        return httpx.post(url, headers=_auth(), json=body)

    redeploy = {"deploymentId": NEWEST, "target": "production"}
    assert post(redeploy).status_code == 400  # `name` is required
    assert post({**redeploy, "name": vercel.PROJECT["id"]}).status_code == 400  # not a name
    assert post({**redeploy, "name": "web", "project": "prj_other"}).status_code == 404
    assert post({**redeploy, "name": "web"}).status_code == 200
    assert post({**redeploy, "name": "web", "project": vercel.PROJECT["id"]}).status_code == 200


@pytest.mark.parametrize("runbook,variables,step", [
    ("scale-application", {"what": "pool", "pool_size": 80}, "redeploy"),
    ("rotate-secrets", {"secret_name": "NEXTAUTH_SECRET"}, "redeploy"),
    ("deploy", {"ref": "v1.2.0"}, "build"),
])
def test_deployments_are_created_with_the_project_name_and_id(
        world: World, runbook: str, variables: dict[str, Any], step: str) -> None:
    out = world.run(runbook, **variables)
    assert out.status == "succeeded", out.error
    (body,) = _posted(world)
    assert (body["name"], body["project"]) == ("web", vercel.PROJECT["id"])
    assert body["target"] == "production"
    assert world.vercel.production == out.outputs(step)["id"]


def test_deploy_ships_a_preview_with_the_project_name_and_id(world: World) -> None:
    preview = world.vercel.ship_preview()
    out = world.run("deploy", method="preview", deployment=preview["uid"])
    assert out.status == "succeeded", out.error
    assert _posted(world) == [{"name": "web", "project": vercel.PROJECT["id"],
                               "deploymentId": preview["uid"], "target": "production"}]


# -- 4. site-down: Vercel's API down is no reason to stop --------------------------------


def test_site_down_goes_on_to_the_status_page_and_triage_when_vercel_is_down(
        world: World) -> None:
    out = world.run("site-down", host="localhost", fields={"cause": "provider"},
                    env={"VOCAVISION_URL": DEAD, "VERCEL_API_URL": DEAD})
    assert out.status_of("site") == "failed"
    assert out.status_of("deployments") == "failed"
    assert out.status_of("live") == "failed"
    assert out.status_of("inspect") == "skipped"  # nothing to inspect, no template error
    assert out.status_of("status_page") == "succeeded"
    assert out.status_of("triage") == "succeeded"
    assert out.status_of("provider") == "succeeded"
    assert "Vercel's API did not answer (deployments: **failed**" in _shown(out)
    assert out.exit_code == 1  # the site never came back
    assert out.status_of("recovered") == "failed"


def test_site_down_with_vercels_api_down_never_ends_as_a_success(world: World) -> None:
    out = world.run("site-down", host="localhost", fields={"cause": "provider"},
                    env={"VERCEL_API_URL": DEAD})
    assert out.status_of("triage") == "succeeded"
    assert out.status_of("recovered") == "succeeded"
    assert out.status == "completed_with_failures"
    assert out.exit_code == 6


def test_site_down_shows_the_live_deployment_when_vercel_answers(world: World) -> None:
    out = world.run("site-down", host="localhost", fields={"cause": "provider"})
    assert out.status == "succeeded", out.error
    shown = _shown(out)
    assert "Live deployment: web-7f3k2l9qp-vocavision.vercel.app (**READY**" in shown
    assert "did not answer" not in shown
