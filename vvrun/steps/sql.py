"""`sql`: a PostgreSQL query through psycopg 3.

`render` keeps every templated value apart from the query text (a bound parameter, or an
identifier with `| ident`); `execute` runs it on one connection per named connection per run
(see its docstring for transactions, timeouts, cancelling and the `io.extra["finish"]` hook);
`vvrun.steps._pg` holds the driver plumbing and the error translation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from vvrun.errors import Cancelled, Location, RunbookError, StepFailed
from vvrun.steps import _pg, _pg_errors
from vvrun.steps._cancel import CancelWatcher
from vvrun.steps.base import (
    Connection,
    Description,
    StepIO,
    Templater,
    connection_seconds,
    pick_connection,
)

NAME = "sql"

SCHEMA: Mapping[str, Any] = {
    "description": "Run SQL on PostgreSQL (psycopg 3). A string is the query; every `{{ }}` in "
    "it becomes a bound parameter (`{{ x | ident }}` for an identifier). SQL that PostgreSQL's "
    "parser reads as destructive (DELETE/UPDATE without a real WHERE, DROP, TRUNCATE, a "
    "data-modifying CTE, DO, CALL, …) is dangerous: the operator confirms it unless the step "
    "says `danger: false`.",
    "examples": ["SELECT version()", {"query": "VACUUM ANALYZE", "connection": "db"}],
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "The query text."},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["query"],
            "properties": {
                "query": {"type": "string", "minLength": 1, "description": "The query text."},
                "connection": {
                    "type": "string",
                    "description": "Name of a postgres connection; default: the only one.",
                },
                "transaction": {
                    "type": "boolean",
                    "default": False,
                    "description": "Wrap the step in one transaction that rolls back on any "
                    "failure, `expect` included. Default: autocommit (VACUUM needs it).",
                },
                "read_only": {
                    "type": "boolean",
                    "default": False,
                    "description": "Run in a READ ONLY session: the server refuses writes.",
                },
                "max_rows": {
                    "type": "integer",
                    "minimum": 0,
                    "default": 1000,
                    "description": "Rows kept in `result.rows`; the rest are streamed past.",
                },
            },
        },
    ],
}


@dataclass(frozen=True)
class SqlSpec:
    """A `sql` body as written: the query, its connection, transaction, read-only, row cap."""

    query: str
    connection: str | None = None
    transaction: bool = False
    read_only: bool = False
    max_rows: int = 1000


def parse(body: Any, where: Location) -> SqlSpec:
    if isinstance(body, str):
        return SqlSpec(query=body)
    return SqlSpec(
        query=body["query"],
        connection=body.get("connection"),
        transaction=bool(body.get("transaction", False)),
        read_only=bool(body.get("read_only", False)),
        max_rows=int(body.get("max_rows", 1000)),
    )


def implied_danger(spec: SqlSpec) -> str | None:
    """Why this SQL is dangerous whatever its values (PostgreSQL's parser read it: a DELETE
    without WHERE, even inside a WITH; DROP; TRUNCATE; DO …, SPEC §3.1), or None. A step that
    does not say `danger:` is confirmed when this is set, as a redis write is."""
    from vvrun.steps.sqlmeaning.analyse import analyse  # only for runbooks with SQL

    reasons = analyse(spec.query).reasons
    return reasons[0] if reasons else None


# -- render, describe, execute ------------------------------------------------------------------

DEFAULT_CONNECT_TIMEOUT = 10.0  # seconds; never infinite
DEFAULT_LOCK_TIMEOUT = 10.0  # seconds, capped by the statement timeout: DDL must not queue for long
DEFAULT_APPLICATION_NAME = "vvrun"


class SqlQuery(Protocol):
    """SQL text with every templated value kept apart as a bound parameter (SPEC §4); made by
    the templater (`Templater.sql`)."""

    @property
    def params(self) -> tuple[Any, ...]: ...
    def display(self) -> str: ...
    def for_driver(self) -> tuple[str, tuple[Any, ...] | None]: ...


@dataclass(frozen=True)
class SqlAction:
    """Everything `execute` needs, rendered: the query with its values kept apart, where it
    goes, and the session settings of the connection."""

    query: SqlQuery
    url: str
    connection: str
    transaction: bool = False
    read_only: bool = False
    max_rows: int = 1000
    statement_timeout: float | None = None  # the connection's; a step timeout overrides it
    lock_timeout: float | None = None
    application_name: str = DEFAULT_APPLICATION_NAME
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT


def render(spec: SqlSpec, tpl: Templater, conns: Mapping[str, Connection]) -> SqlAction:
    where = tpl.where or Location()
    conn = pick_connection(conns, "postgres", spec.connection, where)
    if conn is None:
        raise RunbookError(
            "this sql step has no postgres connection",
            where=where,
            hint="add one under `connections:`, e.g. `db: {postgres: \"{{ env.DATABASE_URL }}\"}`",
        )
    settings = {k: tpl.text(v) for k, v in conn.settings.items()}
    return SqlAction(
        query=tpl.sql(spec.query),
        url=str(settings.get("url", "")),
        connection=conn.name,
        transaction=spec.transaction,
        read_only=spec.read_only,
        max_rows=spec.max_rows,
        statement_timeout=connection_seconds(settings, "statement_timeout", conn),
        lock_timeout=connection_seconds(settings, "lock_timeout", conn),
        application_name=str(settings.get("application_name") or DEFAULT_APPLICATION_NAME),
        connect_timeout=(connection_seconds(settings, "connect_timeout", conn)
                         or DEFAULT_CONNECT_TIMEOUT),
    )



def describe(action: SqlAction) -> Description:
    text = action.query.display()
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    summary = first if len(first) <= 80 and text.strip() == first else first[:77] + "…"
    notes = [f"connection: {action.connection}"]
    if action.transaction:
        notes.append("in one transaction: rolled back on any failure, `expect` included")
    if action.read_only:
        notes.append("read only")
    return Description(
        summary=summary,
        body=text.strip(),
        language="sql",
        target=_pg_errors.mask_target(action.url),
        params=action.query.params,
        notes=tuple(notes),
    )


def execute(action: SqlAction, io: StepIO) -> dict[str, Any]:
    """Run the query on the run's connection for `action.connection`.

    Autocommit by default. With `transaction: true` the step runs between BEGIN and a COMMIT
    that the engine decides: `execute` leaves the transaction open and puts
    `io.extra["finish"] = finish(ok: bool)` there; the engine calls it after `expect` (ok=True
    commits, ok=False rolls back; a failed COMMIT raises StepFailed). Any error inside
    `execute` rolls back before it is raised.

    The step timeout becomes `statement_timeout` (and caps `lock_timeout`) — a step's own
    `timeout` wins over the connection's `statement_timeout`, one from `defaults` does not
    lift it. The run's backends are named `<application_name>:<run_id>`, so a stray one can
    be found in pg_stat_activity after a crash; `io.cancel` cancels the query on the server.
    """
    if io.cancel.is_set():
        raise Cancelled("cancelled before the query started", where=io.where, nothing_done=True)
    statement_timeout = io.timeout if io.timeout is not None else action.statement_timeout
    if io.timeout_inherited and action.statement_timeout is not None and io.timeout is not None:
        # `defaults.timeout` bounds the step; the connection's own limit still caps statements
        statement_timeout = min(io.timeout, action.statement_timeout)
    lock_timeout = action.lock_timeout
    if lock_timeout is None:
        lock_timeout = min(DEFAULT_LOCK_TIMEOUT, statement_timeout or DEFAULT_LOCK_TIMEOUT)
    query, params = action.query.for_driver()
    display = action.query.display()
    if action.read_only:
        _prove_read_only(display, io.where)
    errors = _Errors(action, io, display, statement_timeout, lock_timeout)
    session = _ready(action, io, errors, _pg.Settings(statement_timeout, lock_timeout))
    conn = session.conn
    kind = _pg.classify(display)
    # a cancel that does not take within `grace` (a backend stuck where cancels are not
    # checked): terminate the backend through a fresh connection
    watcher = CancelWatcher(
        _pg.server_cancel(conn), io.cancel, grace=io.grace, hurry=io.hurry,
        escalate=_pg.server_terminate(action.url, conn.info.backend_pid,
                                      connect_timeout=action.connect_timeout,
                                      application_name=f"{action.application_name}-cancel"))
    try:
        if action.transaction:
            conn.execute("BEGIN")
        with watcher:
            result = _pg.run(conn, query, params, kind=kind,
                             max_rows=action.max_rows, transaction=action.transaction)
    except BaseException as exc:  # KeyboardInterrupt too: never leave a transaction open
        # What the server cancelled was rolled back: a transaction, or one statement (several
        # sent at once may hold a COMMIT). A terminated backend may have committed just before.
        errors.reraise(exc, session, cancelled=watcher.fired, terminated=watcher.escalated,
                       rolled_back=action.transaction or (kind != "multi"
                                                          and not watcher.escalated))
    if action.transaction:
        io.extra["finish"] = lambda ok: _finish(session, ok, errors)
    return result


def _prove_read_only(sql: str, where: Location | None) -> None:
    """Refuse, before anything runs, SQL the parser cannot prove read-only.

    The server's READ ONLY transaction (`default_transaction_read_only` for the step) refuses
    writes; this refuses what would get out of it: `SET TRANSACTION READ WRITE`, `COMMIT`,
    `SET default_transaction_read_only`, and known functions that act outside transactions.
    A fresh parse, never the disk cache: a proof must not rest on a file anyone could edit.
    """
    from vvrun.steps.sqlmeaning.analyse import analyse

    why = analyse(sql, template=False, cached=False).read_only_proof
    if why is not None:
        raise StepFailed(f"`read_only: true`, but {why}: nothing was run", where=where,
                         hint="run only SELECT, SHOW, EXPLAIN or VALUES in a read-only step, "
                         "or remove `read_only`")


class _Errors:
    """Cleans up after a failure and translates driver errors, once, for one step."""

    def __init__(self, action: SqlAction, io: StepIO, sql: str, statement_timeout: float | None,
                 lock_timeout: float | None):
        self.action, self.io, self.sql = action, io, sql
        self.statement_timeout, self.lock_timeout = statement_timeout, lock_timeout

    def reraise(self, exc: BaseException, session: _pg.Session, *, cancelled: bool = False,
                sql: str | None = None, terminated: bool = False,
                rolled_back: bool = False) -> NoReturn:
        """Roll back, forget the session's settings (or a broken connection); raise the
        driver's error translated (chained), anything else as it is. A cancelled query is
        `Cancelled`, `nothing_done` when the server rolled it back (`rolled_back`)."""
        _pg.settle(session.conn)
        session.forget()
        _forget_if_broken(session, self.action, self.io)
        if not _is_driver_error(exc):
            raise exc
        error = _pg_errors.translate(
            exc, sql=self.sql if sql is None else sql,
            target=_pg_errors.mask_target(self.action.url),
            where=self.io.where, cancelled=cancelled or self.io.cancel.is_set(),
            statement_timeout=self.statement_timeout, lock_timeout=self.lock_timeout,
        )
        if terminated:
            error = Cancelled(
                f"the query did not stop within {self.io.grace:g}s of the cancel request; its "
                "backend was terminated (pg_terminate_backend)", where=self.io.where,
                hint="resume the run when ready" + ("" if rolled_back else "; whether the "
                                                    "query committed is unknown: check first"))
        if isinstance(error, Cancelled):
            error.nothing_done = rolled_back
        raise error from exc


def _ready(action: SqlAction, io: StepIO, errors: _Errors, wanted: _pg.Settings
           ) -> _pg.Session:
    """The run's session for this target, under the step's settings (sent only if changed).

    A connection that died while idle (a server restart, an idle-session timeout, a proxy; a
    long manual step makes this likely) is found by `prepare`'s ping and replaced once: nothing
    of the step has run yet.
    """
    session = _connection(action, io, wanted)
    try:
        session.prepare(wanted)
        return session
    except Exception as exc:
        if not _is_driver_error(exc) or session.usable():
            errors.reraise(exc, session, sql="SET")
    io.clients.discard(_client_key(action))
    session = _connection(action, io, wanted)
    try:
        session.prepare(wanted)
    except Exception as exc:
        errors.reraise(exc, session, sql="SET")
    return session


def _finish(session: _pg.Session, ok: bool, errors: _Errors) -> None:
    """Commit (ok) or roll back the step's transaction."""
    try:
        session.conn.execute("COMMIT" if ok else "ROLLBACK")
    except Exception as exc:
        errors.reraise(exc, session, sql="COMMIT")


def _connection(action: SqlAction, io: StepIO, settings: _pg.Settings) -> _pg.Session:
    """The run's session for this target, made on first use (already under the first step's
    settings); a broken one is replaced.

    A transaction left open by a step whose `finish` was never called is rolled back (the
    safe outcome) rather than silently extended into this step.
    """
    key = _client_key(action)

    def factory() -> _pg.Session:
        return _pg.connect(
            action.url, connect_timeout=action.connect_timeout,
            application_name=f"{action.application_name}:{io.run_id}", settings=settings,
            read_only=action.read_only, where=io.where,
        )

    session = io.clients.get(key, factory)
    if session.usable() and _pg.in_transaction(session.conn):
        io.console.status("rolled back a transaction a previous step left open")
        _pg.settle(session.conn)
    if not session.usable():
        io.clients.discard(key)
        session = io.clients.get(key, factory)
    return session


def _forget_if_broken(session: _pg.Session, action: SqlAction, io: StepIO) -> None:
    if not session.usable():
        io.clients.discard(_client_key(action))


def _client_key(action: SqlAction) -> str:
    # read-only steps get a session of their own, started READ ONLY (see `_pg.connect`)
    mode = "ro" if action.read_only else "rw"
    return f"postgres:{action.connection}:{mode}:{action.url}"


def _is_driver_error(exc: BaseException) -> bool:
    import psycopg

    return isinstance(exc, psycopg.Error)
