"""Destructive SQL is confirmed even when its author forgot `danger: true` (SPEC §3.1: "dangerous
wherever they hide"): PostgreSQL's parser reads the step at load, and a step that does not say
`danger:` is asked about as a redis write is. `danger: false` is the author's explicit opt-out.

Attacks as an author who forgot (or a reviewer who missed) the flag would write them, run
against a real PostgreSQL: the rows must survive an operator who says no."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.helpers import ScriptedPrompter
from tests.test_engine_support import Runner, write_runbook
from vvrun.language.pipeline import load_runbook

HIDDEN = {
    "cte": "WITH d AS (DELETE FROM {t} RETURNING 1) SELECT count(*) FROM d",
    "where_true": "UPDATE {t} SET n = n + 1 WHERE true",
    "do_block": "DO $$ BEGIN DELETE FROM {t}; END $$",
    "bare_delete": "DELETE FROM {t}",
}


@pytest.fixture
def table(pg_url: str) -> Iterator[str]:
    name = f"danger_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {name} (n int)")
        conn.execute(f"INSERT INTO {name} SELECT generate_series(1, 5)")
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


def _rows(pg_url: str, table: str) -> int:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def _book(tmp_path: Path, pg_url: str, sql: str, extra: str = "") -> Path:
    return write_runbook(tmp_path, f"""
        version: 1
        name: forgot
        title: Forgot the flag
        connections:
          db: {{postgres: "{pg_url}"}}
        steps:
          - id: wipe
            sql: "{sql}"
        {extra}""")


@pytest.mark.parametrize("kind", sorted(HIDDEN))
def test_unmarked_destructive_sql_is_asked_about_and_a_no_keeps_the_rows(
        tmp_path: Path, pg_url: str, table: str, kind: str) -> None:
    book = _book(tmp_path, pg_url, HIDDEN[kind].format(t=table))
    assert load_runbook(str(book)).steps[0].danger  # implied by the parser
    out = Runner().run(book, prompter=ScriptedPrompter(confirms=[False]))
    assert out.prompter.asked, "the operator was never asked"
    assert out.status != "succeeded"
    assert _rows(pg_url, table) == 5


def test_a_yes_runs_it(tmp_path: Path, pg_url: str, table: str) -> None:
    book = _book(tmp_path, pg_url, HIDDEN["cte"].format(t=table))
    out = Runner().run(book, prompter=ScriptedPrompter(confirms=[True]))
    assert out.status == "succeeded"
    assert _rows(pg_url, table) == 0


def test_danger_false_is_the_authors_explicit_opt_out(
        tmp_path: Path, pg_url: str, table: str) -> None:
    sql = HIDDEN["bare_delete"].format(t=table)
    book = write_runbook(tmp_path, f"""
        version: 1
        name: unattended
        title: Unattended purge
        connections:
          db: {{postgres: "{pg_url}"}}
        steps:
          - id: wipe
            danger: false
            sql: "{sql}"
        """)
    out = Runner().run(book)  # no terminal: a question would pause the run
    assert out.status == "succeeded" and not out.prompter.asked
    assert _rows(pg_url, table) == 0




def test_validate_and_plan_say_it_will_be_confirmed(tmp_path: Path) -> None:
    """Through the real CLI: validate warns with the parser's reason and says the operator
    will be asked; the plan counts and flags the step as dangerous."""
    import subprocess
    import sys

    vvrun = str(Path(sys.executable).with_name("vvrun"))
    book = _book(tmp_path, "postgresql://h/d", "CALL maint.purge_everything()")
    checked = subprocess.run([vvrun, "validate", str(book)], capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert ("CALL purge_everything runs a procedure whose effects vvrun cannot read; the "
            "operator will be asked to confirm it at run time") in checked.stdout
    plan = subprocess.run([vvrun, "plan", str(book)], capture_output=True, text=True, timeout=60)
    assert plan.returncode == 0, plan.stderr
    assert "1 steps · 1 danger" in plan.stdout or "1 step · 1 danger" in plan.stdout
    assert "the operator confirms this exact action" in plan.stdout
