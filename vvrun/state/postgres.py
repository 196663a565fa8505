"""The team store: `VVRUN_STATE=postgresql://...`, in its own schema (`vvrun` by default).

psycopg is imported only here, when such a store is opened. Writers that must not interleave
(lock changes, appends to one run's audit chain, migrations) take a transaction-scoped advisory
lock; a run's writes take a share lock on its lock rows, so `break_lock` waits for a write in
flight and every later write of the broken holder fails its fence check.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Iterator
from typing import Any

from vvrun.errors import StateError
from vvrun.secrets import Masker
from vvrun.state._migrations import LATEST, MIGRATIONS, REKEY_AT, render
from vvrun.state._rekey import rekey
from vvrun.state._sql import SqlStore, Tx
from vvrun.state.audit_key import default_key_path, load_key

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _advisory_key(text: str) -> int:
    """A stable signed 64-bit key for pg_advisory_xact_lock."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


class PostgresStore(SqlStore):
    def __init__(self, url: str, *, schema: str = "vvrun", masker: Masker | None = None,
                 connect_timeout: int = 10, audit_key: bytes | None = None) -> None:
        """`audit_key`: the audit chain's key, shared by the team (`secrets.audit_key`); by
        default this machine's `$XDG_STATE_HOME/vvrun/audit.key`."""
        super().__init__(masker=masker,
                         audit_key=audit_key or load_key(default_key_path(os.environ)))
        if not _SCHEMA_NAME.match(schema):
            raise StateError(f"state schema name {schema!r} is not a plain identifier",
                             hint="use lower-case letters, digits and underscores "
                                  "(VVRUN_STATE_SCHEMA)")
        self.url = url
        self.schema = schema
        self._prefix = f'"{schema}".'
        self._sql_cache: dict[str, str] = {}
        self._types = {"p": self._prefix, "int": "BIGINT", "real": "DOUBLE PRECISION",
                       "serial_pk": "BIGSERIAL PRIMARY KEY"}
        import psycopg

        self._psycopg = psycopg
        try:
            self._conn = psycopg.connect(url, autocommit=True, application_name="vvrun-state",
                                         connect_timeout=connect_timeout)
        except psycopg.Error as exc:
            raise StateError(
                f"cannot open the state store at {self.describe()}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
                hint="check VVRUN_STATE (host, port, user, password, database) and that the "
                     "server is up") from exc
        try:
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def describe(self) -> str:
        return Masker().mask(self._mask_text(self.url) or "") + f" (schema {self.schema})"

    def _sql(self, text: str) -> str:
        cached = self._sql_cache.get(text)
        if cached is None:
            cached = self._sql_cache[text] = (
                text.replace("{p}", self._prefix).replace("?", "%s"))
        return cached

    @contextlib.contextmanager
    def _transaction(self, *, write: bool, lock: str | None = None,
                     durable: bool = True) -> Iterator[Tx]:
        psycopg = self._psycopg
        with self._mutex:
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    if write and not durable:  # the next synchronous commit flushes it too
                        cur.execute("SET LOCAL synchronous_commit = off")
                    if lock is not None:
                        cur.execute("SELECT pg_advisory_xact_lock(%s)",
                                    (_advisory_key(f"{self.schema}:{lock}"),))
                    yield Tx(cur, self._sql, for_update=" FOR UPDATE",
                             share_lock=" FOR SHARE")
            except psycopg.Error as exc:
                raise StateError(
                    f"state store {self.describe()}: {str(exc).strip().splitlines()[0]}",
                    hint="check that the server is up and reachable; the run can be resumed "
                         "once it is") from exc

    def _migrate(self) -> None:
        with self._transaction(write=True, lock="migrate") as tx:
            tx.run(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            tx.run("CREATE TABLE IF NOT EXISTS {p}schema_version "
                   "(version BIGINT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
            row = tx.one("SELECT MAX(version) FROM {p}schema_version")
            current = int(row[0]) if row and row[0] is not None else 0
            if current > LATEST:
                raise StateError(
                    f"state store {self.describe()} has schema version {current}, newer than "
                    f"this vvrun knows ({LATEST})",
                    hint="upgrade vvrun, or set VVRUN_STATE_SCHEMA to another schema")
            for version, _title, statements in MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    tx.run(render(statement, self._types))
                tx.run("INSERT INTO {p}schema_version (version, applied_at) VALUES (?, ?)",
                       (version, time.time()))
                if version == REKEY_AT:
                    rekey(tx, self.audit_key)

    def drop_schema(self) -> None:
        """Remove this store's schema and everything in it (tests, `sandbox` teardown)."""
        with self._transaction(write=True, lock="migrate") as tx:
            tx.run(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def close(self) -> None:
        with self._mutex:
            self._conn.close()

    def raw(self) -> Any:
        """The connection, for tests that inspect the tables."""
        return self._conn
