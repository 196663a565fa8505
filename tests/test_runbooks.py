"""The VocaVision runbook library: every runbook validates, plans, and — when it talks to
PostgreSQL, Redis or HTTP — runs end to end against the real servers of the test world."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from world.harness import REPO, RUNBOOKS, VVRUN, World, json_events, wait_until
from world.tls import serve_tls

pytest_plugins = ["world.fixtures"]  # the `world` fixtures

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


# -- end to end: connections and cache ---------------------------------------------------


def _idle_for_longer_than(world: World, pid: int, seconds: float) -> bool:
    rows = world.sql(
        "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = 'idle' "
        "AND state_change < now() - make_interval(secs => %s)", (pid, seconds))
    return bool(rows)


def _alive(world: World, pid: int) -> bool:
    return bool(world.sql("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)))


def test_connection_pool_exhausted_terminates_only_old_idle_sessions(world: World) -> None:
    old = [psycopg.connect(world.db_url, autocommit=True, application_name="web-old")
           for _ in range(2)]
    busy = Sleeper(world.db_url, application_name="web-busy")
    young: list[psycopg.Connection] = []
    try:
        old_pids = [c.info.backend_pid for c in old]
        for c in old:
            c.execute("SELECT 1")
        for pid in old_pids:
            wait_until(lambda pid=pid: _idle_for_longer_than(world, pid, 6), "sessions to age")
        young = [psycopg.connect(world.db_url, autocommit=True, application_name="web-young")]
        young_pid = young[0].info.backend_pid

        out = world.run("connection-pool-exhausted", idle_after="5 seconds", max_usage_pct=100)
        assert out.status == "succeeded", out.error
        assert sorted(r["pid"] for r in out.result("idle")["rows"]) == sorted(old_pids)
        assert out.outputs("terminate_idle")["terminated"] == 2
        wait_until(lambda: not any(_alive(world, p) for p in old_pids), "old sessions to end")
        assert _alive(world, young_pid)
        assert _alive(world, busy.pid)
        assert out.status_of("next_steps") == "skipped"
        assert out.result("verify")["row"]["used_pct"] < 100
    finally:
        for c in old + young:
            c.close()
        busy.close()


def _seed_cache(world: World) -> tuple[list[str], list[str]]:
    r = world.redis()
    words = [f"{world.prefix}cache:words:{w}" for w in range(2500)]
    words.append(f"{world.prefix}cache:words:*")
    others = ([f"{world.prefix}cache:users:{u}" for u in range(20)]
              + [f"{world.prefix}session:abc", f"{world.prefix}cache:wordsmith",
                 f"{world.prefix}cache:word:1"])
    pipe = r.pipeline()
    for key in words + others:
        pipe.set(key, "x")
    pipe.execute()
    r.close()
    return words, others


def test_cache_clear_deletes_exactly_the_pattern(world: World) -> None:
    words, others = _seed_cache(world)
    out = world.run("cache-clear", prefixes=[f"{world.prefix}cache:words:"], edge_tags=["words"])
    assert out.status == "succeeded", out.error
    assert out.outputs("per_prefix")["deleted"] == len(words)
    item = out.result("per_prefix")["items"][0]
    assert item["look"]["outputs"]["found"] == len(words)
    assert item["again"]["status"] == "succeeded"
    r = world.redis()
    assert r.exists(*words) == 0
    assert r.exists(*others) == len(others)
    assert out.status_of("flush") == "skipped"
    assert [i["tags"] for i in world.vercel.invalidated] == [["words"]]


def test_cache_clear_per_prefix_looks_deletes_and_looks_again(world: World) -> None:
    words, others = _seed_cache(world)
    users = [k for k in others if ":cache:users:" in k]
    out = world.run("cache-clear", prefixes=[f"{world.prefix}cache:words:",
                                             f"{world.prefix}cache:users:",
                                             f"{world.prefix}cache:nothing:"])
    assert out.status == "succeeded", out.error
    items = out.result("per_prefix")["items"]
    assert [i["look"]["outputs"]["found"] for i in items] == [len(words), len(users), 0]
    assert [i["delete"]["status"] for i in items] == ["succeeded", "succeeded", "skipped"]
    assert out.outputs("per_prefix")["deleted"] == len(words) + len(users)
    r = world.redis()
    assert r.exists(*words, *users) == 0
    assert r.exists(*(set(others) - set(users))) == len(others) - len(users)


def test_cache_clear_flushdb_needs_the_typed_word(world: World) -> None:
    r = world.redis(world.flush_redis_url)
    r.set(world.prefix + "k", "v")
    refused = world.run("cache-clear", flush_all=True, confirms=False,
                        env={"REDIS_URL": world.flush_redis_url})
    assert refused.exit_code == 4
    assert r.get(world.prefix + "k") == "v"

    out = world.run("cache-clear", flush_all=True, confirm_word="FLUSHDB",
                    env={"REDIS_URL": world.flush_redis_url})
    assert out.status == "succeeded", out.error
    assert out.status_of("per_prefix") == "skipped"
    wait_until(lambda: r.dbsize() == 0, "FLUSHDB ASYNC to empty the db")
    r.close()


def test_cache_not_working_diagnoses_and_leaves_the_cache(world: World) -> None:
    _, others = _seed_cache(world)
    out = world.run("cache-not-working", min_hit_rate_pct=0, sample_seconds=1,
                    fields={"action": "none"})
    assert out.status == "succeeded", out.error
    assert out.status_of("hit_rate") == "succeeded"
    assert "keyspace_hits" in out.result("stats")["value"]
    for step in ("confirm_flush", "flush", "restart", "config"):
        assert out.status_of(step) == "skipped"
    assert world.redis().exists(*others) == len(others)


def test_cache_not_working_flushes_when_the_operator_decides(world: World) -> None:
    r = world.redis(world.flush_redis_url)
    r.set(world.prefix + "corrupt", "x")
    out = world.run("cache-not-working", min_hit_rate_pct=0, sample_seconds=1,
                    fields={"action": "flush"},
                    confirm_word="FLUSHDB", env={"REDIS_URL": world.flush_redis_url})
    assert out.status == "succeeded", out.error
    assert out.status_of("flush") == "succeeded"
    wait_until(lambda: r.dbsize() == 0, "FLUSHDB ASYNC to empty the db")


def test_cache_not_working_fails_loudly_on_a_low_hit_rate(world: World) -> None:
    # Redis' hit counters are server-wide and shared with every other test: a threshold no
    # hit rate can reach makes the check fail without touching them (no CONFIG RESETSTAT).
    out = world.run("cache-not-working", min_hit_rate_pct=101, sample_seconds=1,
                    fields={"action": "config"})
    assert out.status_of("hit_rate") == "failed"
    assert ">= inputs.min_hit_rate_pct" in out.step("hit_rate").error
    assert out.status_of("config") == "succeeded"
    # a diagnosis: the failed check is recorded, not fatal, and never reported as success
    assert out.status == "completed_with_failures" and out.exit_code == 6


# -- end to end: users -------------------------------------------------------------------

TABLES = {"users": "id", "user_activity": "user_id", "user_progress": "user_id",
          "audit_logs": "user_id", "session_logs": "user_id", "accounts": "user_id",
          "sessions": "user_id"}


def _counts(world: World, user_id: str) -> dict[str, tuple[int, int]]:
    """Per table: (rows of this user, rows of everyone else)."""
    out = {}
    for table, col in TABLES.items():
        mine, rest = world.sql(
            f"SELECT count(*) FILTER (WHERE {col} = %s), "
            f"count(*) FILTER (WHERE {col} IS DISTINCT FROM %s) FROM {table}",
            (user_id, user_id))[0]
        out[table] = (mine, rest)
    return out


def test_user_lookup_shows_the_account(world: World) -> None:
    out = world.run("user-lookup", email="USER@example.com")
    assert out.status == "succeeded", out.error
    assert out.outputs("user")["id"] == "user_123"
    assert out.result("activity")["rowcount"] == 5
    assert out.result("activity")["rows"][0]["action"] == "lesson_completed"
    assert {r["deck"] for r in out.result("progress")["rows"]} == {"gre-core", "toefl-1000"}


def test_user_lookup_fails_for_an_unknown_email(world: World) -> None:
    out = world.run("user-lookup", email="nobody@example.com")
    assert out.exit_code == 1
    assert "result.rowcount == 1" in out.step("user").error


def test_user_delete_soft_keeps_the_data(world: World) -> None:
    # the hard (GDPR) erasure needs two signed approvals: tests/test_library_approvals.py
    before = _counts(world, "user_123")
    assert all(mine > 0 for mine, _ in before.values())
    soft = world.run("user-delete", email="user@example.com")
    assert soft.status == "succeeded", soft.error
    assert world.sql("SELECT deleted_at IS NOT NULL FROM users WHERE id = 'user_123'") == [(True,)]
    assert _counts(world, "user_123") == before  # soft: nothing removed
    for step in ("confirm_hard", "hard_delete", "verify"):
        assert soft.status_of(step) == "skipped"
    assert soft.result("footprint")["row"]["accounts"] == 1


def test_user_delete_hard_refused_deletes_nothing(world: World) -> None:
    before = _counts(world, "user_456")
    out = world.run("user-delete", email="maria.gonzalez@example.com", mode="hard",
                    confirms=False)
    assert out.exit_code == 4
    assert _counts(world, "user_456") == before


def test_user_password_reset_through_the_api(world: World) -> None:
    out = world.run("user-password-reset", email="maria.gonzalez@example.com")
    assert out.status == "succeeded", out.error
    assert world.api.reset_emails == ["maria.gonzalez@example.com"]
    assert out.status_of("script") == "skipped"


def test_user_password_reset_with_the_script(world: World) -> None:
    out = world.run("user-password-reset", email="user@example.com", method="script",
                    app_dir=str(world.tmp))
    assert out.status == "succeeded", out.error
    assert world.doubles_called() == [
        ["node", "scripts/generate-password-reset-token.js", "user@example.com"]]
    assert world.api.reset_emails == []


def test_user_password_reset_refuses_a_deleted_account(world: World) -> None:
    out = world.run("user-password-reset", email="kenji.sato@example.com")
    assert out.exit_code == 1
    assert "deleted_at is none" in out.step("user").error
    assert world.api.reset_emails == []


# -- end to end: database upkeep ---------------------------------------------------------


def _users(world: World) -> int:
    return world.sql("SELECT count(*) FROM users")[0][0]


def test_db_backup_then_restore_brings_the_data_back(world: World) -> None:
    backups = world.tmp / "backups"
    backups.mkdir()
    backup = world.run("db-backup", backup_dir=str(backups))
    assert backup.status == "succeeded", backup.error
    file = backup.outputs("dump")["file"]
    assert file.startswith(str(backups / "backup_")) and file.endswith(".sql.gz")
    assert oct(Path(file).stat().st_mode & 0o777) == "0o600"
    assert Path(file).stat().st_size > 1000
    users = _users(world)

    world.sql("DELETE FROM user_activity WHERE user_id = 'user_456'")
    world.sql("DELETE FROM user_progress WHERE user_id = 'user_456'")
    world.sql("DELETE FROM audit_logs WHERE user_id = 'user_456'")
    world.sql("DELETE FROM session_logs WHERE user_id = 'user_456'")
    world.sql("DELETE FROM accounts WHERE user_id = 'user_456'")
    world.sql("DELETE FROM sessions WHERE user_id = 'user_456'")
    world.sql("DELETE FROM users WHERE id = 'user_456'")
    assert _users(world) == users - 1

    restore = world.run("db-restore", backup_file=file, backup_dir=str(backups),
                        confirm_word="restore")
    assert restore.status == "succeeded", restore.error
    assert _users(world) == users
    assert world.sql("SELECT email FROM users WHERE id = 'user_456'") == [
        ("maria.gonzalez@example.com",)]
    assert restore.result("verify")["row"]["latest_migration"] == "20240114101500_soft_delete"
    safety = restore.outputs("safety_dump")["file"]
    assert Path(safety).name.startswith("before_restore_") and Path(safety).stat().st_size > 0


def test_db_restore_asks_for_the_word_and_shows_the_target(world: World) -> None:
    backups = world.tmp / "backups"
    backups.mkdir()
    file = world.run("db-backup", backup_dir=str(backups)).outputs("dump")["file"]
    world.sql("DELETE FROM user_progress")
    refused = world.run("db-restore", backup_file=file, confirms=False)
    assert refused.exit_code == 4
    assert world.sql("SELECT count(*) FROM user_progress") == [(0,)]  # untouched
    database = world.db_url.rsplit("/", 1)[1]
    assert refused.result("target")["row"]["database"] == database
    asked = [q for q in refused.asked if q.startswith("type:")]
    assert asked == ["type: restore"]


def test_db_restore_refuses_a_truncated_backup(world: World) -> None:
    backups = world.tmp / "backups"
    backups.mkdir()
    file = Path(world.run("db-backup", backup_dir=str(backups)).outputs("dump")["file"])
    cut = backups / "backup_cut.sql"
    cut.write_bytes(gzip.decompress(file.read_bytes())[:5000])
    out = world.run("db-restore", backup_file=str(cut), confirm_word="restore")
    assert out.exit_code == 1
    assert out.status_of("check_file") == "failed"
    assert "restore" not in out.steps


def test_db_backup_fails_when_pg_dump_fails(world: World) -> None:
    # pipefail: without it, `pg_dump | gzip` "succeeds" with a valid, empty-looking .gz
    bad = world.db_url.rsplit("/", 1)[0] + "/no_such_database_here"
    out = world.run("db-backup", backup_dir=str(world.tmp), env={"DATABASE_URL": bad})
    assert out.exit_code == 1
    assert out.status_of("size") == "failed"


def test_db_vacuum_plain(world: World) -> None:
    world.sql("DELETE FROM user_activity WHERE id %% 2 = 0")
    out = world.run("db-vacuum")
    assert out.status == "succeeded", out.error
    assert out.status_of("vacuum") == "succeeded"
    assert out.status_of("vacuum_full") == "skipped"
    dead = {r["table"]: r["dead"] for r in out.result("dead_rows_after")["rows"]}
    assert dead["user_activity"] == 0


def test_db_vacuum_full_needs_the_typed_word(world: World) -> None:
    # --yes alone does not answer a typed word: the operator is asked, and types it wrong
    refused = world.run("db-vacuum", full=True, typed="vacuum")
    assert refused.exit_code == 4
    assert refused.asked == ["type: vacuum-full"]
    assert refused.status_of("vacuum") == "skipped"
    out = world.run("db-vacuum", full=True, confirm_word="vacuum-full")
    assert out.status == "succeeded", out.error
    assert out.status_of("vacuum_full") == "succeeded"


def test_db_maintenance_weekly(world: World) -> None:
    out = world.run("db-maintenance-weekly")
    assert out.status == "succeeded", out.error
    tables = {r["tablename"] for r in out.result("sizes")["rows"]}
    assert {"users", "user_activity", "audit_logs", "_prisma_migrations"} <= tables
    assert out.result("sizes")["rows"][0]["tablename"] == "user_activity"


def test_db_maintenance_monthly_deletes_only_expired_logs(world: World) -> None:
    old_audit, young_audit = world.sql(
        "SELECT count(*) FILTER (WHERE created_at < now() - interval '90 days'), "
        "count(*) FILTER (WHERE created_at >= now() - interval '90 days') FROM audit_logs")[0]
    old_sessions, young_sessions = world.sql(
        "SELECT count(*) FILTER (WHERE created_at < now() - interval '30 days'), "
        "count(*) FILTER (WHERE created_at >= now() - interval '30 days') FROM session_logs")[0]
    assert old_audit and old_sessions
    out = world.run("db-maintenance-monthly", backup_dir=str(world.tmp),
                    confirm_word="vacuum-full", fields={"window": "Sun 02:00-03:00 UTC"})
    assert out.status == "succeeded", out.error
    assert out.result("old_rows")["row"] == {"audit_logs": old_audit,
                                             "session_logs": old_sessions}
    assert out.outputs("delete_audit_logs")["deleted"] == old_audit
    assert out.outputs("delete_session_logs")["deleted"] == old_sessions
    assert world.sql("SELECT count(*) FROM audit_logs") == [(young_audit,)]
    assert world.sql("SELECT count(*) FROM session_logs") == [(young_sessions,)]
    assert out.result("window")["fields"] == {"window": "Sun 02:00-03:00 UTC"}


def test_db_migrate_applies_and_verifies(world: World) -> None:
    out = world.run("db-migrate", app_dir=str(world.tmp), backup_dir=str(world.tmp),
                    fields={"staging_run_url": "https://ci.example.com/run/42"})
    assert out.status == "succeeded", out.error
    assert out.outputs("count_before")["applied"] == 4
    assert out.result("verify")["row"] == {"applied": 5, "unfinished": 0,
                                           "latest": "20240121103000_add_streak_freeze"}
    assert ["npx", "--no", "prisma", "migrate", "deploy"] in world.doubles_called()


def test_db_migrate_fails_on_a_half_applied_migration(world: World) -> None:
    world.sql("INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at) "
              "VALUES ('x-1', 'abc', '20240120000000_broken', now())")
    out = world.run("db-migrate", app_dir=str(world.tmp), backup_dir=str(world.tmp))
    assert out.exit_code == 1
    assert "result.row.unfinished == 0" in out.step("count_before").error


# -- end to end: health and incidents ----------------------------------------------------


def test_health_check_passes_on_a_healthy_system(world: World) -> None:
    out = world.run("health-check", max_pool_usage_pct=100)
    assert out.status == "succeeded", out.error
    assert out.outputs("slis") == {"error_rate_pct": 0.08, "p95_ms": 182.0, "p99_ms": 431.0,
                                   "healthy": True, "breaches": []}
    assert [r["path"] for r in world.api.requests] == ["/health", "/"]
    assert [r["path"] for r in world.sentry.requests] == ["/api/0/organizations/vocavision/events/"]


def test_health_check_fails_loudly_when_an_sli_breaches(world: World) -> None:
    world.sentry.degrade()
    out = world.run("health-check", max_pool_usage_pct=100)
    assert out.exit_code == 1
    error = out.step("slis").error
    assert "(result.json.data[0]['failure_rate()'] * 100) < inputs.max_error_rate_pct" in error
    assert "0.024" in error  # the value it saw (a fraction, as Sentry gives it)


def test_health_check_fails_when_a_dependency_is_unhealthy(world: World) -> None:
    world.api.health = {"status": "degraded", "checks": {"database": "healthy",
                                                         "redis": "unhealthy"}}
    out = world.run("health-check", max_pool_usage_pct=100)
    assert out.exit_code == 1
    assert out.status_of("api_health") == "failed"
    assert "database" not in out.steps  # stopped at the first unhealthy check


def test_sli_check_measures_and_enforces(world: World) -> None:
    out = world.run("sli-check", period="24h")
    assert out.status == "succeeded", out.error
    assert world.sentry.requests[-1]["query"]["statsPeriod"] == ["24h"]
    world.sentry.degrade()
    measured = world.run("sli-check", enforce=False)
    assert measured.status == "succeeded", measured.error  # measure only: a breach is data
    assert measured.outputs("measure")["breaches"] == ["error rate", "p95", "p99"]
    enforced = world.run("sli-check")
    assert enforced.exit_code == 1
    assert "failure_rate()" in enforced.step("measure").error


def test_high_response_times_diagnoses_and_waits_for_recovery(world: World) -> None:
    world.sentry.recover_after(3)  # slow now; fast again from the third measurement on
    out = world.run("high-response-times",
                    fields={"cause": "database", "resolution": "index on user_activity"})
    assert out.status == "succeeded", out.error
    assert out.outputs("metrics")["p95_ms"] == 1340
    assert out.status_of("redis_slowlog") == "succeeded"
    assert out.result("diagnose")["fields"]["cause"] == "database"
    installed = out.outputs("statements_ext")["installed"]
    assert out.status_of("slow_queries") == ("succeeded" if installed else "skipped")
    assert out.outputs("recovered") == {"p95_ms": 182.0, "rounds": 2}  # sli-check called again
    assert out.status_of("escalate") == "skipped"


def test_high_response_times_stops_when_already_fast(world: World) -> None:
    out = world.run("high-response-times")
    assert out.status == "succeeded", out.error
    assert "diagnose" not in out.steps  # stopped: nothing to diagnose
    assert "nothing to do" in str(out.events[-1].data)


def test_high_error_rate_rolls_back_a_bad_deployment(world: World) -> None:
    world.vercel.ship_bad_release()
    world.sentry.degrade()

    def live_changed(dep: dict[str, object]) -> None:  # errors follow the live version
        world.api.set_live(dep)
        world.sentry.recover() if dep["healthy"] else world.sentry.degrade()

    world.vercel.live_changed = live_changed
    out = world.run("high-error-rate", app_dir=str(world.tmp),
                    fields={"pattern": "database", "cause": "deployment"})
    assert out.status == "succeeded", out.error
    called = world.doubles_called()
    assert called == [["npm", "outdated"]]  # exit 1 (outdated packages) is not a failure
    assert world.vercel.production == "dpl_7f3k2l9qpXyZ"  # promoted through Vercel's API
    # the bad deployment's runtime logs, from Vercel's REST API (tests/test_library_incidents.py)
    assert "PrismaClientKnownRequestError" in out.result("error_logs")["stdout"]
    assert out.status_of("hotfix") == "skipped"
    assert out.outputs("recovered") == {"error_rate_pct": 0.08, "rounds": 1}


def test_high_error_rate_still_high_stops_failed_to_escalate(world: World) -> None:
    world.sentry.degrade()
    out = world.run("high-error-rate", app_dir=str(world.tmp),
                    fields={"pattern": "api", "cause": "external"})
    assert out.exit_code == 1
    assert out.status_of("rollback") == "skipped"
    assert out.outputs("recovered")["rounds"] == 20  # waited every round, then said so
    assert out.status_of("escalate") == "succeeded"
    assert "still 2.4% errors after the fix (external): escalate" in (out.error or "")


def test_high_error_rate_stops_when_already_healthy(world: World) -> None:
    out = world.run("high-error-rate", app_dir=str(world.tmp))
    assert out.status == "succeeded", out.error
    assert "triage" not in out.steps and world.doubles_called() == []


def test_site_down_rolls_back_and_waits_for_the_site(world: World) -> None:
    out = world.run("site-down", host="localhost", fields={"cause": "deployment"})
    assert out.status == "succeeded", out.error
    assert world.doubles_called() == []  # no CLI: Vercel's REST API only
    assert out.outputs("inspect")["url"] == "web-7f3k2l9qp-vocavision.vercel.app"
    assert world.vercel.production == "dpl_2b8d1x0mzAbC"  # rolled back through Vercel's API
    assert out.status_of("dns") == "succeeded"
    assert out.status_of("status_page") == "skipped"  # the site answered


def test_site_down_carries_on_when_the_site_does_not_answer(world: World) -> None:
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    out = world.run("site-down", host="localhost", fields={"cause": "provider"},
                    env={"VOCAVISION_URL": dead})
    assert out.status_of("site") == "failed"
    assert out.status_of("triage") == "succeeded"
    assert out.status_of("provider") == "succeeded"
    assert out.exit_code == 1  # the site never came back
    assert out.status_of("recovered") == "failed"


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A real TLS server with a self-signed certificate for localhost, valid 30 days."""
    with serve_tls(tmp_path, "localhost") as served:
        yield served


def test_ssl_certificate_check(world: World, tls_server: tuple[int, Path]) -> None:
    port, cert = tls_server
    out = world.run("ssl-certificate-check", host="localhost", port=port, ca_file=str(cert))
    assert out.status == "succeeded", out.error
    assert "CN = localhost" in out.result("certificate")["stdout"]
    assert out.outputs("days_left")["days"] in (29, 30)
    assert out.status_of("https") == "skipped"


def test_ssl_certificate_check_fails_when_expiry_is_near(
        world: World, tls_server: tuple[int, Path]) -> None:
    port, cert = tls_server
    out = world.run("ssl-certificate-check", host="localhost", port=port, ca_file=str(cert),
                    min_days=60)
    assert out.exit_code == 1
    assert ">= inputs.min_days" in out.step("days_left").error


def test_ssl_certificate_check_fails_on_an_untrusted_chain(
        world: World, tls_server: tuple[int, Path]) -> None:
    port, _ = tls_server
    other = world.tmp / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=other", "-keyout", str(world.tmp / "k"), "-out", str(other)],
                   check=True, capture_output=True)
    out = world.run("ssl-certificate-check", host="localhost", port=port, ca_file=str(other))
    assert out.exit_code == 1
    assert out.status_of("chain") == "failed"


# -- end to end: security ----------------------------------------------------------------


def test_security_breach_preserves_evidence_and_assesses_the_scope(world: World) -> None:
    # locking accounts needs two signed approvals: tests/test_library_approvals.py
    out = world.run("security-breach", blocked_ips=["198.51.100.23"], evidence_dir=str(world.tmp),
                    fields={"affected_data": "email addresses of 2 users",
                            "breach_start": "2024-01-21T03:00Z"})
    assert out.status == "succeeded", out.error
    assert out.status_of("lock_accounts") == "skipped"
    evidence = Path(out.outputs("snapshot")["dir"])
    assert (evidence / "database.sql.gz").stat().st_size > 1000
    sums = (evidence / "SHA256SUMS").read_text()
    assert {"database.sql.gz", "vercel-runtime-logs.jsonl", "vercel-build-events.json"} <= {
        line.split()[1] for line in sums.splitlines()}
    # the live deployment's logs, from Vercel's REST API (no CLI), as Vercel sends them
    logs = [json.loads(line) for line in
            (evidence / "vercel-runtime-logs.jsonl").read_text().splitlines()]
    assert any(r["level"] == "error" and "PrismaClient" in r["message"] for r in logs)
    assert json.loads((evidence / "vercel-build-events.json").read_text())[0]["type"] == "stdout"
    asked = {r["path"] for r in world.vercel.requests}
    assert "/v1/projects/prj_vocavisionWeb1/deployments/dpl_7f3k2l9qpXyZ/runtime-logs" in asked
    assert world.doubles_called() == []
    trail = out.result("audit_trail")["rows"]
    assert {r["action"] for r in trail} >= {"login_failed"}
    assert {r["ip"] for r in trail if r["user_id"] == "user_456"} == {"198.51.100.23"}
    assert out.status_of("block_ips") == "succeeded"


def test_security_breach_snapshot_fails_when_the_logs_cannot_be_read(world: World) -> None:
    out = world.run("security-breach", evidence_dir=str(world.tmp),
                    env={"VERCEL_TOKEN": "revoked-token"})
    assert out.exit_code == 1  # evidence without the logs is not evidence: it says so
    assert out.status_of("live") == "failed"
    assert "audit_trail" not in out.steps


def test_security_breach_with_nothing_known_yet(world: World) -> None:
    out = world.run("security-breach", evidence_dir=str(world.tmp))
    assert out.status == "succeeded", out.error
    assert out.status_of("block_ips") == "skipped"
    assert out.result("audit_trail")["rowcount"] == 0
    assert world.api.reset_emails == []


def test_security_audit_flags_retention_and_gdpr_but_completes(world: World) -> None:
    out = world.run("security-audit", app_dir=str(world.tmp))
    assert out.status == "completed_with_failures", out.error  # exit 6: checks failed
    assert out.status_of("retention") == "failed"
    assert out.status_of("gdpr_erasure") == "failed"
    assert "result.rowcount == 0" in out.step("gdpr_erasure").error
    assert out.status_of("npm_audit_fix") == "skipped"
    failed = {r["ip"] for r in out.result("failed_logins")["rows"]}
    assert "198.51.100.23" in failed


def test_security_audit_fixes_vulnerabilities_when_asked(world: World) -> None:
    out = world.run("security-audit", app_dir=str(world.tmp), fix=True,
                    env={"FAKE_NPM_AUDIT_VULNS": "3"})
    assert out.status == "completed_with_failures", out.error  # retention, gdpr still fail
    assert out.outputs("npm_audit")["vulnerable"] is True
    assert ["npm", "audit", "fix"] in world.doubles_called()


def test_rotate_secrets_never_shows_the_new_value(world: World) -> None:
    # more in tests/test_library_rotate.py
    out = world.run("rotate-secrets", secret_name="NEXTAUTH_SECRET")
    assert out.status == "succeeded", out.error
    value = world.vercel.env_value("NEXTAUTH_SECRET")
    shown = "".join(str(e.data) for e in out.events)
    assert value and value not in shown
    assert not re.search(r"[A-Za-z0-9+/]{43}=", shown)


# -- end to end: maintenance and checklists ----------------------------------------------


def test_planned_maintenance_during(world: World) -> None:
    out = world.run("planned-maintenance", backup_dir=str(world.tmp))
    assert out.status == "succeeded", out.error
    assert Path(out.outputs("backup")["file"]).stat().st_size > 1000
    assert out.result("smoke_db")["value"] == 203
    assert out.status_of("schedule") == "skipped"
    assert out.status_of("slis") == "skipped"


def test_planned_maintenance_prepare_and_after(world: World) -> None:
    prepare = world.run("planned-maintenance", phase="prepare",
                        fields={"window": "Sun 2024-01-28 02:00-03:00 UTC"})
    assert prepare.status == "succeeded", prepare.error
    assert prepare.result("schedule")["fields"]["window"].startswith("Sun")
    assert prepare.status_of("backup") == "skipped"
    world.sentry.degrade()
    after = world.run("planned-maintenance", phase="after")
    assert after.exit_code == 1
    assert after.status_of("slis") == "failed"


def test_daily_checklist_all_green(world: World) -> None:
    out = world.run("daily-checklist", target_p95_ms=200,
                    fields={"recurring_problems": "none"})
    assert out.status == "succeeded", out.error
    assert out.status_of("escalate") == "skipped"
    assert out.result("active_users")["row"]["last_7_days"] > 100


def test_daily_checklist_asks_for_an_incident_when_a_check_fails(world: World) -> None:
    world.sentry.degrade()
    out = world.run("daily-checklist", fields={"recurring_problems": "quiz timeouts"})
    assert out.status_of("slis") == "failed"
    assert out.status_of("escalate") == "succeeded"
    assert out.result("escalate")["fields"]["incident_url"].startswith("https://")


def test_weekly_checklist(world: World) -> None:
    backups = world.tmp / "backups"
    backups.mkdir()
    world.run("db-backup", backup_dir=str(backups))
    out = world.run("weekly-checklist", app_dir=str(world.tmp), backup_dir=str(backups),
                    fields={"scaling_needed": "no"})
    assert out.status == "succeeded", out.error
    assert out.status_of("latest_backup") == "succeeded"
    assert out.status_of("npm_audit") == "succeeded"
    assert out.result("growth")["row"]["users"] == 204
    assert out.status_of("verdict") == "skipped"


def test_weekly_checklist_flags_a_missing_backup(world: World) -> None:
    out = world.run("weekly-checklist", app_dir=str(world.tmp), backup_dir=str(world.tmp),
                    fields={"scaling_needed": "no"})
    assert out.status_of("latest_backup") == "failed"
    assert "no backup_*.sql.gz in the backup folder" in out.result("latest_backup")["stderr"]
    assert out.exit_code == 1  # a failed check fails the checklist (it used to succeed)
    assert "failed checks: latest dump" in (out.error or "")


def test_monthly_checklist(world: World) -> None:
    out = world.run("monthly-checklist")
    assert out.status == "completed_with_failures", out.error  # exit 6: a check failed
    assert out.status_of("retention") == "failed"  # the seed data keeps old logs
    assert 0 <= out.outputs("db_cache_hit")["hit_pct"] <= 100
    assert "keyspace_hits" in out.result("redis_stats")["value"]


# -- end to end: deploys (Vercel's REST API; more in tests/test_library_deploy.py) --------


def test_deploy_builds_main_and_checks_it_is_live(world: World) -> None:
    before = world.vercel.production
    out = world.run("deploy")
    assert out.status == "succeeded", out.error
    live = world.vercel.live()
    assert live["uid"] != before and live["meta"]["githubCommitRef"] == "main"
    assert out.result("wait_build")["json"]["readyState"] == "READY"


def test_rollback_promotes_through_vercel(world: World) -> None:
    world.vercel.ship_bad_release()
    out = world.run("rollback")
    assert out.status == "succeeded", out.error
    assert world.vercel.production == "dpl_7f3k2l9qpXyZ"
    assert world.api.health["status"] == "healthy"


def test_scale_application_sets_function_defaults_and_redeploys(world: World) -> None:
    before = world.vercel.production
    out = world.run("scale-application", regions=["iad1", "sfo1"], max_duration=60,
                    cpu="performance")
    assert out.status == "succeeded", out.error
    assert world.vercel.resource_config == {"functionDefaultRegions": ["iad1", "sfo1"],
                                            "functionDefaultTimeout": 60,
                                            "functionDefaultMemoryType": "performance"}
    assert world.vercel.production != before
    assert world.vercel.live()["resourceConfig"] == world.vercel.resource_config
    assert out.outputs("current")["config"]["functionDefaultTimeout"] == 10  # what it was


# -- through the command line, as an operator runs them ---------------------------------


def _book(name: str) -> str:
    return str(RUNBOOKS / f"{name}.yaml")


def _run_id(stdout: str) -> str:
    started = [e for e in json_events(stdout) if e["event"] == "run_started"]
    assert started, stdout
    return started[0]["run_id"]


def _ended(stdout: str) -> dict[str, dict[str, object]]:
    return {e["step_id"]: e for e in json_events(stdout) if e["event"] == "step_ended"}


def test_cli_db_emergency_pauses_before_terminating_then_resumes(world: World) -> None:
    sleeper = Sleeper(world.db_url)
    try:
        wait_until(lambda: _active_longer_than(world, sleeper.pid, 1.5), "pg_sleep to be stuck")
        first = world.cli("run", _book("db-emergency"), "--var", "stuck_after=1 seconds",
                          "--output", "json")
        assert first.returncode == 3, first.stderr  # no terminal, no --yes: it waits
        assert _alive(world, sleeper.pid)
        assert "vvrun resume" in first.stderr + first.stdout
        run_id = _run_id(first.stdout)

        second = world.cli("resume", run_id, "--yes", "--output", "json")
        assert second.returncode == 0, second.stderr
        ended = _ended(second.stdout)
        assert ended["terminate"]["status"] == "succeeded"
        assert ended["terminate"]["outputs"] == {"terminated": 1}
        sleeper.thread.join(timeout=30)
        assert isinstance(sleeper.error, psycopg.errors.AdminShutdown)
        # the database URL is a secret input: its password never shows, its host does (§5.3)
        password = urlsplit(world.db_url).password
        assert not password or password not in second.stdout
    finally:
        sleeper.close()


def test_cli_cache_clear_flush_needs_the_confirm_word(world: World) -> None:
    r = world.redis(world.flush_redis_url)
    r.set(world.prefix + "k", "v")
    env = {"REDIS_URL": world.flush_redis_url}
    paused = world.cli("run", _book("cache-clear"), "--var", "flush_all=true", "--yes",
                       "--output", "json", env=env)
    assert paused.returncode == 3, paused.stderr  # --yes alone does not type FLUSHDB
    assert "--confirm-word FLUSHDB" in paused.stderr
    assert r.get(world.prefix + "k") == "v"
    done = world.cli("resume", _run_id(paused.stdout), "--yes", "--confirm-word", "FLUSHDB",
                     env=env)
    assert done.returncode == 0, done.stderr
    wait_until(lambda: r.dbsize() == 0, "FLUSHDB ASYNC to empty the db")


def test_cli_manual_steps_pause_and_resume_with_ack(world: World) -> None:
    first = world.cli("run", _book("db-migrate"), "--yes", "--var",
                      f"app_dir={world.tmp}", "--var", f"backup_dir={world.tmp}",
                      "--output", "json")
    assert first.returncode == 3, first.stderr
    run_id = _run_id(first.stdout)
    assert world.sql("SELECT count(*) FROM _prisma_migrations") == [(4,)]

    done = world.cli("resume", run_id, "--yes", "--ack", "staging",
                     "--field", "staging_run_url=https://ci.example.com/run/42",
                     "--output", "json")
    assert done.returncode == 0, done.stderr
    ended = _ended(done.stdout)
    assert ended["staging"]["result"]["fields"] == {
        "staging_run_url": "https://ci.example.com/run/42"}
    assert ended["verify"]["status"] == "succeeded"
    assert world.sql("SELECT count(*) FROM _prisma_migrations") == [(5,)]
    shown = world.cli("show", run_id)
    assert shown.returncode == 0, shown.stderr
    assert "staging" in shown.stdout


def _talks_to_servers(name: str) -> bool:
    import yaml

    doc = yaml.safe_load((RUNBOOKS / f"{name}.yaml").read_text())
    return any(k in step for step in doc["steps"] for k in ("sql", "redis", "http"))


@pytest.mark.parametrize("name", ALL)
def test_every_runbook_that_talks_to_servers_runs_end_to_end_here(name: str) -> None:
    source = Path(__file__).read_text()
    ran = re.search(rf'(world\.run\(|_book\()"{re.escape(name)}"', source)
    assert ran or not _talks_to_servers(name), f"no end-to-end test runs {name}"


def test_cli_database_password_never_shows(world: World) -> None:
    # trust auth ignores the password, so a URL with one still connects
    url = world.db_url.replace("postgres@", "postgres:Tr0ub4dor-s3cret@")
    proc = world.cli("run", _book("user-lookup"), "--var", "email=user@example.com",
                     "--output", "json", env={"DATABASE_URL": url})
    assert proc.returncode == 0, proc.stderr
    shown = world.cli("show", _run_id(proc.stdout), "--events")
    for text in (proc.stdout, proc.stderr, shown.stdout, shown.stderr):
        assert "Tr0ub4dor-s3cret" not in text


def test_db_emergency_escalates_when_the_database_does_not_answer(world: World) -> None:
    gone = world.db_url.rsplit("/", 1)[0] + "/vocavision_gone"
    out = world.run("db-emergency", env={"VOCAVISION_DB_ADMIN": gone},
                    fields={"ticket_url": "https://support.example.com/t/1", "action": "failover"})
    assert out.exit_code == 1  # the run fails, after the escalation path ran
    assert out.status_of("version") == "failed"
    for step in ("connections", "stuck", "terminate", "verify"):
        assert out.status_of(step) == "skipped"
    assert out.result("escalate")["fields"] == {"ticket_url": "https://support.example.com/t/1",
                                                "action": "failover"}


def test_redis_backup(world: World) -> None:
    # more in tests/test_library_checks.py
    out = world.run("redis-backup", backup_dir=str(world.tmp))
    assert out.status == "succeeded", out.error
    assert Path(out.outputs("copy")["file"]).read_bytes()[:5] == b"REDIS"
