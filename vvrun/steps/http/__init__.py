"""`http`: one request through httpx.

`schema.py` is its body's schema, `transport.py` the request on the wire and the error
translation, `replay.py` whether a failed request may be sent again (SPEC §3.3).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from vvrun.errors import (
    Cancelled,
    ConnectFailed,
    Location,
    RunbookError,
    StepFailed,
    StepTimeout,
    VvrunError,
)
from vvrun.steps.base import Connection, Description, StepIO, Templater, pick_connection
from vvrun.steps.http import replay
from vvrun.steps.http.replay import retry_refusal
from vvrun.steps.http.schema import METHODS, SCHEMA
from vvrun.steps.http.transport import MAX_BODY, TEXT_CAP, make_client, send, translate
from vvrun.text.durations import parse_duration

__all__ = ["MAX_BODY", "METHODS", "NAME", "SCHEMA", "TEXT_CAP", "HttpAction", "HttpSpec",
           "describe", "execute", "parse", "render", "retry_refusal", "status_ok"]

NAME = "http"

@dataclass(frozen=True)
class HttpSpec:
    url: str
    method: str = "GET"
    params: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    has_json: bool = False
    body: str | None = None
    status: tuple[int | str, ...] = ()  # empty: any 2xx or 3xx
    follow_redirects: bool = False
    verify: bool = True
    connection: str | None = None
    idempotency_key: bool = False


def parse(body: Any, where: Location) -> HttpSpec:
    if isinstance(body, str):
        words = body.split(None, 1)
        if len(words) == 2 and words[0].upper() in METHODS:
            return HttpSpec(method=words[0].upper(), url=words[1].strip())
        return HttpSpec(url=body.strip())
    status = body.get("status", ())
    if not isinstance(status, list):
        status = [status] if status != () else []
    return HttpSpec(
        url=body["url"],
        method=body.get("method", "GET").upper(),
        params=body.get("params") or {},
        headers=body.get("headers") or {},
        json=body.get("json"),
        has_json="json" in body,
        body=body.get("body"),
        status=tuple(status),
        follow_redirects=bool(body.get("follow_redirects", False)),
        verify=bool(body.get("verify", True)),
        connection=body.get("connection"),
        idempotency_key=bool(body.get("idempotency_key", False)),
    )


# -- render / describe / execute ------------------------------------------------------------

EXCERPT = 500  # characters of the body shown in a bad-status error
DEFAULT_TIMEOUT = 30.0  # when neither the step nor the connection sets one: never infinite
_SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key",
                                "x-auth-token", "api-key"})
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass(frozen=True)
class HttpAction:
    """One rendered request: an absolute URL and every value already templated."""

    method: str
    url: str
    params: tuple[tuple[str, Any], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    json: Any = None
    has_json: bool = False
    body: str | None = None
    status: tuple[int | str, ...] = ()
    follow_redirects: bool = False
    verify: bool = True
    connection: str | None = None  # the connection's name: one client per connection per run
    timeout: float | None = None  # the connection's own cap, if it sets one
    idempotency_key: bool = False  # send a key derived from run and step (same every attempt)


def _join(base: str, url: str) -> str:
    """`base_url` + a relative URL, keeping the base's path (as httpx's base_url does)."""
    if not url:
        return base
    if url.startswith(("?", "#")):
        return base + url
    return base.rstrip("/") + "/" + url.lstrip("/")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def render(spec: HttpSpec, tpl: Templater, conns: Mapping[str, Connection]) -> HttpAction:
    """Render the request. A relative URL joins the connection's base_url. The connection's
    headers go only to its own origin: an absolute URL elsewhere does not get them."""
    where = tpl.where or Location()
    url = tpl.url(spec.url)
    # A URL that starts with a value only a live run knows (a plan) is taken as absolute.
    unknown_base = url.startswith("⟨")
    relative = not _SCHEME.match(url) and not unknown_base
    conn = None
    if relative or spec.connection is not None:
        conn = pick_connection(conns, "http", spec.connection, where)
    else:
        only = [c for c in conns.values() if c.kind == "http"]
        if len(only) == 1:
            base = str(tpl.text(only[0].settings.get("base_url") or ""))
            if base and _origin(base) == _origin(url):
                conn = only[0]
    headers: dict[str, str] = {}
    timeout = None
    verify = spec.verify
    if conn is not None:
        settings = conn.settings
        base = str(tpl.text(settings.get("base_url") or ""))
        if relative:
            if not base:
                raise RunbookError(
                    f"relative URL {url!r} but connection '{conn.name}' has no base_url",
                    where=where, hint="give the connection a `base_url`, or write a full URL")
            url = _join(base, url)
        for k, v in (tpl.value(settings.get("headers") or {})).items():
            headers[str(k)] = str(v)
        if settings.get("timeout") is not None:
            timeout = _seconds(tpl.text(settings["timeout"]), conn.name, where)
        verify = verify and bool(settings.get("verify", True))
    elif relative:
        raise RunbookError(
            f"relative URL {url!r} and no http connection to join it to",
            where=where,
            hint="write a full URL (https://host/path) or define an http connection with a "
            "`base_url` under `connections:`")
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https") and not unknown_base:
        raise RunbookError(f"URL {url!r} is not http or https", where=where,
                           hint="write a URL that starts with http:// or https://")
    for k, v in tpl.value(dict(spec.headers)).items():
        headers[str(k)] = str(v)
    for k, v in headers.items():
        if "\r" in v or "\n" in v or "\r" in k or "\n" in k:
            raise StepFailed(f"header {k!r} contains a line break", where=where,
                             hint="header values must be one line; check the value templated "
                             "into it")
    if spec.has_json and spec.body is not None:
        raise RunbookError("give the request either `json` or `body`, not both", where=where)
    params = tpl.value(dict(spec.params))
    return HttpAction(
        method=spec.method,
        url=url,
        params=tuple((str(k), v) for k, v in params.items()),
        headers=tuple(headers.items()),
        json=tpl.value(spec.json) if spec.has_json else None,
        has_json=spec.has_json,
        body=None if spec.body is None else tpl.body(spec.body, _content_type(headers)),
        status=spec.status,
        follow_redirects=spec.follow_redirects,
        verify=verify,
        connection=conn.name if conn is not None else None,
        timeout=timeout,
        idempotency_key=spec.idempotency_key and not replay.has_key(headers.items()),
    )


def _content_type(headers: dict[str, str]) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == "content-type"), None)


def _seconds(value: Any, name: str, where: Location) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise RunbookError(f"connection '{name}': timeout {exc}", where=where) from exc


def _display_url(action: HttpAction) -> str:
    if not action.params:
        return action.url
    query = urlencode([(k, _param_text(v)) for k, v in action.params])
    return action.url + ("&" if urlsplit(action.url).query else "?") + query


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe(action: HttpAction) -> Description:
    """The request as a reviewer reads it; sensitive header values are hidden."""
    url = _display_url(action)
    lines = [f"{action.method} {url}"]
    for k, v in action.headers:
        lines.append(f"{k}: {'***' if k.lower() in _SENSITIVE_HEADERS else v}")
    if action.has_json:
        lines += ["", json.dumps(action.json, indent=2, ensure_ascii=False, default=str)]
    elif action.body is not None:
        lines += ["", action.body]
    notes = []
    if action.status:
        notes.append("accepts status " + ", ".join(str(s) for s in action.status))
    if action.follow_redirects:
        notes.append("follows redirects")
    if not action.verify:
        notes.append("TLS certificates NOT verified")
    if action.idempotency_key:
        notes.append(f"sends `{replay.HEADER}`, derived from the run and the step: the same "
                     "on every attempt")
    return Description(
        summary=f"{action.method} {url}",
        body="\n".join(lines),
        language="http",
        target=_origin(action.url),
        notes=tuple(notes),
    )


def status_ok(status: int, accepted: tuple[int | str, ...]) -> bool:
    """True when `status` is accepted: a code, a class like `2xx`; default any 2xx or 3xx."""
    if not accepted:
        return 200 <= status < 400
    for a in accepted:
        if isinstance(a, int) and a == status:
            return True
        if isinstance(a, str) and a[0] == str(status)[0] and len(str(status)) == 3:
            return True
    return False


def _expected(accepted: tuple[int | str, ...]) -> str:
    return ", ".join(str(a) for a in accepted) if accepted else "2xx or 3xx"


def execute(action: HttpAction, io: StepIO) -> dict[str, Any]:
    """Send the request within one overall deadline (connect, send, wait and read together).

    httpx's timeouts bound each socket operation; a server that trickles a byte at a time
    would never trip them. So the request runs in a worker thread and this thread waits for
    the deadline or a cancel; past it, the client is closed and forgotten (the next step opens
    a new one) and the step fails with StepTimeout.
    """
    deadline = _deadline(action, io)
    key = f"http:{action.connection or '-'}:{'verify' if action.verify else 'noverify'}"
    client = io.clients.get(key, lambda: make_client(action.verify, deadline))
    box: dict[str, Any] = {}
    done = threading.Event()
    progress = {"sent": False}
    headers = dict(action.headers)
    if action.idempotency_key:
        headers[replay.HEADER] = replay.derived_key(io.run_id, io.step_id)

    def work() -> None:
        try:
            box["result"] = send(client, action, deadline, headers, progress)
        except BaseException as exc:  # handed to the waiting thread, never lost in this one
            box["error"] = exc
        finally:
            done.set()

    started = time.monotonic()
    threading.Thread(target=work, name=f"vvrun-http-{io.step_id}", daemon=True).start()
    while not done.wait(0.05):
        if io.cancel.is_set():
            _abandon(io, key, client)
            raise Cancelled(f"{action.method} {action.url} interrupted", where=io.where)
        if time.monotonic() - started > deadline:
            _abandon(io, key, client)
            late = StepTimeout(
                f"{action.method} {action.url} did not complete within {deadline:g}s",
                where=io.where,
                hint="raise the step's `timeout`, or check why the server is slow")
            if progress["sent"]:
                replay.mark_reached(late, "it timed out after the request was sent")
            raise late
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, VvrunError):
            raise exc
        error = translate(exc, action, deadline, io.where)
        if progress["sent"] and not isinstance(error, ConnectFailed):
            replay.mark_reached(error, "it timed out after the request was sent"
                                if isinstance(error, StepTimeout)
                                else "the connection broke after the request was sent")
        raise error from exc
    result: dict[str, Any] = box["result"]
    if not status_ok(result["status"], action.status):
        excerpt = result["text"][:EXCERPT]
        more = "…" if len(result["text"]) > EXCERPT else ""
        error = StepFailed(
            f"{action.method} {result['url']} returned {result['status']} {result['reason']} "
            f"(expected {_expected(action.status)})" + (f"\n  body: {excerpt}{more}"
                                                        if excerpt else ""),
            where=io.where,
            hint="if this status is fine here, accept it with `status:` on the step")
        error.result = result  # type: ignore[attr-defined]
        if result["status"] not in replay.NOT_PROCESSED:
            replay.mark_reached(error, f"the server answered {result['status']}")
        raise error
    return result


def _deadline(action: HttpAction, io: StepIO) -> float:
    limits = [t for t in (io.timeout, action.timeout) if t is not None and t > 0]
    return min(limits) if limits else DEFAULT_TIMEOUT


def _abandon(io: StepIO, key: str, client: Any) -> None:
    io.clients.discard(key)
    with contextlib.suppress(Exception):  # the worker may be mid-read: it ends on its own
        client.close()


