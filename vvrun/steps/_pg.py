"""PostgreSQL plumbing for the `sql` step: connect, session settings, run and stream.

Private to `vvrun.steps.sql`. psycopg is imported inside functions only, so `validate` and
`plan` never load it. Every psycopg exception that leaves this module's callers goes through
`_pg_errors.translate` or `connect_error` once, chained with `from exc`.

One round trip per step (SPEC §3.1): the run's application name and the first step's session
settings ride on the connection (`application_name`, `options=-c …` in the conninfo); a later
step whose timeouts differ sets them once, and nothing is reset after a step. `Session` keeps
what the server has, so an unchanged setting is never sent again.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import ipaddress
import math
import select
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vvrun.errors import Location
from vvrun.steps._pg_errors import connect_error

ROWS_PER_CHUNK = 2000  # rows fetched per round trip while streaming (PERF-NOTES: ~2000)
CANCEL_TIMEOUT_SECONDS = 5.0  # how long a server-side cancel may take before we give up on it
IDLE_PING_SECONDS = 30.0  # after this long idle, check the connection before a step uses it


@dataclass(frozen=True)
class Settings:
    """The session settings a step runs under (None: no limit)."""

    statement_timeout: float | None = None
    lock_timeout: float | None = None

    def options(self) -> str:
        """The conninfo `options` that start a session with these settings."""
        return (f"-c statement_timeout={_ms(self.statement_timeout)} "
                f"-c lock_timeout={_ms(self.lock_timeout)}")


class Session:
    """A connection and what its server-side settings are now, so none is sent twice."""

    def __init__(self, conn: Any, settings: Settings):
        self.conn = conn
        self.settings: Settings | None = settings  # None: unknown (after a failure)
        self.used = time.monotonic()

    def usable(self) -> bool:
        return usable(self.conn)

    def prepare(self, wanted: Settings) -> None:
        """Make the session run under `wanted`: nothing to send when it already does; one
        statement when the timeouts changed or the connection sat idle long enough that it
        may have died (a dead one fails here, before anything of the step ran)."""
        idle = time.monotonic() - self.used > IDLE_PING_SECONDS
        if wanted != self.settings or idle or _has_news(self.conn):
            self.settings = None
            self.conn.execute(
                "SELECT set_config('statement_timeout', %s, false),"
                " set_config('lock_timeout', %s, false)",
                (_ms(wanted.statement_timeout), _ms(wanted.lock_timeout)))
            self.settings = wanted
        self.used = time.monotonic()

    def close(self) -> None:
        self.conn.close()

    def forget(self) -> None:
        """After a failure the server's settings are not known for sure: send them again."""
        self.settings = None


def connect(url: str, *, connect_timeout: float, application_name: str, settings: Settings,
            read_only: bool, where: Location) -> Session:
    """A new autocommit session already under `settings`, or ConnectFailed saying why.

    A `read_only` session starts every transaction READ ONLY (the server refuses writes; the
    step has proved its SQL read-only with the parser first): read-only steps get a connection
    of their own, so no setting has to flip back and forth between steps.
    """
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    options = settings.options()
    if read_only:
        options += " -c default_transaction_read_only=on"
    try:
        given = conninfo_to_dict(url).get("options")
    except psycopg.Error:
        given = None  # a malformed URL: psycopg.connect says what is wrong with it
    try:
        conn = psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=max(1, math.ceil(connect_timeout)),
            application_name=application_name,
            options=f"{given} {options}" if given else options,
            # a server that vanishes mid-query is noticed in ~25 s instead of never
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
    except psycopg.Error as exc:
        raise connect_error(exc, url, connect_timeout, where) from exc
    return Session(conn, settings)


def _has_news(conn: Any) -> bool:
    """True when an idle connection has something to read: a server that ended the session
    (pg_terminate_backend, a restart) says so and closes the socket, which then reads. Costs
    one `select`, no round trip; a NOTIFY also reads, and only costs a ping."""
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError):  # a closed connection: `prepare` fails and it is replaced
        return True
    return bool(readable)


def usable(conn: Any) -> bool:
    return not (conn.closed or conn.broken)


def _ms(seconds: float | None) -> str:
    if not seconds:
        return "0"  # PostgreSQL's "no limit"
    return str(max(1, round(seconds * 1000)))


def settle(conn: Any) -> None:
    """After a failure: roll back an open transaction, so the connection is clean for the
    next step. A connection that cannot be settled is closed."""
    try:
        if usable(conn) and in_transaction(conn):
            conn.execute("ROLLBACK")
    except Exception:  # the original error matters more; a broken connection is replaced
        conn.close()


def in_transaction(conn: Any) -> bool:
    from psycopg.pq import TransactionStatus

    return bool(conn.info.transaction_status != TransactionStatus.IDLE)


# -- cancelling ---------------------------------------------------------------------------------


def server_cancel(conn: Any) -> Callable[[], object]:
    return lambda: conn.cancel_safe(timeout=CANCEL_TIMEOUT_SECONDS)


def server_terminate(url: str, backend_pid: int, *, connect_timeout: float,
                     application_name: str) -> Callable[[], object]:
    """The harder stop, when a cancel request did not take: `pg_terminate_backend` of the
    step's backend through a fresh connection (the step's own is busy with the query)."""

    def terminate() -> None:
        import psycopg

        with psycopg.connect(url, autocommit=True, application_name=application_name,
                             connect_timeout=max(1, math.ceil(connect_timeout))) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (backend_pid,))

    return terminate


# -- running ------------------------------------------------------------------------------------


def classify(sql: str) -> str:
    """How to run a query: `rows` (one SELECT/VALUES/TABLE: stream it), `multi` (several
    statements: simple protocol, result of the last), or `other` (one statement of any kind).

    PostgreSQL's parser (`steps.sqlmeaning`, cached) reads the text. When this guesses
    wrong the server still decides: see `run`.
    """
    from vvrun.steps.sqlmeaning.analyse import analyse  # only when a step runs SQL

    meaning = analyse(sql, template=False)
    if meaning.count != 1:
        return "multi" if meaning.count else "other"
    return "rows" if meaning.statements[0].returns_rows else "other"


def run(conn: Any, query: str, params: tuple[Any, ...] | None, *, kind: str, max_rows: int,
        transaction: bool) -> dict[str, Any]:
    """Run the query and build the step's result; psycopg errors propagate to `translate`."""
    import psycopg

    if params is not None:
        params = tuple(_adapt(p) for p in params)
    cur = conn.cursor()
    try:
        if kind == "rows":
            try:
                return _stream(cur, query, params, max_rows)
            except psycopg.ProgrammingError as exc:
                # A statement that returns no rows after all (the guess was wrong): it RAN,
                # and succeeded; only its status is lost. Never run it a second time.
                if "didn't produce a result" not in str(exc):
                    raise
                return _result([], [], rowcount=0, status="", truncated=False)
            except psycopg.errors.SyntaxError as exc:
                # The lexer saw one statement where the server sees several; nothing ran (the
                # server refuses before executing), so run it the other way.
                if params is not None or "multiple commands" not in str(exc):
                    raise
                if transaction:
                    conn.execute("ROLLBACK")
                    conn.execute("BEGIN")
        return _execute(cur, query, params, max_rows)
    finally:
        cur.close()


def _stream(cur: Any, query: str, params: tuple[Any, ...] | None,
            max_rows: int) -> dict[str, Any]:
    from psycopg import capabilities

    size = ROWS_PER_CHUNK if capabilities.has_stream_chunked() else 1
    kept: list[tuple[Any, ...]] = []
    columns: list[str] = []
    types: list[str | None] = []
    count = 0
    # Rows past max_rows are counted and dropped: memory stays flat on a million-row result.
    for row in cur.stream(query, params, size=size):
        if count < max_rows:
            if not kept and cur.description:
                columns = [c.name for c in cur.description]
                types = _types(cur.description)
            kept.append(row)
        count += 1
    return _result(columns, kept, rowcount=count, status=f"SELECT {count}",
                   truncated=count > max_rows, types=types)


def _execute(cur: Any, query: str, params: tuple[Any, ...] | None,
             max_rows: int) -> dict[str, Any]:
    cur.execute(query, params)
    while cur.nextset():  # several statements: the result is the last one's
        pass
    columns = [c.name for c in cur.description] if cur.description else []
    rows = cur.fetchmany(max_rows) if columns and max_rows else []
    rowcount = max(cur.rowcount, 0)
    return _result(columns, rows, rowcount=rowcount, status=cur.statusmessage or "",
                   truncated=bool(columns) and rowcount > max_rows,
                   types=_types(cur.description or ()))


def _types(description: Any) -> list[str | None]:
    """Each column's type name as PostgreSQL says it (`interval`, `int4`, `numeric`), so the
    screen can show an interval as `2 min 13 s` rather than seconds."""
    names = [getattr(c, "type_display", None) for c in description]
    return [n.split("(", 1)[0] if isinstance(n, str) else None for n in names]


def _result(columns: list[str], rows: list[tuple[Any, ...]], *, rowcount: int, status: str,
            truncated: bool, types: list[str | None] | None = None) -> dict[str, Any]:
    values = [[jsonable(v) for v in row] for row in rows]
    # `rows` (by name) is what templates read; `values` (by position) keeps both of two
    # columns of one name (`count, count`), which a mapping cannot
    dict_rows = [dict(zip(columns, row, strict=False)) for row in values]
    first = dict_rows[0] if dict_rows else None
    return {
        "rows": dict_rows,
        "values": values,
        "types": list(types) if types is not None else [None] * len(columns),
        "row": first,
        "value": next(iter(first.values()), None) if first else None,
        "columns": columns,
        "rowcount": rowcount,
        "status": status,
        "truncated": truncated,
    }


def _adapt(value: Any) -> Any:
    """A bound value psycopg can send: mappings go as jsonb."""
    if isinstance(value, Mapping):
        from psycopg.types.json import Jsonb

        return Jsonb(dict(value))
    return value


def jsonable(value: Any) -> Any:
    """A value from PostgreSQL as plain JSON: numbers, strings, lists, mappings, null.

    numeric → int when integral else float; timestamps/dates/times → ISO 8601 text;
    interval → seconds (float), so `row.age > 300` reads naturally; uuid, inet, ranges → text;
    bytea → `\\x…` hex as psql shows it; NaN/Infinity → text (JSON has no such numbers).
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address
                  | ipaddress.IPv4Network | ipaddress.IPv6Network
                  | ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return str(value)
    return str(value)


