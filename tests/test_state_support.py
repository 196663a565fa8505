"""The state tests' shared part — a factory of real stores of each kind — and `open_store`.

Every store test runs against SQLite (a file in tmp_path) and PostgreSQL (a schema of its own,
dropped afterwards), and against memory where one store handle is enough.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vvrun.errors import StateError
from vvrun.secrets import Masker
from vvrun.state import RunRecord, default_sqlite_path, open_store
from vvrun.state.memory import MemoryStore
from vvrun.state.postgres import PostgresStore
from vvrun.state.sqlite import SqliteStore

DURABLE = ("sqlite", "postgres")
ALL = ("memory", *DURABLE)


class Stores:
    """Opens handles on one store; each handle stands for one vvrun process."""

    def __init__(self, kind: str, tmp_path: Path, pg_url: str) -> None:
        self.kind = kind
        self.path = tmp_path / "state" / "state.db"
        self.pg_url = pg_url
        self.schema = f"t_state_{uuid.uuid4().hex[:12]}"
        self._open: list[Any] = []
        self._memory: MemoryStore | None = None

    def open(self, masker: Masker | None = None) -> Any:
        if self.kind == "memory":
            if self._memory is None:
                self._memory = MemoryStore(masker=masker)
            return self._memory
        store: Any = (SqliteStore(self.path, masker=masker) if self.kind == "sqlite"
                      else PostgresStore(self.pg_url, schema=self.schema, masker=masker))
        self._open.append(store)
        return store

    def env(self) -> dict[str, str]:
        """The environment that makes `open_store` (and the CLI) open this store."""
        if self.kind == "sqlite":
            return {"VVRUN_STATE": str(self.path)}
        if self.kind == "postgres":
            return {"VVRUN_STATE": self.pg_url, "VVRUN_STATE_SCHEMA": self.schema}
        return {"VVRUN_STATE": "memory"}

    def cleanup(self) -> None:
        for store in self._open:
            store.close()
        if self.kind == "postgres":
            dropper = PostgresStore(self.pg_url, schema=self.schema)
            dropper.drop_schema()
            dropper.close()


def make_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    pg_url = request.getfixturevalue("pg_url") if request.param == "postgres" else ""
    stores = Stores(request.param, tmp_path, pg_url)
    yield stores
    stores.cleanup()


def run_record(run_id: str | None = None, **changes: Any) -> RunRecord:
    base: dict[str, Any] = {
        "id": run_id or f"r-{uuid.uuid4().hex[:10]}", "runbook": "db-emergency",
        "path": "runbooks/db-emergency.yaml", "source_hash": "ab" * 32, "status": "running",
        "operator": "alice@h1", "host": socket.gethostname(), "pid": os.getpid(),
        "inputs": {"stuck_after": "5 minutes"}, "vvrun_version": "0.1.0",
        "locks": ("db-emergency",), "source": "name: db-emergency\n",
    }
    base.update(changes)
    return RunRecord(**base)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# -- open_store ------------------------------------------------------------------------------

def test_open_store_memory() -> None:
    assert isinstance(open_store({"VVRUN_STATE": "memory"}), MemoryStore)


def test_open_store_path_is_sqlite(tmp_path: Path) -> None:
    store = open_store({"VVRUN_STATE": str(tmp_path / "s.db")})
    try:
        assert isinstance(store, SqliteStore)
        assert (tmp_path / "s.db").exists()
    finally:
        store.close()


def test_open_store_default_is_xdg_state_home(tmp_path: Path) -> None:
    store = open_store({"XDG_STATE_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)})
    try:
        assert isinstance(store, SqliteStore)
        assert store.path == tmp_path / "xdg" / "vvrun" / "state.db"
        assert (tmp_path / "xdg" / "vvrun").stat().st_mode & 0o777 == 0o700
    finally:
        store.close()


def test_default_path_falls_back_to_local_state() -> None:
    assert default_sqlite_path({"HOME": "/home/al"}) == "/home/al/.local/state/vvrun/state.db"
    # a relative XDG_STATE_HOME is invalid by the spec and ignored
    assert default_sqlite_path({"HOME": "/h", "XDG_STATE_HOME": "rel"}) == (
        "/h/.local/state/vvrun/state.db")


def test_open_store_postgres_uses_its_schema(pg_url: str) -> None:
    schema = f"t_state_{uuid.uuid4().hex[:12]}"
    store = open_store({"VVRUN_STATE": pg_url, "VVRUN_STATE_SCHEMA": schema})
    try:
        assert isinstance(store, PostgresStore)
        assert store.schema == schema
    finally:
        store.drop_schema()
        store.close()


def test_open_store_unknown_scheme_is_an_error() -> None:
    with pytest.raises(StateError) as info:
        open_store({"VVRUN_STATE": "mysql://root:hunter22@db/x"})
    assert "is not a store vvrun knows" in info.value.message
    assert "hunter22" not in info.value.format()
    assert "postgresql://" in (info.value.hint or "")


def test_unreachable_postgres_is_a_state_error_with_a_hint() -> None:
    with pytest.raises(StateError) as info:
        PostgresStore("postgresql://vv:s3cretpw@127.0.0.1:1/nope", connect_timeout=2)
    assert "cannot open the state store at postgresql://vv:***@127.0.0.1:1/nope" in (
        info.value.message)
    assert "s3cretpw" not in info.value.format()
    assert "VVRUN_STATE" in (info.value.hint or "")


def test_bad_schema_name_is_refused(pg_url: str) -> None:
    with pytest.raises(StateError, match="not a plain identifier"):
        PostgresStore(pg_url, schema='x"; DROP')


def test_unusable_directory_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StateError) as info:
        SqliteStore(tmp_path / "file" / "state.db")
    assert str(tmp_path / "file" / "state.db") in info.value.message
    assert "VVRUN_STATE" in (info.value.hint or "")
