"""Claiming a schedule's due slot in the shared store, so that of several `serve` processes
exactly one starts it: an INSERT into `schedule_claims` keyed by (schedule, slot), which the
database lets only one of them make (ON CONFLICT DO NOTHING, in SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping

_SQL = """CREATE TABLE IF NOT EXISTS {t} (
    schedule TEXT NOT NULL, slot TEXT NOT NULL, claimed_by TEXT NOT NULL,
    claimed_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (schedule, slot))"""
_INSERT = ("INSERT INTO {t} (schedule, slot, claimed_by, claimed_at) VALUES ({p}, {p}, {p}, {p}) "
           "ON CONFLICT DO NOTHING")


class Claims:
    """`claim(schedule, slot, by)` is True for exactly one caller across processes."""

    def __init__(self, environ: Mapping[str, str]):
        from vvrun.state import default_sqlite_path

        self._lock = threading.Lock()
        self._memory: set[tuple[str, str]] | None = None
        target = environ.get("VVRUN_STATE", "").strip()
        self._pg = target.startswith(("postgresql://", "postgres://"))
        if target == "memory":
            self._memory = set()
        elif self._pg:
            schema = environ.get("VVRUN_STATE_SCHEMA") or "vvrun"
            self._url, self._table = target, f'"{schema}".schedule_claims'
            self._schema = schema
        else:
            self._path = os.path.expanduser(target) if target else default_sqlite_path(environ)
            self._table = "schedule_claims"

    def claim(self, schedule: str, slot: str, by: str) -> bool:
        if self._memory is not None:
            with self._lock:
                if (schedule, slot) in self._memory:
                    return False
                self._memory.add((schedule, slot))
                return True
        return self._pg_claim(schedule, slot, by) if self._pg else self._sqlite_claim(
            schedule, slot, by)

    def _sqlite_claim(self, schedule: str, slot: str, by: str) -> bool:
        import sqlite3

        con = sqlite3.connect(self._path, timeout=30)
        try:
            with con:
                con.execute(_SQL.format(t=self._table))
                cur = con.execute(_INSERT.format(t=self._table, p="?"),
                                  (schedule, slot, by, time.time()))
                return cur.rowcount == 1
        finally:
            con.close()

    def _pg_claim(self, schedule: str, slot: str, by: str) -> bool:
        import psycopg

        with psycopg.connect(self._url, autocommit=True) as con:
            with con.transaction():
                # IF NOT EXISTS still races in PostgreSQL (a unique violation in the catalog)
                # when two servers start at once: serialize the DDL
                con.execute("SELECT pg_advisory_xact_lock(hashtext('vvrun.schedule_claims'))")
                con.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
                con.execute(_SQL.format(t=self._table))
            cur = con.execute(_INSERT.format(t=self._table, p="%s"),
                              (schedule, slot, by, time.time()))
            return cur.rowcount == 1
