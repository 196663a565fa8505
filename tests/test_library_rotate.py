"""rotate-secrets replaces the variable in place through Vercel's API (no `_NEW` left behind),
takes a provider's key from 1Password (not openssl), redeploys through Vercel (not a local
checkout), checks the new deployment is live and healthy, and rolls back when it is not."""

from __future__ import annotations

from typing import Any

import pytest
from world.harness import World

pytest_plugins = ["world.fixtures"]

GOOD = "dpl_7f3k2l9qpXyZ"


def _shown(out: Any) -> str:
    return "".join(str(e.data) for e in out.events) + "".join(
        str(s.result) for s in out.steps.values())


def test_rotating_a_generated_secret_leaves_no_new_variable(world: World) -> None:
    out = world.run("rotate-secrets", secret_name="NEXTAUTH_SECRET")
    assert out.status == "succeeded", out.error
    keys = [e["key"] for e in world.vercel.envs]
    assert keys.count("NEXTAUTH_SECRET") == 1 and not any(k.endswith("_NEW") for k in keys)
    value = world.vercel.env_value("NEXTAUTH_SECRET")
    assert value != "old-nextauth" and len(value) == 44  # 32 random bytes, base64
    env = next(e for e in world.vercel.envs if e["key"] == "NEXTAUTH_SECRET")
    assert env["target"] == ["production", "preview"]  # its targets kept
    live = world.vercel.live()
    assert live["uid"] == out.outputs("redeploy")["id"] != GOOD
    assert live["env"]["NEXTAUTH_SECRET"] == value  # the live build has the new value
    assert value not in _shown(out)
    assert world.doubles_called() == []  # no vercel CLI, no local checkout


def test_a_provider_key_comes_from_1password(world: World) -> None:
    key = "sk-proj-NEWkeyFromTheProvider0123456789abcdef"
    out = world.run("rotate-secrets", secret_name="OPENAI_API_KEY", source="provider",
                    env={"FAKE_OP_VALUE": key})
    assert out.status == "succeeded", out.error
    assert world.vercel.env_value("OPENAI_API_KEY") == key
    assert ["op", "read", "op://prod/vocavision-rotation/new-key"] in world.doubles_called()
    assert out.status_of("retire_old") == "succeeded"
    assert key not in _shown(out)


def test_an_unhealthy_new_deployment_is_rolled_back_and_the_run_fails(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    redeploy = world.vercel._redeploy

    def broken(payload: dict[str, Any]) -> tuple[int, Any]:
        status, body = redeploy(payload)
        world.vercel.find(body["id"])["healthy"] = False
        world.api.set_live(world.vercel.find(body["id"]))
        return status, body

    monkeypatch.setattr(world.vercel, "_redeploy", broken)
    out = world.run("rotate-secrets", secret_name="NEXTAUTH_SECRET")
    assert out.exit_code == 1
    assert out.status_of("verify_api") == "failed"
    assert world.vercel.production == GOOD  # the previous deployment is back
    assert world.api.health["status"] == "healthy"
    assert "rolled back" in (out.error or "")
