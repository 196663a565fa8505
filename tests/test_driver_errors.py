"""Every driver failure becomes one vvrun error with what, where and what to do.

psycopg and redis-py exceptions must never escape a step: each is translated once, chained
(`__cause__` is the driver's exception), with the target's password masked.

The shared PostgreSQL trusts every local connection (pg_hba `trust`), so a wrong password
cannot fail there: a private PostgreSQL with scram-sha-256 is started for that case.
"""

from __future__ import annotations

import inspect
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis as redis_py
from helpers import ListConsole, ScriptedPrompter, connections, run_step

from vvrun.errors import (
    Cancelled,
    ConnectFailed,
    Location,
    StepFailed,
    StepTimeout,
    VvrunError,
)
from vvrun.language.model import Connection
from vvrun.language.templates import Templater
from vvrun.steps import _pg_errors as _pg
from vvrun.steps import sql
from vvrun.steps.base import Clients, StepIO
from vvrun.steps.redis import client as _redis

WHERE = Location("test.yaml", 1, 1, "t")
PASSWORD = "s3cret-Pw"


def pg(url: str, **settings: Any) -> dict[str, Connection]:
    return {"db": Connection("db", "postgres", {"url": url, **settings})}


def rd(url: str, **settings: Any) -> dict[str, Connection]:
    return {"c": Connection("c", "redis", {"url": url, **settings})}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    return _free_port()  # bound then closed: nothing listens there


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.fixture(scope="module")
def private_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL of our own that asks for a password (scram-sha-256)."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.fail("initdb/pg_ctl are not on PATH: install the PostgreSQL server package")
    # not under pytest's tmp dir: its parents are private to root, the server user must enter
    base = Path(tempfile.mkdtemp(prefix="vvrun-test-pg-"))
    (base / "pw").write_text(PASSWORD + "\n")
    as_owner: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        shutil.chown(base, "postgres")
        shutil.chown(base / "pw", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", _free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*as_owner, *args], capture_output=True, text=True)
        if done.returncode:
            pytest.fail(f"{args[0]} failed: {done.stderr or done.stdout}")

    try:
        run(initdb, "-D", str(data), "-U", "vv", "--auth=scram-sha-256",
            f"--pwfile={base / 'pw'}", "--no-sync", "-E", "UTF8")
        run(pg_ctl, "-D", str(data), "-w", "-l", str(base / "log"), "-o",
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start")
        yield f"postgresql://vv:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_owner, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                           capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def assert_translated(err: VvrunError, driver: type[BaseException]) -> None:
    assert isinstance(err.__cause__, driver), f"not chained from {driver}: {err.__cause__!r}"
    assert err.where == WHERE
    assert err.hint, "every driver error says what to do"


# -- PostgreSQL: connecting -----------------------------------------------------------------------


def test_pg_wrong_password(private_pg: str) -> None:
    assert run_step("sql", "SELECT 1", conns=pg(private_pg))["value"] == 1
    wrong = private_pg.replace(PASSWORD, "not-the-Pw")
    with pytest.raises(ConnectFailed) as err:
        run_step("sql", "SELECT 1", conns=pg(wrong))
    assert_translated(err.value, psycopg.OperationalError)
    assert 'password authentication failed for user "vv"' in err.value.message
    assert "redis" not in err.value.message and "vv:***@127.0.0.1" in err.value.message
    assert "not-the-Pw" not in str(err.value)
    assert "password" in (err.value.hint or "")


def test_pg_missing_password(private_pg: str) -> None:
    with pytest.raises(ConnectFailed) as err:
        run_step("sql", "SELECT 1", conns=pg(private_pg.replace(f":{PASSWORD}", "")))
    assert_translated(err.value, psycopg.OperationalError)
    assert "password" in err.value.message and "password" in (err.value.hint or "")


def test_pg_missing_database(pg_url: str) -> None:
    url = pg_url.rsplit("/", 1)[0] + "/no_such_db_sqlredis"
    with pytest.raises(ConnectFailed) as err:
        run_step("sql", "SELECT 1", conns=pg(url))
    assert_translated(err.value, psycopg.OperationalError)
    assert 'database "no_such_db_sqlredis" does not exist' in err.value.message
    assert "database name" in (err.value.hint or "")


def test_pg_missing_role(pg_url: str) -> None:
    url = pg_url.replace("postgres@", "no_such_role_sqlredis@", 1)
    with pytest.raises(ConnectFailed) as err:
        run_step("sql", "SELECT 1", conns=pg(url))
    assert_translated(err.value, psycopg.OperationalError)
    assert 'role "no_such_role_sqlredis" does not exist' in err.value.message
    assert "user name" in (err.value.hint or "")


def test_pg_unreachable_port(closed_port: int) -> None:
    url = f"postgresql://app:hunter22@127.0.0.1:{closed_port}/app"
    with pytest.raises(ConnectFailed) as err:
        run_step("sql", "SELECT 1", conns=pg(url))
    assert_translated(err.value, psycopg.OperationalError)
    assert f"cannot connect to PostgreSQL at postgresql://app:***@127.0.0.1:{closed_port}/app" \
        in err.value.message
    assert "Connection refused" in err.value.message and "hunter22" not in str(err.value)
    assert "host and port" in (err.value.hint or "")


def test_pg_silent_server_hits_connect_timeout(silent_server: int) -> None:
    url = f"postgresql://app@127.0.0.1:{silent_server}/app"
    with pytest.raises(ConnectFailed) as err:
        run_step("sql", "SELECT 1", conns=pg(url, connect_timeout=1))
    assert_translated(err.value, psycopg.OperationalError)
    assert "timeout expired" in err.value.message and "connect_timeout 1s" in err.value.message
    assert "connect_timeout" in (err.value.hint or "")


def test_pg_malformed_url() -> None:
    with pytest.raises(ConnectFailed) as err:
        run_step("sql", "SELECT 1", conns=pg("postgresql://app@127.0.0.1:notaport/app"))
    assert_translated(err.value, psycopg.Error)
    assert "malformed" in (err.value.hint or "")


# -- PostgreSQL: running --------------------------------------------------------------------------

PG_FAILURES = [
    ("SELEC 1", {}, "42601"),
    ("SELECT * FROM no_such_table_sqlredis", {}, "42P01"),
    ("SELECT 1 / 0", {}, "22012"),
    ("SELECT {{ inputs.v }}::int", {"v": "abc"}, "22P02"),
    ("SELECT {{ inputs.v }}", {"v": {1, 2}}, "cannot adapt"),
    ("COPY (SELECT 1) TO STDOUT", {}, "COPY"),
    ("SELECT 1; SELECT {{ inputs.v }}", {"v": 1}, "42601"),
    ("CREATE TEMP TABLE tt_sqlredis (a int PRIMARY KEY);"
     " INSERT INTO tt_sqlredis VALUES (1), (1)", {}, "23505"),
    ("DO $$ BEGIN RAISE EXCEPTION 'custom %', 42 USING HINT = 'do the thing'; END $$", {}, "P0001"),
]


@pytest.mark.parametrize(("query", "inputs", "needle"), PG_FAILURES)
def test_pg_query_failures_are_translated(pg_url: str, query: str, inputs: dict[str, Any],
                                          needle: str) -> None:
    with pytest.raises(StepFailed) as err:
        run_step("sql", query, conns=pg(pg_url),
                 context={"inputs": inputs, "env": {}, "steps": {}})
    assert_translated(err.value, psycopg.Error)
    assert needle in err.value.message


def test_pg_server_hint_is_passed_on(pg_url: str) -> None:
    with pytest.raises(StepFailed) as err:
        run_step("sql", "DO $$ BEGIN RAISE EXCEPTION 'custom' USING HINT = 'do the thing'; "
                 "END $$", conns=pg(pg_url))
    assert err.value.hint == "do the thing"


def test_pg_timeout_and_cancel_are_translated(pg_url: str) -> None:
    with pytest.raises(StepTimeout) as err:
        run_step("sql", "SELECT pg_sleep(5)", conns=pg(pg_url), timeout=0.2)
    assert_translated(err.value, psycopg.errors.QueryCanceled)


def test_pg_backend_terminated_mid_query(pg_url: str) -> None:
    clients = Clients()
    run_id = "k" + uuid.uuid4().hex[:9]
    outcome: dict[str, BaseException] = {}
    action = sql.render(sql.parse("SELECT pg_sleep(30)", WHERE), Templater({}, where=WHERE),
                        pg(pg_url))
    io = StepIO(run_id=run_id, step_id="t", timeout=60, clients=clients, console=ListConsole(),
                prompter=ScriptedPrompter(), where=WHERE)

    def step() -> None:
        try:
            sql.execute(action, io)
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=step)
    worker.start()
    with psycopg.connect(pg_url, autocommit=True) as admin:
        q = ("SELECT pid FROM pg_stat_activity WHERE application_name = %s "
             "AND state = 'active'")
        pids: list[Any] = []
        for _ in range(2000):
            pids = admin.execute(q, (f"vvrun:{run_id}",)).fetchall()
            if pids:
                break
            admin.execute("SELECT pg_sleep(0.01)")
        assert pids, "the query never started"
        admin.execute("SELECT pg_terminate_backend(%s)", (pids[0][0],))
    worker.join(20)
    try:
        err = outcome["error"]
        assert isinstance(err, StepFailed) and not isinstance(err, ConnectFailed)
        assert "57P01" in err.message and "terminat" in err.message
        assert "unknown" in (err.hint or "")  # the operator must check whether it took effect
        assert isinstance(err.__cause__, psycopg.OperationalError)
        # the run's next sql step reconnects
        again = run_step("sql", "SELECT 1", conns=pg(pg_url), clients=clients)
        assert again["value"] == 1
    finally:
        clients.close()


def _subclasses(root: type) -> set[type]:
    found, todo = set(), [root]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def test_every_psycopg_exception_class_is_mapped() -> None:
    classes = {psycopg.Error} | _subclasses(psycopg.Error)
    assert len(classes) > 200  # every SQLSTATE class psycopg knows
    for cls in classes:
        exc = cls("boom")
        for cancelled in (False, True):
            err = _pg.translate(exc, sql="SELECT 1", target="postgresql://h/db", where=WHERE,
                                cancelled=cancelled, statement_timeout=1.0, lock_timeout=1.0)
            assert isinstance(err, VvrunError), cls
            assert err.where == WHERE and err.hint, cls
        connect = _pg.connect_error(exc, "postgresql://u:pw@h/db", 10, WHERE)
        assert isinstance(connect, ConnectFailed) and "pw" not in connect.message


def test_pg_cancel_maps_to_cancelled() -> None:
    err = _pg.translate(psycopg.errors.QueryCanceled("canceling statement due to user request"),
                        sql="", target="", where=WHERE, cancelled=True,
                        statement_timeout=None, lock_timeout=None)
    assert isinstance(err, Cancelled)


# -- Redis ----------------------------------------------------------------------------------------


@pytest.fixture
def acl_user(redis_url: str) -> Iterator[str]:
    """A password-protected ACL user on the shared Redis, allowed PING and GET only."""
    admin = redis_py.Redis.from_url(redis_url, socket_timeout=10)
    name = f"t-sqlredis-{uuid.uuid4().hex[:12]}"
    admin.execute_command("ACL", "SETUSER", name, "on", f">{PASSWORD}", "~*", "+ping", "+get",
                          "+client|setname")
    try:
        yield name
    finally:
        admin.execute_command("ACL", "DELUSER", name)
        admin.close()


def _with_user(redis_url: str, user: str, password: str) -> str:
    return redis_url.replace("redis://", f"redis://{user}:{password}@", 1)


def test_redis_wrong_password(redis_url: str, acl_user: str) -> None:
    assert run_step("redis", "PING", conns=rd(_with_user(redis_url, acl_user, PASSWORD)))
    with pytest.raises(ConnectFailed) as err:
        run_step("redis", "PING", conns=rd(_with_user(redis_url, acl_user, "not-the-Pw")))
    assert_translated(err.value, redis_py.AuthenticationError)
    assert "invalid username-password pair" in err.value.message
    assert "not-the-Pw" not in str(err.value) and f"{acl_user}:***@" in err.value.message
    assert "password" in (err.value.hint or "")


def test_redis_permission_denied(redis_url: str, acl_user: str) -> None:
    with pytest.raises(StepFailed) as err:
        run_step("redis", "SET t:sqlredis:x 1", conns=rd(_with_user(redis_url, acl_user,
                                                                     PASSWORD)))
    assert_translated(err.value, redis_py.ResponseError)
    assert "NOPERM" in err.value.message or "no permissions" in err.value.message


def test_redis_unreachable_port(closed_port: int) -> None:
    with pytest.raises(ConnectFailed) as err:
        run_step("redis", "PING", conns=rd(f"redis://:hunter22@127.0.0.1:{closed_port}/0"))
    assert_translated(err.value, redis_py.ConnectionError)
    assert "Connection refused" in err.value.message and "hunter22" not in str(err.value)
    assert "host and port" in (err.value.hint or "")


def test_redis_silent_server(silent_server: int) -> None:
    with pytest.raises(ConnectFailed) as err:
        run_step("redis", "PING", conns=rd(f"redis://127.0.0.1:{silent_server}/0"), timeout=0.3)
    assert_translated(err.value, redis_py.RedisError)
    assert "did not answer" in err.value.message


def test_redis_malformed_url() -> None:
    with pytest.raises(ConnectFailed) as err:
        run_step("redis", "PING", conns=rd("http://cache:6379"))
    assert isinstance(err.value.__cause__, ValueError)
    assert "redis://" in (err.value.hint or "")


def test_every_redis_exception_class_is_mapped() -> None:
    classes = {redis_py.RedisError} | _subclasses(redis_py.RedisError)
    for cls in classes:
        if inspect.isabstract(cls):
            continue
        try:
            exc = cls("boom")
        except Exception:  # cluster redirections parse their message: "<slot> <host:port>"
            exc = cls("3999 127.0.0.1:6381")
        err = _redis.translate(exc, target="redis://h:6379/0", command="GET k", where=WHERE,
                               timeout=1.0)
        assert isinstance(err, VvrunError), cls
        assert err.where == WHERE and err.hint, cls


def test_no_driver_exception_escapes_a_step(pg_url: str, redis_url: str, tmp_path: Path) -> None:
    """A sweep of failures through the public path: only vvrun errors come out."""
    cases: list[tuple[str, Any, dict[str, Connection]]] = [
        ("sql", "SELECT pg_sleep(5)", pg(pg_url, statement_timeout="50ms")),
        ("sql", "SELECT 'x'::jsonb", pg(pg_url)),
        ("sql", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", pg(pg_url)),
        ("redis", "GET", connections(c=redis_url)),
        ("redis", "EVAL 'return redis.call(\"nope\")' 0", connections(c=redis_url)),
        ("redis", "OBJECT ENCODING t:sqlredis:none", connections(c=redis_url)),
    ]
    for type_, body, conns in cases:
        try:
            run_step(type_, body, conns=conns, timeout=None)
        except VvrunError:
            continue
        except Exception as exc:  # pragma: no cover - the assertion below explains
            pytest.fail(f"{type_} {body!r} let {type(exc).__name__} escape: {exc}")


@pytest.fixture
def not_postgres() -> Iterator[int]:
    """A port where an HTTP server answers: psycopg's SSL request gets `H` back."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        done.set()
        srv.close()
        thread.join(timeout=5)


def test_pg_a_port_that_is_not_postgres_says_so(not_postgres: int) -> None:
    """"invalid response to SSL negotiation" is about what listens there, not the URL's
    syntax (its "invalid" matched the malformed-URL hint before)."""
    url = f"postgresql://app:hunter22@127.0.0.1:{not_postgres}/app"
    with pytest.raises(ConnectFailed) as err:
        run_step("sql", "SELECT 1", conns=pg(url))
    assert_translated(err.value, psycopg.OperationalError)
    assert "malformed" not in (err.value.hint or "")
    assert "is PostgreSQL listening there" in (err.value.hint or "")


def test_pg_a_role_at_its_connection_limit_is_not_told_to_check_its_name(pg_url: str) -> None:
    role = f"vv_limit_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
        try:
            url = pg_url.replace("postgres@", f"{role}@", 1)
            with pytest.raises(ConnectFailed) as err:
                run_step("sql", "SELECT 1", conns=pg(url))
        finally:
            admin.execute(f"DROP ROLE {role}")
    assert_translated(err.value, psycopg.OperationalError)
    assert f'too many connections for role "{role}"' in err.value.message
    assert "connection limit" in (err.value.hint or "")


@pytest.mark.parametrize(("server_says", "hint"), [
    # PostgreSQL's own texts (src/backend/utils/init/postinit.c, postmaster)
    ('FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute',
     "out of connection slots"),
    ("FATAL:  sorry, too many clients already", "out of connection slots"),
    ("FATAL:  the database system is starting up", "starting up"),
    ("FATAL:  the database system is not yet accepting connections", "starting up"),
    ("FATAL:  the database system is shutting down", "shutting down"),
    ('FATAL:  permission denied for database "app"', "GRANT CONNECT"),
])
def test_pg_connect_hints_name_the_real_cause(server_says: str, hint: str) -> None:
    """In an incident the hint must not send the operator to check a user or database name
    that is right: the specific message wins over the words it contains."""
    err = _pg.connect_error(psycopg.OperationalError(f"connection failed: {server_says}"),
                            "postgresql://app@db/app", 10, WHERE)
    assert hint in (err.hint or ""), err.hint
