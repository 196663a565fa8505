"""Notifiers in a run: db-emergency against the real PostgreSQL posts to a local Slack, pages
and resolves on a local PagerDuty, and reads its admin URL from a `command` provider (a real
script); its plan shows every message and sends nothing."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from world.harness import RUNBOOKS, World, json_events, wait_until

from tests.notify_services import PagerDuty, Slack

pytest_plugins = ["world.fixtures"]

PD_KEY = "R0VTNGKEY0123456789abcdef012345x"


def _copy(world: World, url: str) -> Path:
    """db-emergency with its notifiers aimed at the local receivers (`url:`) and its admin
    URL from a command provider: a shell script standing in for `op read`."""
    script = world.tmp / "admin-url.sh"
    script.write_text("#!/bin/bash\nset -eu\necho \"$VOCAVISION_DB_ADMIN\"\n")
    script.chmod(0o700)
    text = (RUNBOOKS / "db-emergency.yaml").read_text()
    provider = f"  db_admin_url: {{from: command, run: [{script}]}}\n"
    text = text.replace("secrets:\n", "secrets:\n" + provider, 1)
    text = text.replace('postgres: "{{ secrets.db_admin }}"',
                        'postgres: "{{ secrets.db_admin_url }}"')
    text = text.replace('{slack: "{{ secrets.slack_webhook }}"}',
                        f'{{slack: "{{{{ secrets.slack_webhook }}}}", url: "{url}"}}')
    text = text.replace("source: vocavision-db}", f"source: vocavision-db, url: \"{url}\"}}")
    path = world.tmp / "db-emergency.yaml"
    path.write_text(text)
    return path


def _stuck(url: str) -> tuple[psycopg.Connection, threading.Thread]:
    conn = psycopg.connect(url, autocommit=True, application_name="vocavision-web")

    def sleep() -> None:
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT pg_sleep(300)")

    thread = threading.Thread(target=sleep, daemon=True)
    thread.start()
    return conn, thread


def test_db_emergency_tells_slack_pages_and_resolves_pagerduty(world: World, http_server):
    slack, pd = Slack(http_server), PagerDuty(http_server)
    path = _copy(world, http_server.url)
    conn, thread = _stuck(world.db_url)
    try:
        pid = conn.info.backend_pid
        wait_until(lambda: bool(world.sql(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = 'active' AND "
            "query_start < now() - interval '1.5 seconds'", (pid,))), "pg_sleep to be stuck")
        proc = world.cli("run", str(path), "--yes", "--output", "json",
                         "--var", "stuck_after=1 seconds",
                         env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                              "VOCAVISION_DB_ADMIN": world.db_url,
                              "SLACK_INCIDENTS_WEBHOOK": slack.webhook,
                              "PAGERDUTY_ROUTING_KEY": PD_KEY})
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
        thread.join(timeout=30)
        assert not thread.is_alive()  # the stuck query was terminated through the admin URL
    finally:
        conn.close()
    events = json_events(proc.stdout)
    run_id = events[0]["run_id"]
    # Slack: started, the step's message, succeeded — in order, each a valid webhook body
    texts = [b["text"] for b in slack.accepted]
    assert len(texts) == 3, texts
    assert texts[0] == f"db-emergency: started: Run {run_id} started."
    assert "Terminated 1 stuck queries; 0 remain." in texts[1]
    assert texts[2] == f"db-emergency: succeeded: Run {run_id} succeeded."
    # PagerDuty: the page step triggers, the run's success resolves the same incident
    assert [e["event_action"] for e in pd.accepted] == ["trigger", "resolve"]
    assert {e["dedup_key"] for e in pd.accepted} == {run_id}
    assert pd.incidents == {run_id: "resolved"}
    assert pd.accepted[0]["payload"]["source"] == "vocavision-db"
    # every delivery is in the audit trail, and no secret is anywhere in the output
    shown = world.cli("show", run_id, "--format", "json")
    audit = proc.stdout + shown.stdout
    assert slack.path not in audit and PD_KEY not in audit
    # the admin URL is a secret: its password never shows (its host does, SPEC §5.3)
    admin_password = urlsplit(world.db_url).password
    assert not admin_password or admin_password not in audit
    delivered = [e for e in events if e["event"] == "notification"]
    assert {(d["notifier"], d["ok"]) for d in delivered} == {("incidents", True),
                                                           ("oncall", True)}
    assert len(delivered) == 5


def test_a_notifier_whose_secret_is_unset_is_off_and_the_run_goes_on(world: World,
                                                                     http_server):
    path = _copy(world, http_server.url)
    proc = world.cli("run", str(path), "--yes", "--output", "json",
                     env={"VOCAVISION_DB_ADMIN": world.db_url})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    off = {e["notifier"]: e["reason"] for e in json_events(proc.stdout)
           if e["event"] == "notifier_off"}
    assert off == {
        "incidents": "secret 'slack_webhook': environment variable SLACK_INCIDENTS_WEBHOOK "
                     "is not set",
        "oncall": "secret 'pd_routing_key': environment variable PAGERDUTY_ROUTING_KEY is "
                  "not set"}
    assert http_server.requests == []


def test_the_plan_shows_every_message_and_sends_nothing(world: World, http_server):
    slack, pd = Slack(http_server), PagerDuty(http_server)
    path = _copy(world, http_server.url)
    marker = world.tmp / "fetched"
    proc = world.cli("plan", str(path), env={
        "SLACK_INCIDENTS_WEBHOOK": slack.webhook, "PAGERDUTY_ROUTING_KEY": PD_KEY,
        "VOCAVISION_DB_ADMIN": f"$(touch {marker})"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "→ oncall (pagerduty)" in out and "→ incidents (slack)" in out
    assert "⟨steps.stuck.result.rowcount⟩ stuck queries on the VocaVision database" in out
    assert "Terminated ⟨steps.terminate.outputs.terminated⟩ stuck queries" in out
    assert "⟨secrets.db_admin_url⟩" in out
    assert http_server.requests == [] and slack.accepted == [] and pd.accepted == []
    assert not marker.exists()
