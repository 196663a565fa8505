"""The data runbooks are right for the real systems (review of health-check, weekly-checklist,
redis-backup, cache-not-working, ssl-certificate-check, db-maintenance-monthly, db-migrate):

- pg_stat_statements is checked with what the app's own login may read (not
  `current_setting('shared_preload_libraries')`, superuser or pg_read_all_settings only), a
  view that cannot be read is reported, not a failed check, and the database query time is
  the calls-weighted mean, not the one slowest statement since the last reset;
- a Redis backup waits for a save already in progress (BGSAVE, SCHEDULE or not, is refused);
- the cache hit rate is measured over an interval, not since the server started;
- the certificate chain is verified for the host name asked about;
- the monthly deletes come before VACUUM FULL (and no REINDEX repeats its index builds);
- a migration is `prisma migrate deploy`, and its verification can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from world.harness import World
from world.tls import serve_tls

pytest_plugins = ["world.fixtures"]


# -- PostgreSQL as the app's login ---------------------------------------------------------


@pytest.fixture
def app_login(world: World) -> Iterator[str]:
    """The world's database through a plain LOGIN role, as the app's DATABASE_URL connects:
    no superuser, no pg_read_all_settings; it may read the app's tables."""
    role, password = f"vv_app_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    world.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    world.sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    parts = urlsplit(world.db_url)
    netloc = f"{role}:{quote(password)}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    try:
        yield urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    finally:
        world.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                  (role,))
        world.sql(f"DROP OWNED BY {role}")  # this database's grants
        world.sql(f"DROP ROLE {role}")


def _statements_readable(world: World) -> bool:
    """True when this server preloads pg_stat_statements and the world's database has it."""
    import psycopg

    try:
        world.sql("SELECT count(*) FROM pg_stat_statements(false)")
    except psycopg.Error:
        return False
    return True


def test_the_app_login_may_not_read_shared_preload_libraries(app_login: str) -> None:
    # what the old steps asked, and why they failed with the app's DATABASE_URL
    import psycopg

    with psycopg.connect(app_login, autocommit=True) as conn:
        # PostgreSQL 16+: "permission denied to examine …"; 15: "must be superuser or have
        # privileges of pg_read_all_settings to examine …"
        with pytest.raises(psycopg.errors.InsufficientPrivilege,
                           match=r"permission denied|must be superuser"):
            conn.execute("SELECT current_setting('shared_preload_libraries')")
        hidden = conn.execute("SELECT count(*) FROM pg_settings "
                              "WHERE name = 'shared_preload_libraries'").fetchone()
    assert hidden == (0,)


def test_health_check_runs_with_the_apps_login(world: World, app_login: str) -> None:
    out = world.run("health-check", max_pool_usage_pct=100, env={"DATABASE_URL": app_login})
    assert out.status == "succeeded", out.error
    if not out.outputs("db_statements")["created"]:
        assert out.status_of("db_query_time") == "skipped"
    elif _statements_readable(world):
        assert out.status_of("db_query_time") == "succeeded"
        assert out.outputs("db_query_time")["calls"] > 0
    else:  # CI's server may not preload it: the view's error is shown, not counted
        assert out.status_of("db_statements_loaded") == "failed"
        assert "shared_preload_libraries" in out.step("db_statements_loaded").error
        assert out.status_of("db_query_time") == "skipped"


def test_health_check_reports_an_unreadable_pg_stat_statements_without_failing(
        world: World, app_login: str) -> None:
    if not world.sql("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements'"):
        pytest.skip("pg_stat_statements is not installed on this server")
    world.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    if _statements_readable(world):
        # a server that preloads it (the sandbox): the view fails for the app's login as it
        # does where the library is not preloaded
        world.sql("REVOKE SELECT ON pg_stat_statements FROM PUBLIC")
        world.sql("REVOKE EXECUTE ON FUNCTION pg_stat_statements(boolean) FROM PUBLIC")
        why = "permission denied"
    else:  # created but not preloaded: the real case
        why = "shared_preload_libraries"
    out = world.run("health-check", max_pool_usage_pct=100, env={"DATABASE_URL": app_login})
    assert out.status == "succeeded" and out.exit_code == 0, out.error
    assert out.outputs("db_statements")["created"] is True
    assert out.status_of("db_statements_loaded") == "failed"
    assert why in out.step("db_statements_loaded").error
    assert out.status_of("db_query_time") == "skipped"


def _run_statements(world: World, slow: int, fast: int) -> None:
    import psycopg

    with psycopg.connect(world.db_url, autocommit=True) as conn:
        for _ in range(slow):
            conn.execute("SELECT pg_sleep(0.12)")
        for _ in range(fast):
            conn.execute("SELECT 1")


def test_health_check_query_time_is_weighted_by_calls(world: World) -> None:
    if not _statements_readable(world):
        pytest.skip("this server does not preload pg_stat_statements")
    # one slow statement among many fast ones: the old `max(mean_exec_time)` was 120 ms (> 100)
    _run_statements(world, slow=10, fast=1000)
    out = world.run("health-check", max_pool_usage_pct=100)
    assert out.status == "succeeded", out.error
    assert out.status_of("db_query_time") == "succeeded"
    assert out.outputs("db_query_time")["mean_ms"] < 5
    assert out.outputs("db_query_time")["calls"] >= 1010


def test_health_check_reports_a_slow_database_with_failures(world: World) -> None:
    if not _statements_readable(world):
        pytest.skip("this server does not preload pg_stat_statements")
    _run_statements(world, slow=10, fast=0)
    out = world.run("health-check", max_pool_usage_pct=100, max_db_p95_ms=20)
    assert out.status_of("db_query_time") == "failed"
    assert "result.row.mean_ms < inputs.max_db_p95_ms" in out.step("db_query_time").error
    assert out.status == "completed_with_failures" and out.exit_code == 6


def _backup_for_the_weekly(world: World) -> Path:
    backups = world.tmp / "backups"
    backups.mkdir()
    done = world.run("db-backup", backup_dir=str(backups))
    assert done.status == "succeeded", done.error
    return backups


def test_weekly_checklist_runs_with_the_apps_login(world: World, app_login: str) -> None:
    backups = _backup_for_the_weekly(world)
    out = world.run("weekly-checklist", app_dir=str(world.tmp), backup_dir=str(backups),
                    fields={"scaling_needed": "no", "last_backup_at": "2024-01-21T03:00Z"},
                    env={"DATABASE_URL": app_login})
    assert out.status == "succeeded", out.error
    assert out.status_of("statements") == "succeeded"
    loaded = out.status_of("statements_loaded") == "succeeded"
    assert out.status_of("slow_queries") == ("succeeded" if loaded else "skipped")
    assert out.status_of("no_statements") == ("skipped" if loaded else "succeeded")


def test_weekly_checklist_cannot_create_pg_stat_statements_with_the_apps_login(
        world: World, app_login: str) -> None:
    from vvrun.language.pipeline import load_runbook

    book = load_runbook(str(Path(__file__).parents[1] / "runbooks/weekly-checklist.yaml"))
    assert next(s for s in book.steps if s.id == "create_statements").danger is True
    if not world.sql("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements'"):
        pytest.skip("pg_stat_statements is not installed on this server")
    world.sql("DROP EXTENSION IF EXISTS pg_stat_statements")
    backups = _backup_for_the_weekly(world)
    out = world.run("weekly-checklist", app_dir=str(world.tmp), backup_dir=str(backups),
                    fields={"scaling_needed": "no", "last_backup_at": "2024-01-21T03:00Z"},
                    env={"DATABASE_URL": app_login})
    assert out.status == "succeeded", out.error
    assert out.outputs("statements") == {"installable": True, "created": False}
    # not a trusted extension: the app's login may not create it; shown, not counted
    assert out.status_of("create_statements") == "failed"
    assert "superuser" in out.step("create_statements").error.lower() or \
        "permission denied" in out.step("create_statements").error
    assert out.status_of("statements_loaded") == "skipped"
    assert out.status_of("slow_queries") == "skipped"
    assert "not created in this database" in _instructions(out, "no_statements")


def _instructions(out: Any, step_id: str) -> str:
    """The rendered text a step showed the operator (its `body` in the run's events)."""
    return "\n".join(str(e.data["body"]) for e in out.events
                     if e.data.get("step_id") == step_id and e.data.get("body"))


# -- a Redis of this test's own ------------------------------------------------------------


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    """A private redis-server: these tests slow its saves down and read its hit counters,
    which must not touch the Redis every other test shares."""
    from vvrun.sandbox.redis import start_redis, stop_redis

    binary = os.environ.get("VVRUN_SANDBOX_REDIS_SERVER") or shutil.which("redis-server")
    if not binary:
        from vvrun.sandbox import redis_server_binary

        binary = str(redis_server_binary())
    service = start_redis(tmp_path / "own-redis", Path(binary))
    try:
        yield service.url
    finally:
        stop_redis(service)


def test_redis_backup_waits_for_a_save_in_progress(world: World, own_redis: str) -> None:
    r = world.redis(own_redis)
    for i in range(6):
        r.set(f"k{i}", "v")
    # a save that takes about 0.6 s (0.1 s a key); the setting is read by the child at fork
    r.config_set("rdb-key-save-delay", 100_000)
    r.bgsave()
    r.config_set("rdb-key-save-delay", 0)
    assert r.info("persistence")["rdb_bgsave_in_progress"] == 1
    with pytest.raises(Exception, match="already in progress"):  # what the old step ran into
        r.execute_command("BGSAVE", "SCHEDULE")
    out = world.run("redis-backup", backup_dir=str(world.tmp), env={"REDIS_URL": own_redis})
    assert out.status == "succeeded", out.error
    assert out.step("before").attempts > 1  # it waited for the running save
    assert out.status_of("bgsave") == "succeeded"
    saved = out.result("saved")["value"]
    if out.outputs("before")["saves"] >= 0:  # Redis 7 counts saves
        assert saved["rdb_saves"] == out.outputs("before")["saves"] + 1
    else:  # an older one: the clock passed the last save before ours started
        assert out.status_of("next_second") == "succeeded"
        assert saved["rdb_last_save_time"] > out.outputs("before")["at"]
    assert Path(out.outputs("copy")["file"]).read_bytes()[:5] == b"REDIS"
    r.close()


def _traffic(url: str, key: str, stop: threading.Event) -> threading.Thread:
    import redis

    def loop() -> None:
        client = redis.Redis.from_url(url)
        while not stop.is_set():
            client.get(key)
            time.sleep(0.005)
        client.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def test_cache_hit_rate_is_measured_over_the_interval(world: World, own_redis: str) -> None:
    r = world.redis(own_redis)
    r.set("word:1", "x")
    pipe = r.pipeline(transaction=False)
    for _ in range(5000):  # months of good service: the lifetime ratio stays high
        pipe.get("word:1")
    pipe.execute()
    stop = threading.Event()
    thread = _traffic(own_redis, "word:missing", stop)  # the cache broke: every lookup misses
    try:
        out = world.run("cache-not-working", min_hit_rate_pct=80, sample_seconds=2,
                        fields={"action": "none"}, env={"REDIS_URL": own_redis})
    finally:
        stop.set()
        thread.join()
    assert out.outputs("stats")["lifetime_hit_rate_pct"] >= 80  # what the old check read
    assert out.status_of("hit_rate") == "failed"
    assert ">= inputs.min_hit_rate_pct" in out.step("hit_rate").error
    assert out.status == "completed_with_failures" and out.exit_code == 6
    r.close()


def test_cache_hit_rate_recovers_over_the_interval(world: World, own_redis: str) -> None:
    r = world.redis(own_redis)
    r.set("word:1", "x")
    pipe = r.pipeline(transaction=False)
    for _ in range(5000):  # a bad hour long ago: the lifetime ratio stays low
        pipe.get("word:missing")
    pipe.execute()
    stop = threading.Event()
    thread = _traffic(own_redis, "word:1", stop)  # fixed: every lookup hits
    try:
        out = world.run("cache-not-working", min_hit_rate_pct=80, sample_seconds=2,
                        fields={"action": "none"}, env={"REDIS_URL": own_redis})
    finally:
        stop.set()
        thread.join()
    assert out.status == "succeeded", out.error
    assert out.outputs("stats")["lifetime_hit_rate_pct"] < 80
    rate = out.outputs("hit_rate")
    assert rate["misses"] == 0 and rate["hits"] > 0 and rate["hit_rate_pct"] == 100.0
    r.close()


# -- TLS -------------------------------------------------------------------------------------


@pytest.fixture
def tls_for_other_name(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A TLS server whose certificate (its own CA) is valid, but for other.example."""
    with serve_tls(tmp_path, "other.example") as served:
        yield served


def test_ssl_chain_fails_for_a_certificate_issued_to_another_name(
        world: World, tls_for_other_name: tuple[int, Path]) -> None:
    port, cert = tls_for_other_name
    out = world.run("ssl-certificate-check", host="localhost", port=port, ca_file=str(cert))
    assert out.exit_code == 1
    assert out.status_of("days_left") == "succeeded"  # a valid certificate...
    assert out.status_of("chain") == "failed"  # ...for another name
    assert "hostname mismatch" in out.step("chain").error, out.step("chain").error


# -- monthly maintenance -----------------------------------------------------------------------


def _index_files(world: World) -> dict[str, int]:
    """Each index of audit_logs and the file that holds it (a rebuilt index has a new one)."""
    return dict(world.sql("SELECT indexrelid::regclass::text, pg_relation_filenode(indexrelid) "
                          "FROM pg_index WHERE indrelid = 'audit_logs'::regclass"))


def test_monthly_maintenance_deletes_before_vacuum_full(world: World) -> None:
    world.sql("ANALYZE audit_logs")
    size_before = world.sql("SELECT pg_relation_size('audit_logs')")[0][0]
    world.sql("INSERT INTO audit_logs (action, created_at) "
              "SELECT 'old', now() - interval '200 days' FROM generate_series(1, 20000)")
    index_files = _index_files(world)
    out = world.run("db-maintenance-monthly", backup_dir=str(world.tmp),
                    confirm_word="vacuum-full", fields={"window": "Sun 02:00-03:00 UTC"})
    assert out.status == "succeeded", out.error
    assert out.step("delete_audit_logs").ended_at <= out.step("vacuum_full").started_at
    assert out.step("delete_session_logs").ended_at <= out.step("vacuum_full").started_at
    # the deleted rows' space is given back now: the table is no bigger than before them
    assert world.sql("SELECT pg_relation_size('audit_logs')")[0][0] <= size_before
    # VACUUM FULL built every index afresh: a REINDEX after it would only repeat that
    assert "reindex" not in out.steps
    after = _index_files(world)
    assert after.keys() == index_files.keys()
    assert all(after[name] != index_files[name] for name in after)
    # the typed confirmation still comes before the locking step, after the deletes
    assert out.status_of("confirm_locking") == "succeeded"
    assert (out.step("verify").ended_at <= out.step("confirm_locking").started_at
            <= out.step("vacuum_full").started_at)


# -- migrations --------------------------------------------------------------------------------


def test_db_migrate_fails_when_the_deploy_applies_nothing(world: World) -> None:
    # `migrate deploy` reading another database (a stale .env): it applies nothing and exits 0
    out = world.run("db-migrate", app_dir=str(world.tmp), backup_dir=str(world.tmp),
                    env={"FAKE_PRISMA_DEPLOY": "noop"})
    assert out.status_of("pending") == "succeeded"
    assert out.outputs("pending")["up_to_date"] is False
    assert out.status_of("migrate") == "succeeded"
    assert out.exit_code == 1
    assert out.status_of("status_after") == "failed"
    assert "20240121103000_add_streak_freeze" in out.result("status_after")["stdout"]
    assert world.sql("SELECT count(*) FROM _prisma_migrations") == [(4,)]


def test_db_migrate_verify_fails_when_no_row_was_added(world: World) -> None:
    # Prisma content, yet the table gained nothing: `applied >= before` always held
    app = world.tmp / "app"
    (app / "prisma" / "migrations").mkdir(parents=True)
    for name in ("20230301120000_init", "20230815090000_user_progress",
                 "20231120153000_audit_logs", "20240114101500_soft_delete"):
        (app / "prisma" / "migrations" / name).mkdir()
    fake = world.tmp / "bin"
    fake.mkdir()
    # `status` says one is pending (it is told so), then up to date; the table never changes
    state = world.tmp / "status-calls"
    (fake / "npx").write_text(
        "#!/bin/sh\n"
        f'n=$(cat {state} 2>/dev/null || echo 0); echo $((n + 1)) > {state}\n'
        'case "$*" in\n'
        '  *"migrate status"*) [ "$n" -eq 0 ] && { echo "1 pending"; exit 1; }; '
        'echo "Database schema is up to date!";;\n'
        '  *) echo "No pending migrations to apply.";;\n'
        "esac\n")
    (fake / "npx").chmod(0o755)
    env = world.env()
    out = world.run("db-migrate", app_dir=str(app), backup_dir=str(world.tmp),
                    env={"PATH": f"{fake}:{env['PATH']}"})
    assert out.status_of("status_after") == "succeeded"
    assert out.exit_code == 1
    assert "result.row.applied > steps.count_before.outputs.applied" in out.step("verify").error


def test_db_migrate_deploys_the_apps_migrations(world: World) -> None:
    app = world.tmp / "app"
    migrations = app / "prisma" / "migrations"
    for name in ("20230301120000_init", "20230815090000_user_progress",
                 "20231120153000_audit_logs", "20240114101500_soft_delete",
                 "20240201090000_streak_freezes"):
        (migrations / name).mkdir(parents=True)
    (migrations / "20240201090000_streak_freezes" / "migration.sql").write_text(
        "ALTER TABLE users ADD COLUMN streak_freezes integer NOT NULL DEFAULT 0;\n")
    out = world.run("db-migrate", app_dir=str(app), backup_dir=str(world.tmp),
                    fields={"staging_run_url": "https://ci.example.com/run/43"})
    assert out.status == "succeeded", out.error
    calls = world.doubles_called()
    assert ["npx", "--no", "prisma", "migrate", "deploy"] in calls
    assert not any(c[0] == "npm" for c in calls)  # not `npm run db:migrate` (migrate dev)
    assert world.sql("SELECT count(*) FROM users WHERE streak_freezes = 0")[0][0] > 0
    assert out.result("verify")["row"]["latest"] == "20240201090000_streak_freezes"

    again = world.run("db-migrate", app_dir=str(app), backup_dir=str(world.tmp))
    assert again.status == "succeeded", again.error
    assert again.outputs("pending")["up_to_date"] is True
    assert "nothing_pending" in again.steps and "migrate" not in again.steps
    assert "no migration is pending" in (again.error or "")


def test_npx_double_refuses_a_deploy_over_a_failed_migration(world: World) -> None:
    world.sql("INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at) "
              "VALUES ('x-1', 'abc', '20240120000000_broken', now())")
    env = world.env()
    proc = subprocess.run(["npx", "--no", "prisma", "migrate", "deploy"], cwd=world.tmp,
                          env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and "P3009" in proc.stderr
    status = subprocess.run(["npx", "--no", "prisma", "migrate", "status"], cwd=world.tmp,
                            env=env, capture_output=True, text=True, check=False)
    assert status.returncode == 1 and "20240120000000_broken" in status.stdout
