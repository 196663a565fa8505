"""What only the SQLite store promises: its file, its settings, damage found on open, and
migrations (the PostgreSQL migrations are checked here too)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.test_state_support import run_record
from vvrun.errors import StateError
from vvrun.state._migrations import LATEST, MIGRATIONS, render
from vvrun.state.postgres import PostgresStore
from vvrun.state.sqlite import SqliteStore


def _filled(path: Path) -> None:
    store = SqliteStore(path)
    for i in range(200):  # enough pages that damage lands on data
        store.create_run(run_record(f"run-{i:04d}", source="x" * 2000))
    store.close()


def test_files_are_private_and_settings_durable(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.db"
    store = SqliteStore(path)
    try:
        store.create_run(run_record())
        for suffix in ("", "-wal", "-shm"):
            mode = os.stat(f"{path}{suffix}").st_mode & 0o777
            assert mode == 0o600, (suffix, oct(mode))
        assert (tmp_path / "deep").stat().st_mode & 0o777 == 0o700
        conn = store._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    finally:
        store.close()
    assert not list(tmp_path.glob("deep/.state.db.new-*"))  # no leftovers of creation


@pytest.mark.parametrize("damage", ["truncated", "overwritten", "empty", "not sqlite"])
def test_a_damaged_store_is_one_clear_error_and_left_alone(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "state.db"
    _filled(path)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        if damage == "truncated":
            fh.truncate(size // 2)
        elif damage == "overwritten":
            fh.seek(4096)  # page 2 onwards: the tables' root pages
            fh.write(b"\xff" * 4096 * 3)
        elif damage == "empty":
            fh.truncate(0)
        else:
            fh.seek(0)
            fh.write(b"# my notes, not a database\n")
    before = path.read_bytes()
    with pytest.raises(StateError) as info:
        SqliteStore(path)
    err = info.value
    assert err.message.startswith(f"state store {path} is damaged (")
    assert err.message.endswith("); vvrun will not start over it")
    assert "\n" not in err.message
    assert f"mv {path} {path}.broken" in err.hint
    assert len(err.format().splitlines()) == 2  # the message, and what to do
    assert path.read_bytes() == before  # never started over


def test_the_cli_reports_a_damaged_store_in_one_message(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"garbage" * 100)
    proc = subprocess.run([sys.executable, "-m", "vvrun", "runs"], capture_output=True,
                          text=True, env={**os.environ, "VVRUN_STATE": str(path)}, check=False)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0] == (f"vvrun: state store {path} is damaged (not an SQLite database); "
                        f"vvrun will not start over it")
    assert lines[1].startswith("  hint: move it aside")
    assert len(lines) == 2


def test_processes_creating_one_store_at_once_all_get_it(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "state.db"
    code = ("import sys; from vvrun.state.sqlite import SqliteStore; "
            "s = SqliteStore(sys.argv[1]); print(s.schema_version()); s.close()")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [(p.returncode, out.strip()) for p, (out, _err) in zip(procs, outs, strict=True)] \
        == [(0, str(LATEST))] * 8, [err for _out, err in outs]


# -- migrations ------------------------------------------------------------------------------

def test_a_new_store_is_at_the_latest_version(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    assert store.schema_version() == LATEST
    versions = [v for (v,) in store._conn.execute("SELECT version FROM schema_version")]
    assert versions == [v for v, _t, _s in MIGRATIONS]
    store.close()


def test_an_old_store_is_migrated_forward_keeping_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
    types = {"p": "", "int": "INTEGER", "real": "REAL",
             "serial_pk": "INTEGER PRIMARY KEY AUTOINCREMENT"}
    for statement in MIGRATIONS[0][2]:
        conn.execute(render(statement, types))
    conn.execute("INSERT INTO schema_version VALUES (1, 0)")
    conn.execute("INSERT INTO runs VALUES ('old-run', 'rb', 'p', 'h', 'succeeded', 'op', 'h',"
                 " 1, '{}', 1.0, 2.0, '0.0.1', '[]', NULL, '')")
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    try:
        assert store.schema_version() == LATEST
        assert store.get_run("old-run").status == "succeeded"
        indexes = {r[0] for r in store._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"runs_runbook", "runs_status", "locks_run"} <= indexes
    finally:
        store.close()


def test_a_store_from_a_newer_vvrun_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (?, 0)", (LATEST + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(StateError) as info:
        SqliteStore(path)
    assert info.value.message == (f"state store {path} has schema version {LATEST + 1}, "
                                  f"newer than this vvrun knows ({LATEST})")
    assert "upgrade vvrun" in info.value.hint


def test_postgres_migrates_an_empty_schema_once(pg_url: str) -> None:
    schema = f"t_state_{uuid.uuid4().hex[:12]}"
    first = PostgresStore(pg_url, schema=schema)
    try:
        assert first.schema_version() == LATEST
        second = PostgresStore(pg_url, schema=schema)  # finds it migrated, changes nothing
        assert second.schema_version() == LATEST
        second.close()
        with first.raw().cursor() as cur:
            cur.execute(f'SELECT count(*) FROM "{schema}".schema_version')
            assert cur.fetchone()[0] == len(MIGRATIONS)
    finally:
        first.drop_schema()
        first.close()


def test_old_sha256_chains_are_rekeyed_only_if_they_verify(tmp_path: Path) -> None:
    from vvrun.state.audit import GENESIS, legacy_hash
    from vvrun.state.verify import verify_chain

    path = tmp_path / "s.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
    types = {"p": "", "int": "INTEGER", "real": "REAL",
             "serial_pk": "INTEGER PRIMARY KEY AUTOINCREMENT"}
    for version, _t, statements in MIGRATIONS[:2]:
        for statement in statements:
            conn.execute(render(statement, types))
        conn.execute("INSERT INTO schema_version VALUES (?, 0)", (version,))
    for run_id, edited in (("good", False), ("edited", True)):
        prev = GENESIS
        for n in (1, 2):
            event = {"run_id": run_id, "n": n, "ts": float(n), "kind": "confirmed",
                     "operator": "al", "host": "h", "data": {"n": n}}
            hash_ = legacy_hash(prev, event)
            data = {"n": 99} if edited and n == 1 else event["data"]
            conn.execute("INSERT INTO events (chain, n, run_id, ts, kind, operator, host, data, "
                         "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (run_id, n, run_id, float(n), "confirmed", "al", "h",
                          json.dumps(data), prev, hash_))
            prev = hash_
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    try:
        good = store.events("good")
        assert [e["kind"] for e in good] == ["confirmed", "confirmed", "audit_rekeyed"]
        assert good[2]["data"]["from"] == "sha256" and "verified" in good[2]["data"]["why"]
        assert verify_chain(store, "good").ok
        report = verify_chain(store, "edited")
        assert [e["kind"] for e in store.events("edited")] == ["confirmed", "confirmed"]
        assert report.problem is not None and report.problem.position == 1
    finally:
        store.close()
