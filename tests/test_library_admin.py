"""The incident runbooks for the database reach it through the admin login when the app's
login has no connection left (issue 19): a real role with a low CONNECTION LIMIT, filled up."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from world.harness import World, wait_until

pytest_plugins = ["world.fixtures"]

LIMIT = 2


def _as_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{role}@{host}", parts.path, parts.query, ""))


@pytest.fixture
def app_role(world: World) -> Iterator[str]:
    """A login role like the app's, allowed only LIMIT connections; its URL."""
    role = f"vv_app_{uuid.uuid4().hex[:8]}"
    database = urlsplit(world.db_url).path.lstrip("/")
    with psycopg.connect(world.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT {LIMIT}')
        conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
    try:
        yield _as_role(world.db_url, role)
    finally:
        with psycopg.connect(world.admin_url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE usename = %s", (role,))
            conn.execute(f'REVOKE CONNECT ON DATABASE "{database}" FROM "{role}"')
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def _fill(url: str) -> list[psycopg.Connection]:
    conns = [psycopg.connect(url, autocommit=True, application_name="vocavision-web")
             for _ in range(LIMIT)]
    with pytest.raises(psycopg.OperationalError, match="too many connections"):
        psycopg.connect(url)
    return conns


def _idle_since(world: World, pid: int, seconds: float) -> bool:
    return bool(world.sql("SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = 'idle' "
                          "AND state_change < now() - make_interval(secs => %s)",
                          (pid, seconds)))


def test_pool_exhausted_frees_the_app_role_through_the_admin_login(world: World,
                                                                   app_role: str) -> None:
    held = _fill(app_role)
    try:
        for c in held:
            wait_until(lambda c=c: _idle_since(world, c.info.backend_pid, 4), "idle sessions")
        # DATABASE_URL is the app's login, which has no connection left: the old runbook
        # connected with it and failed at its first step.
        out = world.run("connection-pool-exhausted", idle_after="3 seconds",
                        max_usage_pct=100, env={"DATABASE_URL": app_role})
        assert out.status == "succeeded", out.error
        role = urlsplit(app_role).username
        assert role in out.outputs("by_role")["roles_at_limit"]
        assert out.outputs("terminate_idle")["terminated"] >= LIMIT
        settings = {r["name"] for r in out.result("pool_config")["rows"]}
        assert {"max_connections", "superuser_reserved_connections"} <= settings
        assert out.status_of("roles_ok") == "succeeded"
        psycopg.connect(app_role).close()  # the app can connect again
    finally:
        for c in held:
            c.close()


def test_pool_exhausted_fails_when_the_role_stays_at_its_limit(world: World,
                                                               app_role: str) -> None:
    held = _fill(app_role)
    try:
        # busy sessions are never terminated: the role stays at its limit → the run fails
        out = world.run("connection-pool-exhausted", idle_after="1 hours", max_usage_pct=100,
                        env={"DATABASE_URL": app_role})
        assert out.exit_code == 1
        assert out.status_of("roles_ok") == "failed"
        assert out.status_of("next_steps") == "succeeded"
        assert "still exhausted" in (out.error or "")
    finally:
        for c in held:
            c.close()


def test_db_emergency_terminates_a_stuck_query_when_the_app_role_is_full(
        world: World, app_role: str) -> None:
    conns = [psycopg.connect(app_role, autocommit=True, application_name="vocavision-web")
             for _ in range(LIMIT)]
    errors: list[BaseException] = []

    def stuck() -> None:
        try:
            conns[0].execute("SELECT pg_sleep(300)")
        except psycopg.Error as exc:
            errors.append(exc)

    thread = threading.Thread(target=stuck, daemon=True)
    thread.start()
    try:
        pid = conns[0].info.backend_pid
        wait_until(lambda: bool(world.sql(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = 'active' AND "
            "query_start < now() - interval '1.5 seconds'", (pid,))), "pg_sleep to be stuck")
        out = world.run("db-emergency", stuck_after="1 seconds",
                        env={"DATABASE_URL": app_role})
        assert out.status == "succeeded", out.error
        assert out.outputs("terminate")["terminated"] == 1
        thread.join(timeout=30)
        assert errors and isinstance(errors[0], psycopg.errors.AdminShutdown)
    finally:
        for c in conns:
            c.close()
