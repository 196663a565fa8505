"""The VocaVision runbook library: every runbook validates, plans, and — when it talks to
PostgreSQL, Redis or HTTP — runs end to end against the real servers of the test world."""

from __future__ import annotations

import gzip
import subprocess
import threading
from pathlib import Path

import psycopg
import pytest
from world.harness import REPO, RUNBOOKS, VVRUN, World, wait_until

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
    out = world.run("cache-clear", prefix=f"{world.prefix}cache:words:",
                    purge_edge_path="/api/words")
    assert out.status == "succeeded", out.error
    assert out.outputs("delete")["deleted"] == len(words)
    r = world.redis()
    assert r.exists(*words) == 0
    assert r.exists(*others) == len(others)
    assert out.status_of("flush") == "skipped"
    assert world.api.purged == ["/api/words"]


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
    assert out.status_of("delete") == "skipped"
    wait_until(lambda: r.dbsize() == 0, "FLUSHDB ASYNC to empty the db")
    r.close()


def test_cache_not_working_diagnoses_and_leaves_the_cache(world: World) -> None:
    _, others = _seed_cache(world)
    out = world.run("cache-not-working", min_hit_rate_pct=0, fields={"action": "none"})
    assert out.status == "succeeded", out.error
    assert out.status_of("hit_rate") == "succeeded"
    assert "keyspace_hits" in out.result("stats")["value"]
    for step in ("confirm_flush", "flush", "restart", "config"):
        assert out.status_of(step) == "skipped"
    assert world.redis().exists(*others) == len(others)


def test_cache_not_working_flushes_when_the_operator_decides(world: World) -> None:
    r = world.redis(world.flush_redis_url)
    r.set(world.prefix + "corrupt", "x")
    out = world.run("cache-not-working", min_hit_rate_pct=0, fields={"action": "flush"},
                    confirm_word="FLUSHDB", env={"REDIS_URL": world.flush_redis_url})
    assert out.status == "succeeded", out.error
    assert out.status_of("flush") == "succeeded"
    wait_until(lambda: r.dbsize() == 0, "FLUSHDB ASYNC to empty the db")


def test_cache_not_working_fails_loudly_on_a_low_hit_rate(world: World) -> None:
    r = world.redis(world.flush_redis_url)
    r.config_resetstat()
    for i in range(5):
        r.get(f"{world.prefix}missing:{i}")
    out = world.run("cache-not-working", min_hit_rate_pct=80, fields={"action": "config"},
                    env={"REDIS_URL": world.flush_redis_url})
    assert out.status_of("hit_rate") == "failed"
    assert ">= inputs.min_hit_rate_pct" in out.step("hit_rate").error
    assert out.status_of("config") == "succeeded"


# -- end to end: users -------------------------------------------------------------------

TABLES = {"users": "id", "user_activity": "user_id", "user_progress": "user_id",
          "audit_logs": "user_id", "session_logs": "user_id"}


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


def test_user_delete_soft_then_gdpr_hard(world: World) -> None:
    before = _counts(world, "user_123")
    assert all(mine > 0 for mine, _ in before.values())

    soft = world.run("user-delete", email="user@example.com")
    assert soft.status == "succeeded", soft.error
    assert world.sql("SELECT deleted_at IS NOT NULL FROM users WHERE id = 'user_123'") == [(True,)]
    assert _counts(world, "user_123") == before  # soft: nothing removed
    for step in ("confirm_hard", "hard_delete", "verify"):
        assert soft.status_of(step) == "skipped"

    hard = world.run("user-delete", email="user@example.com", mode="hard",
                     confirm_word="delete-user")
    assert hard.status == "succeeded", hard.error
    after = _counts(world, "user_123")
    for table, (mine, rest) in after.items():
        assert mine == 0, table
        assert rest == before[table][1], f"{table}: rows of other users changed"
    assert hard.result("hard_delete")["row"] == {t: m for t, (m, _) in before.items()}
    assert hard.status_of("verify") == "succeeded"


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
    assert ["npm", "run", "db:migrate"] in world.doubles_called()


def test_db_migrate_fails_on_a_half_applied_migration(world: World) -> None:
    world.sql("INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at) "
              "VALUES ('x-1', 'abc', '20240120000000_broken', now())")
    out = world.run("db-migrate", app_dir=str(world.tmp), backup_dir=str(world.tmp))
    assert out.exit_code == 1
    assert "result.row.unfinished == 0" in out.step("verify").error
