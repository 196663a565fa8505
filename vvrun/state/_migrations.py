"""The state schema as an ordered list of migrations, shared by SQLite and PostgreSQL.

Append a migration to change the schema; never edit one that has shipped. A store records each
applied version in `schema_version` and applies the missing ones, in order, in one transaction.
Placeholders: `{p}` the table prefix (a PostgreSQL schema), `{int}`, `{real}`, `{serial_pk}`.
"""

from __future__ import annotations

from collections.abc import Mapping

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, "runs, ledger, events, locks", (
        """CREATE TABLE {p}runs (
            id TEXT PRIMARY KEY,
            runbook TEXT NOT NULL,
            path TEXT NOT NULL,
            source_hash TEXT NOT NULL,
            status TEXT NOT NULL,
            operator TEXT NOT NULL,
            host TEXT NOT NULL,
            pid {int} NOT NULL,
            inputs TEXT NOT NULL,
            started_at {real} NOT NULL,
            updated_at {real} NOT NULL,
            vvrun_version TEXT NOT NULL,
            locks TEXT NOT NULL,
            error TEXT,
            source TEXT NOT NULL
        )""",
        # the latest state of each step (or for_each item): `running` before, outcome after
        """CREATE TABLE {p}ledger (
            run_id TEXT NOT NULL,
            key TEXT NOT NULL,
            status TEXT NOT NULL,
            attempt {int} NOT NULL,
            host TEXT,
            pid {int},
            pgid {int},
            action_hash TEXT,
            started_at {real},
            ended_at {real},
            result TEXT,
            PRIMARY KEY (run_id, key)
        )""",
        # the audit trail: one hash chain per run (`chain` = run id, '' for events of no run)
        """CREATE TABLE {p}events (
            seq {serial_pk},
            chain TEXT NOT NULL,
            n {int} NOT NULL,
            run_id TEXT,
            ts {real} NOT NULL,
            kind TEXT NOT NULL,
            operator TEXT NOT NULL,
            host TEXT NOT NULL,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL,
            UNIQUE (chain, n)
        )""",
        """CREATE TABLE {p}locks (
            key TEXT PRIMARY KEY,
            run_id TEXT NOT NULL,
            operator TEXT NOT NULL,
            host TEXT NOT NULL,
            pid {int} NOT NULL,
            since {real} NOT NULL,
            expires_at {real} NOT NULL,
            token {int} NOT NULL
        )""",
        # fencing tokens only ever grow, whichever run takes a lock
        "CREATE TABLE {p}counters (name TEXT PRIMARY KEY, value {int} NOT NULL)",
        "INSERT INTO {p}counters (name, value) VALUES ('fence', 0)",
    )),
    (2, "indexes for `vvrun runs` and lock lookups", (
        "CREATE INDEX runs_runbook ON {p}runs (runbook, id)",
        "CREATE INDEX runs_status ON {p}runs (status, id)",
        "CREATE INDEX locks_run ON {p}locks (run_id)",
    )),
    # then `_rekey.rekey` turns each sha256 chain that verifies into a keyed one (it needs the
    # key, which only the opening store has)
    (3, "keyed audit chain: ledger rows carry a MAC", (
        "ALTER TABLE {p}ledger ADD COLUMN mac TEXT",
    )),
)

#: the migration after which the stored chains are re-keyed
REKEY_AT = 3

LATEST = MIGRATIONS[-1][0]


def render(statement: str, types: Mapping[str, str]) -> str:
    return statement.format(**types)
