"""PostgreSQL plumbing for the `sql` step: connect, session settings, stream, translate errors.

Private to `vvrun.steps.sql`. psycopg is imported inside functions only, so `validate` and
`plan` never load it. Every psycopg exception that leaves this module's callers goes through
`translate` or `connect_error` once, chained with `from exc`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import decimal
import enum
import ipaddress
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from vvrun.errors import Cancelled, ConnectFailed, Location, StepFailed, StepTimeout, VvrunError
from vvrun.secrets import Masker
from vvrun.steps.sqlmeaning.analyse import analyse

ROWS_PER_CHUNK = 2000  # rows fetched per round trip while streaming (PERF-NOTES: ~2000)
CANCEL_POLL_SECONDS = 0.01  # how often the watch thread looks at armed cancel events
CANCEL_TIMEOUT_SECONDS = 5.0  # how long a server-side cancel may take before we give up on it
_ROW_VERBS = frozenset({"SELECT", "VALUES", "TABLE"})
_MAIN_VERBS = _ROW_VERBS | {"INSERT", "UPDATE", "DELETE", "MERGE"}
_CONNINFO_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.I)


def mask_target(url: str) -> str:
    """The connection string with any password replaced by `***` (URL or key=value form)."""
    return _CONNINFO_PASSWORD.sub(r"\1***", Masker().mask(url))


# -- connecting ---------------------------------------------------------------------------------


def connect(url: str, *, connect_timeout: float, application_name: str, where: Location) -> Any:
    """A new autocommit psycopg connection, or ConnectFailed saying why and what to do."""
    import psycopg

    try:
        return psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=max(1, math.ceil(connect_timeout)),
            application_name=application_name,
            # a server that vanishes mid-query is noticed in ~25 s instead of never
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
    except psycopg.Error as exc:
        raise connect_error(exc, url, connect_timeout, where) from exc


_CONNECT_HINTS = (
    ("password authentication failed", "check the password in the connection's URL (or the "
     "secret input it comes from)"),
    ("password is required", "the server asks for a password: put one in the connection's URL"),
    ("no password supplied", "the server asks for a password: put one in the connection's URL"),
    ("role", "check the user name in the connection's URL"),
    ("database", "check the database name in the connection's URL (`\\l` in psql lists them)"),
    ("connection refused", "is PostgreSQL running there? check the host and port in the "
     "connection's URL"),
    ("timeout expired", "no answer within connect_timeout: check the host (firewall, VPN) or "
     "raise `connect_timeout` on the connection"),
    ("translate host name", "the host name does not resolve: check it in the connection's URL"),
    ("no pg_hba.conf entry", "the server does not accept this user/database from this host "
     "(pg_hba.conf)"),
    ("connection slots", "the server is out of connection slots: free some (pg_stat_activity) "
     "or connect as a superuser"),
    ("invalid", "the connection URL is malformed: postgresql://user:password@host:5432/dbname"),
    ("missing", "the connection URL is malformed: postgresql://user:password@host:5432/dbname"),
)


def connect_error(exc: BaseException, url: str, connect_timeout: float,
                  where: Location) -> ConnectFailed:
    text = _one_line(str(exc)).removeprefix("connection failed: ")
    low = text.lower()
    hint = next((h for needle, h in _CONNECT_HINTS if needle in low), "check the connection's URL")
    if "timeout expired" in low:
        text += f" (connect_timeout {connect_timeout:g}s)"
    return ConnectFailed(
        f"cannot connect to PostgreSQL at {mask_target(url)}: {mask_target(text)}",
        where=where, hint=hint,
    )


def usable(conn: Any) -> bool:
    return not (conn.closed or conn.broken)


# -- session settings ---------------------------------------------------------------------------


def apply_settings(conn: Any, *, application_name: str, statement_timeout: float | None,
                   lock_timeout: float | None, read_only: bool) -> None:
    """Session settings for one step, in one round trip; `reset_settings` undoes them."""
    conn.execute(
        "SELECT set_config('application_name', %s, false),"
        " set_config('statement_timeout', %s, false),"
        " set_config('lock_timeout', %s, false),"
        " set_config('default_transaction_read_only', %s, false)",
        (application_name, _ms(statement_timeout), _ms(lock_timeout), "on" if read_only else "off"),
    )


def reset_settings(conn: Any) -> None:
    """Back to the session's defaults (the run-level application_name, no step timeouts)."""
    conn.execute(
        "RESET application_name; RESET statement_timeout; RESET lock_timeout;"
        " RESET default_transaction_read_only"
    )


def _ms(seconds: float | None) -> str:
    if not seconds:
        return "0"  # PostgreSQL's "no limit"
    return str(max(1, round(seconds * 1000)))


def settle(conn: Any) -> None:
    """After a failure: roll back an open transaction and reset the step's settings, so the
    connection is clean for the next step. A connection that cannot be settled is closed."""
    try:
        if not usable(conn):
            return
        if in_transaction(conn):
            conn.execute("ROLLBACK")
        reset_settings(conn)
    except Exception:  # the original error matters more; a broken connection is replaced
        conn.close()


def in_transaction(conn: Any) -> bool:
    from psycopg.pq import TransactionStatus

    return bool(conn.info.transaction_status != TransactionStatus.IDLE)


# -- cancelling ---------------------------------------------------------------------------------


class CancelWatcher:
    """While a driver call runs, call `on_cancel` soon after `cancel` is set.

    `execute` runs in the engine's worker thread; Ctrl-C sets the event from the main thread, so
    another thread watches it: one per process, shared by every call (`_Watch`), because
    starting a thread per query cost 0.7 ms of a 2 ms `SELECT 1` step (bench/RESULTS.md). For
    PostgreSQL `on_cancel` sends a cancel request (the query stops on the server, not only
    here); for Redis it closes the client's sockets.
    """

    def __init__(self, on_cancel: Callable[[], object], cancel: threading.Event):
        self.on_cancel = on_cancel
        self.cancel = cancel
        self.fired = False
        self._done = False
        self._lock = threading.Lock()  # `on_cancel` never runs after `__exit__` returns

    def check(self) -> bool:
        """Fire if `cancel` is set (the watch thread calls this); True: stop watching."""
        if not self.cancel.is_set():
            return False
        with self._lock:
            if not self._done:
                self.fired = True
                # the call's own error (or lack of one) tells the story
                with contextlib.suppress(Exception):
                    self.on_cancel()
        return True

    def __enter__(self) -> CancelWatcher:
        _WATCH.arm(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:  # waits for an `on_cancel` in progress
            self._done = True
        _WATCH.disarm(self)


class _Watch:
    """The one thread that polls the armed watchers; it sleeps while none is armed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: set[CancelWatcher] = set()
        self._thread: threading.Thread | None = None

    def arm(self, watcher: CancelWatcher) -> None:
        with self._cond:
            self._armed.add(watcher)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="vvrun-cancel",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def disarm(self, watcher: CancelWatcher) -> None:
        with self._cond:
            self._armed.discard(watcher)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._armed:
                    self._cond.wait()
                armed = list(self._armed)
            for watcher in armed:  # outside the condition: on_cancel may take seconds
                if watcher.check():
                    self.disarm(watcher)
            time.sleep(CANCEL_POLL_SECONDS)


_WATCH = _Watch()


def server_cancel(conn: Any) -> Callable[[], object]:
    return lambda: conn.cancel_safe(timeout=CANCEL_TIMEOUT_SECONDS)


# -- running ------------------------------------------------------------------------------------


def classify(sql: str) -> str:
    """How to run a query: `rows` (one SELECT/VALUES/TABLE: stream it), `multi` (several
    statements: simple protocol, result of the last), or `other` (one statement of any kind).

    PostgreSQL's parser (`steps.sqlmeaning`, cached) reads the text. When this guesses
    wrong the server still decides: see `run`.
    """
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
    count = 0
    # Rows past max_rows are counted and dropped: memory stays flat on a million-row result.
    for row in cur.stream(query, params, size=size):
        if count < max_rows:
            if not kept and cur.description:
                columns = [c.name for c in cur.description]
            kept.append(row)
        count += 1
    return _result(columns, kept, rowcount=count, status=f"SELECT {count}",
                   truncated=count > max_rows)


def _execute(cur: Any, query: str, params: tuple[Any, ...] | None,
             max_rows: int) -> dict[str, Any]:
    cur.execute(query, params)
    while cur.nextset():  # several statements: the result is the last one's
        pass
    columns = [c.name for c in cur.description] if cur.description else []
    rows = cur.fetchmany(max_rows) if columns and max_rows else []
    rowcount = max(cur.rowcount, 0)
    return _result(columns, rows, rowcount=rowcount, status=cur.statusmessage or "",
                   truncated=bool(columns) and rowcount > max_rows)


def _result(columns: list[str], rows: list[tuple[Any, ...]], *, rowcount: int, status: str,
            truncated: bool) -> dict[str, Any]:
    dict_rows = [dict(zip(columns, (jsonable(v) for v in row), strict=False)) for row in rows]
    first = dict_rows[0] if dict_rows else None
    return {
        "rows": dict_rows,
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


# -- errors -------------------------------------------------------------------------------------


def translate(exc: BaseException, *, sql: str, target: str, where: Location, cancelled: bool,
              statement_timeout: float | None, lock_timeout: float | None) -> VvrunError:
    """One psycopg exception → the vvrun error an operator can act on."""
    from psycopg import errors as e

    diag = getattr(exc, "diag", None)
    primary = (diag.message_primary if diag is not None else None) or _one_line(str(exc))
    if isinstance(exc, e.QueryCanceled):
        if cancelled:
            return Cancelled("the query was cancelled on the server (Ctrl-C)", where=where,
                             hint="resume the run when ready; nothing of this step was committed "
                             "unless it ran in autocommit and had already finished")
        if "statement timeout" in primary:
            return StepTimeout(
                f"the query ran longer than the step's {_secs(statement_timeout)} "
                f"(statement_timeout) and was cancelled on the server",
                where=where,
                hint="raise the step's `timeout`, or make the query cheaper (EXPLAIN it)",
            )
        return StepFailed(f"the query was cancelled on the server: {primary}", where=where,
                          hint="someone ran pg_cancel_backend() on it; run the step again")
    if isinstance(exc, e.LockNotAvailable):
        return StepTimeout(
            f"waited longer than lock_timeout {_secs(lock_timeout)} for a lock: {primary}",
            where=where,
            hint="another session holds a conflicting lock (see pg_locks and pg_stat_activity);"
            " retry later or raise `lock_timeout` on the connection",
        )
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate and not sqlstate.startswith("08"):
        message = f"PostgreSQL error {sqlstate}: {primary}"
        if diag is not None and diag.statement_position:
            message += _position(sql, int(diag.statement_position))
        if diag is not None and diag.message_detail:
            message += f"\n  detail: {diag.message_detail}"
        hint = diag.message_hint if diag is not None else None
        if "multiple commands" in primary:
            hint = ("several statements cannot take templated values (each `{{ }}` is a bound "
                    "parameter): split them into one step each")
        return StepFailed(message, where=where,
                          hint=hint or _CLASS_HINTS.get(sqlstate[:2], "fix the query and run it "
                                                        "again"))
    if isinstance(exc, e.OperationalError | e.InterfaceError):
        return StepFailed(
            f"lost the connection to PostgreSQL at {target}: {primary}",
            where=where,
            hint="the server closed the connection or went away; whether the step took effect "
            "is unknown: check before running it again",
        )
    return StepFailed(f"the PostgreSQL driver refused the query: {primary}", where=where,
                      hint="a templated value may have a type PostgreSQL cannot take: "
                      "convert it (`| string`, `| int`, `| tojson`)")


_CLASS_HINTS = {
    "40": "a serialization failure or deadlock: the transaction was rolled back; running the step "
    "again usually works (`retry: {attempts: 3}`)",
    "53": "the server is out of a resource (disk, memory, connections): free some and run again",
    "57": "the server stopped this session (someone ran pg_terminate_backend, or it is shutting "
    "down); whether the step took effect is unknown: check before running it again",
    "58": "a system error on the server: look at its log",
    "XX": "an internal error on the server: look at its log",
}


def _position(sql: str, position: int) -> str:
    """` at line L, column C: <that line>` from the server's 1-based character position."""
    index = min(max(position - 1, 0), len(sql))
    line_no = sql.count("\n", 0, index) + 1
    start = sql.rfind("\n", 0, index) + 1
    end = sql.find("\n", index)
    text = sql[start : end if end >= 0 else len(sql)].strip()
    return f" at line {line_no}, column {index - start + 1} of the query: `{text}`"


def _secs(seconds: float | None) -> str:
    return "(no limit)" if not seconds else f"{seconds:g}s"


def _one_line(text: str) -> str:
    return " ".join(text.split())
