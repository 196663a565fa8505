"""The interface every step type implements, and what the engine hands to `execute`.

`plan` calls only `parse`, `render` and `describe`; only the engine calls `execute`: a dry run
cannot reach the world by construction. Drivers are imported inside `execute` (and the client
factories it uses), never at module level, so `validate` and `plan` never load them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from vvrun.errors import Location


class Connection(Protocol):
    """A named target as the runbook declares it (`vvrun.language.model.Connection`).

    Steps see it through this protocol so that `steps/` never imports the language package,
    which imports the step registry for its schema and checks (one direction only).
    """

    name: str
    kind: str
    settings: Mapping[str, Any]
    where: Location


class Templater(Protocol):
    """Renders a step's templates with the escaping of where each value lands (SPEC §4).

    Implemented by `vvrun.language.templates.Templater`; passed in by the engine and plan.
    """

    where: Location | None
    context: Mapping[str, Any]

    def child(self, **extra: Any) -> Templater: ...
    def only(self, **context: Any) -> Templater: ...
    def text(self, source: Any) -> Any: ...
    def value(self, source: Any) -> Any: ...
    def sql(self, source: str) -> Any: ...
    def shell(self, source: str) -> str: ...
    def url(self, source: str) -> str: ...
    def body(self, source: str, content_type: str | None) -> str: ...
    def words(self, source: str) -> list[str]: ...
    def expr(self, source: str) -> Any: ...
    def explain(self, source: str) -> str: ...


@dataclass(frozen=True)
class Description:
    """What a step will do, for step headers, confirmations and plans. Pure data.

    `summary`: one line ("SELECT version()", "GET https://api/health").
    `body`: the full rendered action (SQL text, shell command, request) or "".
    `language`: how to fence `body` in Markdown: sql | bash | http | text | markdown.
    `target`: where it acts ("postgresql://app@db:5432/app", "redis://cache:6379/0"), masked
    by the writer like everything else.
    `params`: bound values shown beside the body (SQL parameters).
    `notes`: extra lines (checklist items, record fields, warnings).
    """

    summary: str
    body: str = ""
    language: str = "text"
    target: str | None = None
    params: tuple[Any, ...] = ()
    notes: tuple[str, ...] = ()


class Console(Protocol):
    """Where a running step shows live output; the ui implements it."""

    def line(self, text: str, *, stream: str = "stdout") -> None: ...
    def progress(self, done: int, total: int | None, label: str = "") -> None: ...
    def status(self, text: str) -> None: ...


class Prompter(Protocol):
    """Asks the operator. With no terminal each method raises `vvrun.errors.Paused`."""

    def confirm(self, question: str, *, default: bool = False, detail: str = "") -> bool: ...
    def type_word(self, question: str, word: str, *, detail: str = "") -> bool: ...
    def ask(self, name: str, *, description: str = "", choices: tuple[str, ...] = (),
            pattern: str | None = None, secret: bool = False,
            optional: bool = False) -> str: ...
    def checklist(self, items: tuple[str, ...]) -> list[str]: ...
    def acknowledge(self, text: str) -> str: ...  # shows Markdown, waits, returns notes


class Clients:
    """Driver clients for one run, one per named connection, closed when the run ends."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}
        self._closers: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def get(self, key: str, factory: Callable[[], Any],
            close: Callable[[Any], None] | None = None) -> Any:
        with self._lock:
            if key not in self._clients:
                client = factory()
                self._clients[key] = client
                closer = close or getattr(client, "close", None)
                if closer is not None:
                    self._closers.append(
                        (lambda c=client, f=closer: f(c)) if close else closer  # type: ignore[misc]
                    )
            return self._clients[key]

    def discard(self, key: str) -> None:
        """Forget a client that broke (a later step reconnects)."""
        with self._lock:
            self._clients.pop(key, None)

    def close(self) -> None:
        with self._lock:
            for closer in reversed(self._closers):
                # closing a broken connection must not hide the real error
                with contextlib.suppress(Exception):
                    closer()
            self._clients.clear()
            self._closers.clear()


DEFAULT_GRACE = 5.0  # seconds: SPEC §3.4's default `grace`


@dataclass
class StepIO:
    """Everything `execute` may touch. Decided at the edge; plain values (no os.environ here)."""

    run_id: str
    step_id: str
    timeout: float | None
    clients: Clients
    console: Console
    prompter: Prompter
    cancel: threading.Event = field(default_factory=threading.Event)
    danger: bool = False
    approvers: int = 1
    env: Mapping[str, str] = field(default_factory=dict)  # the process environment for shell
    secret_env: Mapping[str, str] = field(default_factory=dict)  # secrets given to shell by env
    where: Location = field(default_factory=Location)
    templater: Templater | None = None  # for manual `verify` bodies
    # True when `timeout` came from the runbook's `defaults`, not the step: a connection's own
    # limit (postgres `statement_timeout`) then still applies when it is the smaller one.
    timeout_inherited: bool = False
    # Called with the process group of a started process (shell), so the ledger can record it
    # and a resume after a crash can refuse to start a second copy beside a survivor.
    on_spawn: Callable[[int], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # After a cancel or a timeout: seconds between SIGTERM and SIGKILL (or between a query's
    # cancel request and terminating its backend); `hurry` set: skip the rest of that wait.
    grace: float = DEFAULT_GRACE
    hurry: threading.Event = field(default_factory=threading.Event)


class StepType(Protocol):
    NAME: str
    SCHEMA: Mapping[str, Any]  # JSON Schema of the body: short form and long form

    def parse(self, body: Any, where: Location) -> Any: ...
    def render(self, spec: Any, tpl: Templater, conns: Mapping[str, Connection]) -> Any: ...
    def describe(self, action: Any) -> Description: ...
    def execute(self, action: Any, io: StepIO) -> Mapping[str, Any]: ...


def pick_connection(
    conns: Mapping[str, Connection], kind: str, name: str | None, where: Location
) -> Connection | None:
    """The named connection, or the only one of its kind; None when there is none."""
    from vvrun.errors import RunbookError

    if name is not None:
        conn = conns.get(name)
        if conn is None:
            raise RunbookError(
                f"unknown connection '{name}'",
                where=where,
                hint=f"define it under `connections:` (known: {', '.join(conns) or 'none'})",
            )
        if conn.kind != kind:
            raise RunbookError(f"connection '{name}' is {conn.kind}, not {kind}", where=where)
        return conn
    of_kind = [c for c in conns.values() if c.kind == kind]
    if len(of_kind) == 1:
        return of_kind[0]
    if len(of_kind) > 1:
        raise RunbookError(
            f"several {kind} connections and the step names none",
            where=where,
            hint=f"add `connection: <name>` ({', '.join(c.name for c in of_kind)})",
        )
    return None


def connection_seconds(settings: Mapping[str, Any], key: str, conn: Connection) -> float | None:
    """A duration setting of a connection (`statement_timeout: 30s`) in seconds, or None."""
    from vvrun.errors import RunbookError
    from vvrun.text.durations import parse_duration

    value = settings.get(key)
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise RunbookError(f"connection '{conn.name}': {key}: {exc}", where=conn.where,
                           hint="write a duration like 500ms, 30s or 5m") from exc
