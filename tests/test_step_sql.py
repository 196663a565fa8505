"""The `sql` step against a real PostgreSQL: results, transactions, settings, cancel, injection."""

from __future__ import annotations

import json
import re
import threading
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import ListConsole, ScriptedPrompter, connections, run_step

from vvrun.errors import Cancelled, Location, RunbookError, StepFailed, StepTimeout
from vvrun.language.model import Connection
from vvrun.language.templates import Templater
from vvrun.steps import sql
from vvrun.steps.base import Clients, StepIO

WHERE = Location("test.yaml", 1, 1, "t")


def ctx(**inputs: Any) -> dict[str, Any]:
    return {"inputs": inputs, "env": {}, "steps": {}}


@pytest.fixture
def db(pg_url: str) -> dict[str, Connection]:
    return connections(db=pg_url)


@pytest.fixture
def admin(pg_url: str) -> Iterator[psycopg.Connection]:
    """A connection of the test's own, to look at what the step did."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def table(admin: psycopg.Connection) -> Iterator[str]:
    name = f"t_sqlredis_{uuid.uuid4().hex[:12]}"
    admin.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, note text)")
    admin.execute(f"INSERT INTO {name} VALUES (1, 'one'), (2, 'two'), (3, 'three')")
    yield name
    admin.execute(f"DROP TABLE IF EXISTS {name}")


def exists(admin: psycopg.Connection, name: str) -> bool:
    return admin.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]


def make_io(clients: Clients, *, run_id: str | None = None, timeout: float | None = 30.0,
            cancel: threading.Event | None = None, step_id: str = "t") -> StepIO:
    return StepIO(run_id=run_id or uuid.uuid4().hex[:10], step_id=step_id, timeout=timeout,
                  clients=clients, console=ListConsole(), prompter=ScriptedPrompter(),
                  cancel=cancel or threading.Event(), where=WHERE)


def action_for(body: Any, conns: dict[str, Connection], **inputs: Any) -> sql.SqlAction:
    return sql.render(sql.parse(body, WHERE), Templater(ctx(**inputs), where=WHERE), conns)


# -- results --------------------------------------------------------------------------------------


def test_select_gives_every_result_field(db: dict[str, Connection], table: str) -> None:
    result = run_step("sql", f"SELECT id, note FROM {table} ORDER BY id", conns=db)
    assert result == {
        "rows": [{"id": 1, "note": "one"}, {"id": 2, "note": "two"}, {"id": 3, "note": "three"}],
        "row": {"id": 1, "note": "one"},
        "value": 1,
        "columns": ["id", "note"],
        "rowcount": 3,
        "status": "SELECT 3",
        "truncated": False,
        # by position (duplicate column names keep both) and each column's type, for screens
        "values": [[1, "one"], [2, "two"], [3, "three"]],
        "types": ["int4", "text"],
    }


def test_empty_select(db: dict[str, Connection], table: str) -> None:
    result = run_step("sql", f"SELECT id FROM {table} WHERE false", conns=db)
    assert result["rows"] == [] and result["row"] is None and result["value"] is None
    assert result["rowcount"] == 0 and result["status"] == "SELECT 0"
    assert result["truncated"] is False


def test_values_are_plain_json(db: dict[str, Connection]) -> None:
    result = run_step("sql", """
        SELECT 12.50::numeric AS price, 7::numeric AS whole, 2^62::bigint AS big,
               'NaN'::float8 AS nan, 'NaN'::numeric AS nnan,
               '2024-05-01 12:30:00+00'::timestamptz AS at, '2024-05-01'::date AS day,
               '12:30'::time AS clock, interval '5 minutes 1.5 seconds' AS age,
               'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id, '\\xdeadbeef'::bytea AS blob,
               '{"a": [1, 2.5, null]}'::jsonb AS doc, ARRAY[1, 2] AS arr,
               '10.0.0.1'::inet AS ip, int4range(1, 5) AS span, true AS yes, NULL AS nothing
    """, conns=db)
    row = result["row"]
    assert row == {
        "price": 12.5, "whole": 7, "big": 2**62, "nan": "nan", "nnan": "NaN",
        "at": "2024-05-01T12:30:00+00:00", "day": "2024-05-01", "clock": "12:30:00",
        "age": 301.5, "id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "blob": "\\xdeadbeef",
        "doc": {"a": [1, 2.5, None]}, "arr": [1, 2], "ip": "10.0.0.1", "span": "[1, 5)",
        "yes": True, "nothing": None,
    }
    json.dumps(result, allow_nan=False)  # strict JSON: no NaN, no Decimal, no datetime


def test_delete_gives_status_and_rowcount(db: dict[str, Connection], table: str,
                                          admin: psycopg.Connection) -> None:
    result = run_step("sql", f"DELETE FROM {table} WHERE id >= 2", conns=db)
    assert result["status"] == "DELETE 2" and result["rowcount"] == 2
    assert result["rows"] == [] and result["row"] is None and result["columns"] == []
    assert admin.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 1


def test_update_returning_gives_rows(db: dict[str, Connection], table: str) -> None:
    result = run_step("sql", f"UPDATE {table} SET note = 'x' WHERE id = 1 RETURNING id, note",
                      conns=db)
    assert result["rows"] == [{"id": 1, "note": "x"}]
    assert result["status"] == "UPDATE 1" and result["rowcount"] == 1


def test_cte_that_deletes_reports_its_own_status(db: dict[str, Connection], table: str) -> None:
    result = run_step("sql", f"WITH gone AS (SELECT 1) DELETE FROM {table} WHERE id = 3",
                      conns=db)
    assert result["status"] == "DELETE 1"


def test_ddl_has_status_and_zero_rowcount(db: dict[str, Connection],
                                          admin: psycopg.Connection) -> None:
    name = f"t_sqlredis_{uuid.uuid4().hex[:12]}"
    try:
        result = run_step("sql", f"CREATE TABLE {name} (a int)", conns=db)
        assert result["status"] == "CREATE TABLE" and result["rowcount"] == 0
        assert exists(admin, name)
    finally:
        admin.execute(f"DROP TABLE IF EXISTS {name}")


def test_several_statements_give_the_last_result(db: dict[str, Connection], table: str,
                                                 admin: psycopg.Connection) -> None:
    result = run_step("sql", f"""
        INSERT INTO {table} VALUES (10, 'ten');  -- a ; in a comment
        UPDATE {table} SET note = 'semi;colon' WHERE id = 10;
        SELECT note, $$;$$ AS dollar FROM {table} WHERE id = 10
    """, conns=db)
    assert result["rows"] == [{"note": "semi;colon", "dollar": ";"}]
    assert result["status"] == "SELECT 1"
    assert admin.execute(f"SELECT note FROM {table} WHERE id = 10").fetchone()[0] == "semi;colon"


def test_several_statements_with_a_templated_value_fail_clearly(
        db: dict[str, Connection], table: str) -> None:
    with pytest.raises(StepFailed) as err:
        run_step("sql", f"SELECT 1; DELETE FROM {table} WHERE id = {{{{ inputs.id }}}}",
                 conns=db, context=ctx(id=1))
    assert "split them into one step each" in (err.value.hint or "")


def test_max_rows_keeps_that_many_and_counts_the_rest(db: dict[str, Connection]) -> None:
    result = run_step("sql", {"query": "SELECT g FROM generate_series(1, 5000) g",
                              "max_rows": 3}, conns=db)
    assert result["rows"] == [{"g": 1}, {"g": 2}, {"g": 3}]
    assert result["rowcount"] == 5000 and result["truncated"] is True
    assert result["status"] == "SELECT 5000"


def test_max_rows_zero_keeps_no_rows(db: dict[str, Connection]) -> None:
    result = run_step("sql", {"query": "SELECT 1 AS a", "max_rows": 0}, conns=db)
    assert result["rows"] == [] and result["rowcount"] == 1 and result["truncated"] is True


def test_a_million_rows_stream_past_in_flat_memory(db: dict[str, Connection]) -> None:
    tracemalloc.start()
    try:
        result = run_step("sql", {"query": "SELECT g, 'padding padding' AS p "
                                  "FROM generate_series(1, 1000000) g", "max_rows": 10},
                          conns=db, timeout=120)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(result["rows"]) == 10 and result["rowcount"] == 1_000_000
    assert result["truncated"] is True
    # fetching them all would hold ~100 MiB of Python objects; streaming holds one chunk
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB"


# -- templated values are bound, never SQL text ---------------------------------------------------

PAYLOADS = ["1; DROP TABLE {t}; --", "' OR '1'='1", "$$;DROP TABLE {t};$$",
            "x'); DROP TABLE {t}; --"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_payloads_arrive_as_data(db: dict[str, Connection], table: str,
                                           admin: psycopg.Connection, payload: str) -> None:
    value = payload.format(t=table)
    found = run_step("sql", f"SELECT count(*) FROM {table} WHERE note = {{{{ inputs.v }}}}",
                     conns=db, context=ctx(v=value))
    assert found["value"] == 0  # `' OR '1'='1` matched nothing: it was compared as text
    echoed = run_step("sql", "SELECT {{ inputs.v }}::text AS v", conns=db, context=ctx(v=value))
    assert echoed["value"] == value
    run_step("sql", f"INSERT INTO {table} VALUES (99, {{{{ inputs.v }}}})", conns=db,
             context=ctx(v=value))
    assert exists(admin, table)
    assert admin.execute(f"SELECT note FROM {table} WHERE id = 99").fetchone()[0] == value


def test_ident_quotes_an_identifier(db: dict[str, Connection], table: str,
                                    admin: psycopg.Connection) -> None:
    result = run_step("sql", "SELECT count(*) FROM {{ inputs.t | ident }}", conns=db,
                      context=ctx(t=table))
    assert result["value"] == 3
    hostile = f'{table}"; DROP TABLE {table}; --'
    with pytest.raises(StepFailed, match="42P01"):
        run_step("sql", "SELECT count(*) FROM {{ inputs.t | ident }}", conns=db,
                 context=ctx(t=hostile))
    assert exists(admin, table)


def test_percent_signs_survive_next_to_parameters(db: dict[str, Connection]) -> None:
    result = run_step("sql", "SELECT '100%' AS a, {{ inputs.v }}::text || '%' AS b", conns=db,
                      context=ctx(v="50"))
    assert result["row"] == {"a": "100%", "b": "50%"}


def test_a_mapping_value_is_bound_as_jsonb(db: dict[str, Connection]) -> None:
    result = run_step("sql", "SELECT {{ inputs.doc }} -> 'a' AS a", conns=db,
                      context=ctx(doc={"a": [1, "x"]}))
    assert result["value"] == [1, "x"]


def test_a_list_value_is_bound_as_an_array(db: dict[str, Connection], table: str) -> None:
    result = run_step("sql", f"SELECT count(*) FROM {table} WHERE id = ANY({{{{ inputs.ids }}}})",
                      conns=db, context=ctx(ids=[1, 3]))
    assert result["value"] == 2


# -- the session: autocommit, transactions, read only, names, timeouts ----------------------------


def test_autocommit_by_default(db: dict[str, Connection], table: str,
                               admin: psycopg.Connection) -> None:
    clients = Clients()
    try:
        sql.execute(action_for(f"INSERT INTO {table} VALUES (4, 'four')", db), make_io(clients))
        # visible to another session while the run's connection is still open
        assert admin.execute(f"SELECT count(*) FROM {table} WHERE id = 4").fetchone()[0] == 1
    finally:
        clients.close()


@pytest.mark.parametrize("ok", [True, False])
def test_transaction_waits_for_the_engine_to_finish(db: dict[str, Connection], table: str,
                                                    admin: psycopg.Connection, ok: bool) -> None:
    clients = Clients()
    io = make_io(clients)
    try:
        body = {"query": f"INSERT INTO {table} VALUES (5, 'five') RETURNING id",
                "transaction": True}
        result = sql.execute(action_for(body, db), io)
        assert result["value"] == 5
        assert admin.execute(f"SELECT count(*) FROM {table} WHERE id = 5").fetchone()[0] == 0
        io.extra["finish"](ok)  # the engine: expect held (commit) or failed (roll back)
        count = admin.execute(f"SELECT count(*) FROM {table} WHERE id = 5").fetchone()[0]
        assert count == (1 if ok else 0)
        # the session is back in autocommit: the next step's effect is visible at once
        sql.execute(action_for(f"DELETE FROM {table} WHERE id = 1", db), make_io(clients))
        assert admin.execute(f"SELECT count(*) FROM {table} WHERE id = 1").fetchone()[0] == 0
    finally:
        clients.close()


def test_transaction_rolls_back_on_error(db: dict[str, Connection], table: str,
                                         admin: psycopg.Connection) -> None:
    clients = Clients()
    io = make_io(clients)
    try:
        body = {"query": f"INSERT INTO {table} VALUES (6, 'six'); SELECT 1 / 0",
                "transaction": True}
        with pytest.raises(StepFailed, match="22012"):
            sql.execute(action_for(body, db), io)
        assert "finish" not in io.extra
        assert admin.execute(f"SELECT count(*) FROM {table} WHERE id = 6").fetchone()[0] == 0
        # the connection is clean for the next step (not stuck in an aborted transaction)
        assert sql.execute(action_for("SELECT 1 AS one", db), make_io(clients))["value"] == 1
    finally:
        clients.close()


def test_an_unfinished_transaction_is_rolled_back_by_the_next_step(
        db: dict[str, Connection], table: str, admin: psycopg.Connection) -> None:
    clients = Clients()
    try:
        body = {"query": f"INSERT INTO {table} VALUES (7, 'seven')", "transaction": True}
        sql.execute(action_for(body, db), make_io(clients))  # nobody calls finish
        io = make_io(clients)
        sql.execute(action_for("SELECT 1", db), io)
        assert admin.execute(f"SELECT count(*) FROM {table} WHERE id = 7").fetchone()[0] == 0
        assert any("rolled back" in s for s in io.console.statuses)  # type: ignore[attr-defined]
    finally:
        clients.close()


def test_read_only_refuses_writes_then_the_session_writes_again(
        db: dict[str, Connection], table: str, admin: psycopg.Connection) -> None:
    clients = Clients()
    # the parser cannot see inside a function: the server's READ ONLY transaction refuses it
    admin.execute(f"CREATE FUNCTION {table}_wipe() RETURNS int LANGUAGE sql AS "
                  f"'DELETE FROM {table} RETURNING 1'")
    try:
        body = {"query": f"SELECT {table}_wipe()", "read_only": True}
        with pytest.raises(StepFailed, match="25006") as err:
            sql.execute(action_for(body, db), make_io(clients))
        assert "read-only transaction" in err.value.message
        assert admin.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 3
        sql.execute(action_for(f"DELETE FROM {table} WHERE id = 1", db), make_io(clients))
        assert admin.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 2
    finally:
        clients.close()
        admin.execute(f"DROP FUNCTION IF EXISTS {table}_wipe()")


def test_one_connection_per_run_named_for_the_run(db: dict[str, Connection]) -> None:
    clients = Clients()
    try:
        io1 = make_io(clients, run_id="r1sqlredis", step_id="first")
        io2 = make_io(clients, run_id="r1sqlredis", step_id="second")
        q = "SELECT pg_backend_pid() AS pid, current_setting('application_name') AS app"
        one = sql.execute(action_for(q, db), io1)["row"]
        two = sql.execute(action_for(q, db), io2)["row"]
        assert one["pid"] == two["pid"]
        # named in the conninfo, once: naming a step would cost a round trip per step
        assert one["app"] == two["app"] == "vvrun:r1sqlredis"
    finally:
        clients.close()


def test_application_name_prefix_from_the_connection(pg_url: str) -> None:
    conns = {"db": Connection("db", "postgres", {"url": pg_url, "application_name": "ops"})}
    result = run_step("sql", "SELECT current_setting('application_name')", conns=conns)
    assert result["value"] == "ops:test"


def test_step_timeout_becomes_statement_timeout(db: dict[str, Connection]) -> None:
    clients = Clients()
    try:
        with pytest.raises(StepTimeout) as err:
            sql.execute(action_for("SELECT pg_sleep(10)", db), make_io(clients, timeout=0.3))
        assert "statement_timeout" in err.value.message and "0.3s" in err.value.message
        assert "timeout" in (err.value.hint or "")
        # the next step on the same connection has its own (here: none) and works
        show = sql.execute(action_for("SHOW statement_timeout", db), make_io(clients,
                                                                            timeout=None))
        assert show["value"] == "0"
    finally:
        clients.close()


def test_connection_statement_timeout_applies_without_a_step_timeout(pg_url: str) -> None:
    conns = {"db": Connection("db", "postgres", {"url": pg_url, "statement_timeout": "250ms",
                                                  "lock_timeout": "100ms"})}
    result = run_step("sql", "SELECT current_setting('statement_timeout') AS s, "
                      "current_setting('lock_timeout') AS l", conns=conns, timeout=None)
    assert result["row"] == {"s": "250ms", "l": "100ms"}
    with pytest.raises(StepTimeout):
        run_step("sql", "SELECT pg_sleep(5)", conns=conns, timeout=None)


def test_lock_timeout_fails_fast_when_a_lock_is_held(pg_url: str, table: str) -> None:
    conns = {"db": Connection("db", "postgres", {"url": pg_url, "lock_timeout": "200ms"})}
    with psycopg.connect(pg_url) as holder:  # not autocommit: holds the lock until rollback
        holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(StepTimeout) as err:
            run_step("sql", f"SELECT * FROM {table}", conns=conns)
        holder.rollback()
    assert "lock_timeout 0.2s" in err.value.message
    assert "pg_locks" in (err.value.hint or "")


def test_default_lock_timeout_is_bounded(db: dict[str, Connection]) -> None:
    result = run_step("sql", "SHOW lock_timeout", conns=db, timeout=3)
    assert result["value"] == "3s"
    result = run_step("sql", "SHOW lock_timeout", conns=db, timeout=600)
    assert result["value"] == "10s"


def test_a_connection_killed_while_idle_is_replaced(db: dict[str, Connection],
                                                    admin: psycopg.Connection) -> None:
    clients = Clients()
    try:
        pid = sql.execute(action_for("SELECT pg_backend_pid()", db), make_io(clients))["value"]
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        admin.execute("SELECT pg_sleep(0.1)")  # let the backend exit before we use its socket
        again = sql.execute(action_for("SELECT pg_backend_pid()", db), make_io(clients))
        assert again["value"] != pid
    finally:
        clients.close()


# -- cancel ---------------------------------------------------------------------------------------


def _backends(admin: psycopg.Connection, run_id: str, state: str | None = None) -> list[Any]:
    q = "SELECT pid, state, query FROM pg_stat_activity WHERE application_name LIKE %s"
    rows = admin.execute(q, (f"vvrun:{run_id}%",)).fetchall()
    return [r for r in rows if state is None or r[1] == state]


def test_cancel_stops_the_query_on_the_server(db: dict[str, Connection],
                                              admin: psycopg.Connection) -> None:
    clients = Clients()
    cancel = threading.Event()
    run_id = "c" + uuid.uuid4().hex[:9]
    io = make_io(clients, run_id=run_id, cancel=cancel, timeout=60)
    outcome: dict[str, BaseException] = {}

    def step() -> None:
        try:
            sql.execute(action_for("SELECT pg_sleep(30)", db), io)
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=step)
    worker.start()
    try:
        # wait (event-driven, not timed) until the server runs the query
        for _ in range(2000):
            if _backends(admin, run_id, "active"):
                break
            admin.execute("SELECT pg_sleep(0.01)")
        assert _backends(admin, run_id, "active"), "the query never started"
        cancel.set()
        worker.join(20)
        assert not worker.is_alive()
        assert isinstance(outcome.get("error"), Cancelled)
        assert isinstance(outcome["error"].__cause__, psycopg.errors.QueryCanceled)
        assert _backends(admin, run_id, "active") == []
    finally:
        cancel.set()
        worker.join(20)
        clients.close()
    for _ in range(200):  # the connection closes asynchronously on the server
        if not _backends(admin, run_id):
            break
        admin.execute("SELECT pg_sleep(0.01)")
    assert _backends(admin, run_id) == []


def test_cancel_before_start_runs_nothing(db: dict[str, Connection], table: str,
                                          admin: psycopg.Connection) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        run_step("sql", f"DELETE FROM {table}", conns=db, cancel=cancel)
    assert admin.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 3


# -- errors in the query --------------------------------------------------------------------------


def test_syntax_error_names_sqlstate_and_line(db: dict[str, Connection]) -> None:
    with pytest.raises(StepFailed) as err:
        run_step("sql", "SELECT 1\n  , 2\nFROM nowhere WHER id = 1", conns=db)
    message = err.value.message
    assert "42601" in message and 'syntax error at or near "id"' in message
    assert "line 3" in message and "`FROM nowhere WHER id = 1`" in message
    assert err.value.where == WHERE


def test_undefined_table_error(db: dict[str, Connection]) -> None:
    with pytest.raises(StepFailed) as err:
        run_step("sql", "SELECT * FROM no_such_table_sqlredis", conns=db)
    assert "42P01" in err.value.message
    assert 'relation "no_such_table_sqlredis" does not exist' in err.value.message


def test_error_detail_is_shown(db: dict[str, Connection], table: str) -> None:
    with pytest.raises(StepFailed) as err:
        run_step("sql", f"INSERT INTO {table} VALUES (1, 'dup')", conns=db)
    assert "23505" in err.value.message and "detail: Key (id)=(1) already exists." in str(
        err.value)


def test_error_position_counts_bound_parameters(db: dict[str, Connection]) -> None:
    with pytest.raises(StepFailed) as err:
        run_step("sql", "SELECT {{ inputs.a }}::int,\n  nope_fn({{ inputs.b }})", conns=db,
                 context=ctx(a=1, b=2))
    assert "line 2" in err.value.message and "`nope_fn($2)`" in err.value.message


# -- render and describe --------------------------------------------------------------------------


def test_describe_shows_parameters_and_a_masked_target() -> None:
    conns = {"db": Connection("db", "postgres",
                              {"url": "postgresql://app:hunter22@db.internal:5432/app"})}
    action = action_for({"query": "DELETE FROM sessions\nWHERE user_id = {{ inputs.u }}",
                         "transaction": True}, conns, u="42")
    d = sql.describe(action)
    assert d.summary == "DELETE FROM sessions…"
    assert d.body == "DELETE FROM sessions\nWHERE user_id = $1"
    assert d.params == ("42",) and d.language == "sql"
    assert d.target == "postgresql://app:***@db.internal:5432/app"
    assert "hunter22" not in repr(d)
    assert any("transaction" in n for n in d.notes)


def test_describe_masks_a_keyword_dsn_password() -> None:
    conns = {"db": Connection("db", "postgres", {"url": "host=db user=app password=hunter22"})}
    assert "hunter22" not in (sql.describe(action_for("SELECT 1", conns)).target or "")


def test_render_reads_connection_settings_as_templates(pg_url: str) -> None:
    conns = {"db": Connection("db", "postgres", {"url": "{{ env.DB }}", "statement_timeout":
                                                  "2m", "connect_timeout": 3})}
    spec = sql.parse("SELECT 1", WHERE)
    action = sql.render(spec, Templater({"inputs": {}, "env": {"DB": pg_url}, "steps": {}},
                                        where=WHERE), conns)
    assert action.url == pg_url and action.statement_timeout == 120 and action.connect_timeout == 3


def test_render_without_a_connection_is_a_runbook_error() -> None:
    with pytest.raises(RunbookError, match="no postgres connection") as err:
        action_for("SELECT 1", {})
    assert "connections:" in (err.value.hint or "")


def test_render_with_a_bad_duration_is_a_runbook_error(pg_url: str) -> None:
    conns = {"db": Connection("db", "postgres", {"url": pg_url, "lock_timeout": "soon"})}
    with pytest.raises(RunbookError, match="lock_timeout") as err:
        action_for("SELECT 1", conns)
    assert "duration" in (err.value.hint or "")


def test_render_with_several_connections_needs_a_name(pg_url: str) -> None:
    conns = connections(a=pg_url, b=pg_url)
    with pytest.raises(RunbookError, match="several postgres connections"):
        action_for("SELECT 1", conns)
    assert action_for({"query": "SELECT 1", "connection": "b"}, conns).connection == "b"


@pytest.mark.parametrize(("query", "kind"), [
    ("SELECT 1", "rows"),
    ("  -- note\n /* c */ (SELECT 1) UNION SELECT 2;", "rows"),
    ("VALUES (1)", "rows"),
    ("WITH x AS (SELECT 1) SELECT * FROM x", "rows"),
    ("WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM x) SELECT n FROM x", "rows"),
    ("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", "rows"),
    ("WITH x AS (SELECT 1) DELETE FROM t", "other"),
    ("SELECT * INTO t2 FROM t", "other"),
    ("SELECT 'a;b', $$;$$, 'it''s;', \"x;\" FROM t", "rows"),
    ("SELECT 1; SELECT 2", "multi"),
    ("SELECT 1;  -- trailing\n", "rows"),
    ("DELETE FROM t", "other"),
    ("EXPLAIN SELECT 1", "other"),
    ("VACUUM", "other"),
    ("", "other"),
])
def test_classify(query: str, kind: str) -> None:
    from vvrun.steps import _pg

    assert _pg.classify(query) == kind


def test_a_wrong_guess_still_runs_correctly(db: dict[str, Connection]) -> None:
    # an E'' string with an escaped quote fools the lexer into seeing two statements
    result = run_step("sql", "SELECT E'\\';' AS a, 1 AS b", conns=db)
    assert result["row"] == {"a": "';", "b": 1}


def test_a_statement_streamed_by_mistake_runs_once(pg_url: str, table: str,
                                                   admin: psycopg.Connection) -> None:
    from vvrun.steps import _pg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        result = _pg.run(conn, f"INSERT INTO {table} VALUES (42, 'once')", None, kind="rows",
                         max_rows=10, transaction=False)
    assert result["rows"] == [] and result["status"] == ""
    assert admin.execute(f"SELECT count(*) FROM {table} WHERE id = 42").fetchone()[0] == 1


# -- round trips (SPEC §3.1: one per step) ----------------------------------------------------


def _round_trips(trace: Path) -> int:
    """Client-to-server synchronisation points in a libpq trace: each `Sync` (extended
    protocol) or `Query` (simple protocol) waits for the server once."""
    return sum(1 for line in trace.read_text().splitlines()
               if re.search(r"\tF\t\d+\t(Sync|Query)\b", line))


def _traced(session_conn: Any, path: Path) -> Any:
    fh = open(path, "w")  # noqa: SIM115 - closed by the caller after untrace
    session_conn.pgconn.trace(fh.fileno())
    return fh


def test_a_step_costs_one_round_trip_and_resets_nothing(db: dict[str, Connection],
                                                        tmp_path: Path) -> None:
    clients = Clients()
    try:
        first = make_io(clients, run_id="rtrips", step_id="a")
        sql.execute(action_for("SELECT 1", db), first)  # connects: settings ride on the conninfo
        (session,) = clients._clients.values()
        for step_id, query in (("b", "SELECT 2"), ("c", "SELECT {{ 1 }} AS one")):
            trace = tmp_path / f"{step_id}.trace"
            fh = _traced(session.conn, trace)
            try:
                out = sql.execute(action_for(query, db), make_io(
                    clients, run_id="rtrips", step_id=step_id))
            finally:
                session.conn.pgconn.untrace()
                fh.close()
            assert out["rowcount"] == 1
            assert _round_trips(trace) == 1, trace.read_text()
            assert "RESET" not in trace.read_text()
    finally:
        clients.close()


def test_a_changed_timeout_is_sent_once_then_kept(db: dict[str, Connection],
                                                  tmp_path: Path) -> None:
    clients = Clients()
    try:
        sql.execute(action_for("SELECT 1", db), make_io(clients, run_id="rt2", step_id="a"))
        (session,) = clients._clients.values()
        shown = "SELECT current_setting('statement_timeout')"
        slow = make_io(clients, run_id="rt2", step_id="b", timeout=7.0)
        trace = tmp_path / "b.trace"
        fh = _traced(session.conn, trace)
        try:
            assert sql.execute(action_for(shown, db), slow)["value"] == "7s"
            again = sql.execute(action_for(shown, db),
                                make_io(clients, run_id="rt2", step_id="c", timeout=7.0))
            assert again["value"] == "7s"
        finally:
            session.conn.pgconn.untrace()
            fh.close()
        assert _round_trips(trace) == 3  # the new timeout once, then one per step
    finally:
        clients.close()


def test_read_only_steps_have_a_read_only_session_of_their_own(db: dict[str, Connection]
                                                              ) -> None:
    clients = Clients()
    try:
        q = "SELECT pg_backend_pid() AS pid, current_setting('transaction_read_only') AS ro"
        rw = sql.execute(action_for(q, db), make_io(clients, run_id="ro1", step_id="a"))["row"]
        ro = sql.execute(action_for({"query": q, "read_only": True}, db),
                         make_io(clients, run_id="ro1", step_id="b"))["row"]
        assert rw["ro"] == "off" and ro["ro"] == "on" and rw["pid"] != ro["pid"]
        again = sql.execute(action_for(q, db), make_io(clients, run_id="ro1", step_id="c"))
        assert again["row"] == rw  # the writable session is unchanged: nothing to reset
    finally:
        clients.close()
