"""`vvrun serve` starts scheduled runs by itself: the seed's daily checklist at its 09:00 slot
(the scheduler's clock started just after it with `--now`, so nobody waits for a morning), once
per slot; and a danger step in such an unattended run pauses for approval and notifies."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web_world import ROOT, Server, wait_for

pytest.importorskip("croniter", reason="the web extra is not installed")

DANGER = """version: 1
name: nightly-purge
title: Purges what is old, every minute
schedule: {cron: "* * * * *", timezone: Europe/Paris}
secrets:
  hook_secret: {from: env, name: HOOK_SECRET}
notifiers:
  ops: {webhook: "{{ env.HOOK_URL }}", secret: "{{ secrets.hook_secret }}"}
notify:
  - {on: [approval_needed], to: ops}
steps:
  - id: look
    shell: echo nothing old
  - id: purge
    danger: true
    shell: echo purged
"""


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def _runs(server: Server) -> list[dict]:
    from vvrun.state import open_store

    env = {"VVRUN_STATE": str(server.tmp / "state.db"),
           "XDG_STATE_HOME": str(server.tmp / "xdg")}
    store = open_store(env)
    try:
        return [{"id": r.id, "runbook": r.runbook, "operator": r.operator, "status": r.status}
                for r in store.list_runs()]
    finally:
        store.close()


def test_the_daily_checklist_runs_on_its_schedule_by_itself(tmp_path: Path, pg_url: str,
                                                            servers: list) -> None:
    server = Server(tmp_path, extra=("--tick", "0.2", "--now", "2026-12-07T09:00:01Z"),
                    env={"DATABASE_URL": pg_url})
    servers.append(server)
    # the seed's runbook as it is (its schedule: "0 9 * * *"), beside the web tests' ones
    shutil.copy(ROOT / "runbooks" / "daily-checklist.yaml", tmp_path / "rb")
    shutil.copy(ROOT / "runbooks" / "sli-check.yaml", tmp_path / "rb")  # the runbook it calls
    run = wait_for(lambda: next((r for r in _runs(server) if r["runbook"] == "daily-checklist"
                                 and r["status"] == "paused"), None),
                   what="the daily checklist to start and reach its first manual step")
    assert run["operator"] == "schedule"
    # it waits in the inbox for a person to look at the dashboards
    inbox = server.client("alice").get("/inbox").text
    assert run["id"] in inbox and "status" in inbox
    # later ticks of the same slot start nothing more
    wait_for(lambda: "schedule_claims" in _tables(tmp_path), what="the claim")
    assert [r["runbook"] for r in _runs(server)].count("daily-checklist") == 1


def _tables(tmp: Path) -> str:
    import sqlite3

    con = sqlite3.connect(tmp / "state.db")
    try:
        return " ".join(r[0] for r in con.execute("SELECT name FROM sqlite_master"))
    finally:
        con.close()


def test_a_danger_step_in_a_scheduled_run_pauses_and_notifies(tmp_path: Path, http_server,
                                                              servers: list) -> None:
    http_server.route("POST", "/hooks/ops", lambda _r: (204, {}, b""))
    server = Server(tmp_path, extra=("--tick", "0.2", "--now", "2026-12-07T03:00:01Z"),
                    env={"HOOK_URL": http_server.url + "/hooks/ops",
                         "HOOK_SECRET": "whsec-0123456789"})
    servers.append(server)
    (tmp_path / "rb" / "purge.yaml").write_text(DANGER)
    hook = wait_for(lambda: http_server.requests, what="the approval_needed notification")[0]
    body = json.loads(hook["body"])
    assert body["event"] == "approval_needed" and body["runbook"] == "nightly-purge"
    assert body["operator"] == "schedule"
    [run] = [r for r in _runs(server) if r["runbook"] == "nightly-purge"]
    assert run["status"] == "paused" and body["run_id"] == run["id"]
    # never approved by itself: it waits in the inbox with its action, for a person
    page = server.client("bob").get(f"/runs/{run['id']}").text
    assert 'data-kind="approve"' in page and "echo purged" in page
    shown = server.client("bob").get(f"/runs/{run['id']}/timeline?raw=1").text
    assert "step `purge` succeeded" not in shown and "confirmed" not in shown
