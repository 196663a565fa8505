"""The VocaVision runbook library: every runbook validates, plans, and — when it talks to
PostgreSQL, Redis or HTTP — runs end to end against the real servers of the test world."""

from __future__ import annotations

import subprocess
import threading

import psycopg
import pytest
from world.harness import (  # noqa: F401 (world, world_template: pytest fixtures)
    REPO,
    RUNBOOKS,
    VVRUN,
    World,
    wait_until,
    world,
    world_template,
)

ALL = sorted(p.stem for p in RUNBOOKS.glob("*.yaml"))

EXPECTED = {
    "db-emergency", "site-down", "security-breach", "health-check", "high-response-times",
    "high-error-rate", "connection-pool-exhausted", "cache-not-working", "cache-clear",
    "ssl-certificate-check", "db-backup", "db-restore", "db-migrate", "db-vacuum",
    "db-maintenance-weekly", "db-maintenance-monthly", "deploy", "rollback",
    "scale-application", "user-lookup", "user-password-reset", "user-delete",
    "rotate-secrets", "security-audit", "planned-maintenance", "daily-checklist",
    "weekly-checklist", "monthly-checklist",
}


def test_every_procedure_of_the_seed_has_a_runbook() -> None:
    assert set(ALL) >= EXPECTED


@pytest.mark.parametrize("name", ALL)
def test_runbook_header_and_name(name: str) -> None:
    text = (RUNBOOKS / f"{name}.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=../schema/runbook.schema.json\n")
    assert f"\nname: {name}\n" in text


# -- validate and plan -------------------------------------------------------------------


def _vvrun(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VVRUN, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)


def test_library_validates_strictly() -> None:
    proc = _vvrun("validate", "--strict", "runbooks")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(ALL)} files, 0 errors, 0 warnings" in proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ALL)
def test_runbook_plans(name: str) -> None:
    proc = _vvrun("plan", f"runbooks/{name}.yaml")
    assert proc.returncode == 0, proc.stderr
    assert f"Plan: {name} — " in proc.stdout


@pytest.mark.parametrize("name", ["db-emergency", "user-delete", "db-restore", "cache-clear"])
def test_plan_flags_the_destructive_steps(name: str) -> None:
    proc = _vvrun("plan", f"runbooks/{name}.yaml", "--format", "markdown")
    assert proc.returncode == 0, proc.stderr
    assert "danger" in proc.stdout.lower()


# -- end to end: db-emergency ------------------------------------------------------------


class Sleeper:
    """A real stuck query: `pg_sleep` in its own session, in a background thread."""

    def __init__(self, url: str, seconds: int = 300, application_name: str = "vocavision-web"):
        self.conn = psycopg.connect(url, autocommit=True, application_name=application_name)
        self.pid = self.conn.info.backend_pid
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._sleep, args=(seconds,), daemon=True)
        self.thread.start()

    def _sleep(self, seconds: int) -> None:
        try:
            self.conn.execute("SELECT pg_sleep(%s)", (seconds,))
        except psycopg.Error as exc:
            self.error = exc

    def close(self) -> None:
        self.conn.close()


def _active_longer_than(world: World, pid: int, seconds: float) -> bool:
    rows = world.sql(
        "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = 'active' "
        "AND query_start < now() - make_interval(secs => %s)", (pid, seconds))
    return bool(rows)


def test_db_emergency_finds_and_terminates_a_stuck_query(world: World) -> None:
    sleeper = Sleeper(world.db_url)
    try:
        wait_until(lambda: _active_longer_than(world, sleeper.pid, 1.5), "pg_sleep to be stuck")
        out = world.run("db-emergency", stuck_after="1 seconds")
        assert out.status == "succeeded", out.error
        stuck = out.result("stuck")
        assert [r["pid"] for r in stuck["rows"]] == [sleeper.pid]
        assert "pg_sleep" in stuck["rows"][0]["query"]
        assert out.outputs("terminate")["terminated"] == 1
        assert out.result("verify")["value"] == 0
        assert out.status_of("escalate") == "skipped"
        sleeper.thread.join(timeout=30)
        assert isinstance(sleeper.error, psycopg.errors.AdminShutdown)
    finally:
        sleeper.close()


def test_db_emergency_spares_young_queries_and_ends_cleanly(world: World) -> None:
    sleeper = Sleeper(world.db_url)
    try:
        wait_until(lambda: _active_longer_than(world, sleeper.pid, 0), "pg_sleep to start")
        out = world.run("db-emergency")  # default: stuck after 5 minutes
        assert out.status == "succeeded", out.error
        assert out.result("stuck")["rowcount"] == 0
        for step in ("terminate", "verify", "escalate"):
            assert out.status_of(step) == "skipped"
        assert out.result("connections")["row"]["total"] >= 1
        assert _active_longer_than(world, sleeper.pid, 0)
    finally:
        sleeper.close()
