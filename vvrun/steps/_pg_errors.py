"""PostgreSQL errors in plain words: each psycopg exception translated once, with a hint."""

from __future__ import annotations

import re

from vvrun.errors import Cancelled, ConnectFailed, Location, StepFailed, StepTimeout, VvrunError
from vvrun.secrets import Masker

_CONNINFO_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.I)


def mask_target(url: str) -> str:
    """The connection string with any password replaced by `***` (URL or key=value form)."""
    return _CONNINFO_PASSWORD.sub(r"\1***", Masker().mask(url))


# First match wins: the specific messages come before the words they contain ("remaining
# connection slots are reserved for roles …" is not about the user name, "the database system
# is starting up" not about the database name, "invalid response to SSL negotiation" not
# about the URL's syntax).
_CONNECT_HINTS = (
    ("connection slots", "the server is out of connection slots: free some (pg_stat_activity) "
     "or connect as a superuser, who keeps the reserved ones"),
    ("too many clients", "the server is out of connection slots: free some (pg_stat_activity) "
     "or connect as a superuser, who keeps the reserved ones"),
    ("starting up", "the server is starting up (or recovering after a crash): wait a moment "
     "and run the step again"),
    ("not yet accepting connections", "the server is starting up (or recovering after a "
     "crash): wait a moment and run the step again"),
    ("shutting down", "the server is shutting down: wait for it to come back, or connect to "
     "another one"),
    ("ssl negotiation", "the server did not answer as PostgreSQL does: check the host and port "
     "in the connection's URL (is PostgreSQL listening there?)"),
    ("password authentication failed", "check the password in the connection's URL (or the "
     "secret input it comes from)"),
    ("password is required", "the server asks for a password: put one in the connection's URL"),
    ("no password supplied", "the server asks for a password: put one in the connection's URL"),
    ("no pg_hba.conf entry", "the server does not accept this user/database from this host "
     "(pg_hba.conf)"),
    ("permission denied for database", "this user may not connect to the database: GRANT "
     "CONNECT, or connect as another user"),
    ("too many connections for role", "this user is at its connection limit (ALTER ROLE … "
     "CONNECTION LIMIT): free some of its connections, or connect as another user"),
    ('role "', "check the user name in the connection's URL"),
    ('database "', "check the database name in the connection's URL (`\\l` in psql lists "
     "them)"),
    ("connection refused", "is PostgreSQL running there? check the host and port in the "
     "connection's URL"),
    ("timeout expired", "no answer within connect_timeout: check the host (firewall, VPN) or "
     "raise `connect_timeout` on the connection"),
    ("translate host name", "the host name does not resolve: check it in the connection's URL"),
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




# -- errors -------------------------------------------------------------------------------------


def translate(exc: BaseException, *, sql: str, target: str, where: Location, cancelled: bool,
              statement_timeout: float | None, lock_timeout: float | None) -> VvrunError:
    """One psycopg exception → the vvrun error an operator can act on."""
    from psycopg import errors as e

    diag = getattr(exc, "diag", None)
    primary = (diag.message_primary if diag is not None else None) or _one_line(str(exc))
    if isinstance(exc, e.QueryCanceled):
        if cancelled:
            return Cancelled("the query was cancelled on the server: the run was interrupted",
                             where=where,
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
