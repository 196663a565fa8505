"""`http`: one request through httpx."""

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
from vvrun.text.durations import parse_duration

NAME = "http"

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PURGE")

SCHEMA: Mapping[str, Any] = {
    "description": "Send an HTTP request (httpx). A string is `METHOD url` or just a URL (GET); "
    "a relative URL joins the connection's `base_url`; templated values are URL-encoded.",
    "examples": ["GET /health", {"method": "POST", "url": "/api/v1/auth/forgot-password",
                                 "json": {"email": "{{ inputs.email }}"}}],
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "`METHOD url` or a URL."},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["url"],
            "properties": {
                "method": {"type": "string", "enum": list(METHODS), "default": "GET",
                           "description": "The HTTP method."},
                "url": {"type": "string", "minLength": 1,
                        "description": "Absolute, or relative to the connection's base_url."},
                "params": {"type": "object", "description": "Query parameters.",
                           "additionalProperties": {"type": ["string", "number", "boolean"]}},
                "headers": {"type": "object", "description": "Request headers.",
                            "additionalProperties": {"type": "string"}},
                "json": {"description": "A JSON body (any value)."},
                "body": {"type": "string", "description": "A raw text body."},
                "status": {
                    "description": "Accepted status codes: a code, a list, or a class like "
                    "`2xx`. Default: any 2xx or 3xx.",
                    "examples": [200, [200, 204], "2xx"],
                    "oneOf": [
                        {"type": "integer", "minimum": 100, "maximum": 599},
                        {"type": "string", "pattern": "^[1-5]xx$"},
                        {"type": "array", "minItems": 1, "items": {
                            "oneOf": [{"type": "integer", "minimum": 100, "maximum": 599},
                                      {"type": "string", "pattern": "^[1-5]xx$"}]}},
                    ],
                },
                "follow_redirects": {"type": "boolean", "default": False,
                                     "description": "Follow 3xx responses."},
                "verify": {"type": "boolean", "default": True,
                           "description": "Verify TLS certificates."},
                "connection": {"type": "string",
                               "description": "Name of an http connection; default: the only one."},
            },
        },
    ],
}


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
    )


# -- render / describe / execute ------------------------------------------------------------

TEXT_CAP = 64 * 1024  # characters of the body kept in `result.text`
MAX_BODY = 8 * 1024 * 1024  # bytes read at most; a longer body is cut and not parsed as JSON
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
        body=None if spec.body is None else str(tpl.text(spec.body)),
        status=spec.status,
        follow_redirects=spec.follow_redirects,
        verify=verify,
        connection=conn.name if conn is not None else None,
        timeout=timeout,
    )


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
    client = io.clients.get(key, lambda: _make_client(action.verify, deadline))
    box: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["result"] = _send(client, action, deadline)
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
            raise StepTimeout(
                f"{action.method} {action.url} did not complete within {deadline:g}s",
                where=io.where,
                hint="raise the step's `timeout`, or check why the server is slow")
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, VvrunError):
            raise exc
        raise _translate(exc, action, deadline, io.where) from exc
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
        raise error
    return result


def _deadline(action: HttpAction, io: StepIO) -> float:
    limits = [t for t in (io.timeout, action.timeout) if t is not None and t > 0]
    return min(limits) if limits else DEFAULT_TIMEOUT


def _make_client(verify: bool, timeout: float) -> Any:
    import httpx

    from vvrun import __version__

    return httpx.Client(verify=verify, timeout=timeout, follow_redirects=False,
                        headers={"User-Agent": f"vvrun/{__version__}"})


def _abandon(io: StepIO, key: str, client: Any) -> None:
    io.clients.discard(key)
    with contextlib.suppress(Exception):  # the worker may be mid-read: it ends on its own
        client.close()


def _send(client: Any, action: HttpAction, timeout: float) -> dict[str, Any]:
    """The request itself (in the worker thread): read at most MAX_BODY bytes."""
    kwargs: dict[str, Any] = {
        "params": list(action.params) or None,
        "headers": dict(action.headers),
        "follow_redirects": action.follow_redirects,
        "timeout": timeout,
    }
    if action.has_json:
        kwargs["json"] = action.json
    elif action.body is not None:
        kwargs["content"] = action.body.encode()
    started = time.perf_counter()
    chunks: list[bytes] = []
    size = 0
    cut = False
    with client.stream(action.method, action.url, **kwargs) as resp:
        for chunk in resp.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BODY:
                cut = True
                break
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        raw = b"".join(chunks)[:MAX_BODY]
        text = raw.decode(resp.encoding or "utf-8", errors="replace")
        headers = {k.lower(): v for k, v in resp.headers.items()}
        return {
            "status": resp.status_code,
            "reason": resp.reason_phrase,
            "headers": headers,
            "json": None if cut else _json_or_none(text, headers.get("content-type", "")),
            "text": text[:TEXT_CAP],
            "truncated": cut or len(text) > TEXT_CAP,
            "elapsed_ms": elapsed_ms,
            "url": str(resp.url),
        }


def _json_or_none(text: str, content_type: str) -> Any:
    stripped = text.lstrip()
    if "json" not in content_type.lower() and not stripped.startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _translate(exc: BaseException, action: HttpAction, timeout: float,
               where: Location) -> VvrunError:
    """The one place httpx exceptions become vvrun errors."""
    import httpx

    target = f"{action.method} {action.url}"
    host = urlsplit(action.url).netloc
    if isinstance(exc, httpx.ConnectTimeout):
        return ConnectFailed(f"could not connect to {host} within {timeout:g}s ({target})",
                             where=where, hint="check the host and port, and that it is up "
                             "and reachable from here")
    if isinstance(exc, httpx.TimeoutException):
        return StepTimeout(f"{target} timed out after {timeout:g}s waiting for the server",
                           where=where, hint="raise the step's `timeout`, or check why the "
                           "server is slow")
    if isinstance(exc, httpx.ConnectError):
        return ConnectFailed(f"could not connect to {host}: {exc} ({target})", where=where,
                             hint="check the host name and port, and that the server is up")
    if isinstance(exc, httpx.TooManyRedirects):
        return StepFailed(f"{target}: too many redirects", where=where,
                          hint="check the URL; the server redirects in a loop")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return StepFailed(f"{target}: not a usable URL ({exc})", where=where,
                          hint="write a full http:// or https:// URL")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return StepFailed(f"{target}: the connection broke: {exc or type(exc).__name__}",
                          where=where, hint="the server closed the connection or sent "
                          "something that is not HTTP; check its logs")
    if isinstance(exc, httpx.HTTPError | httpx.StreamError):
        return StepFailed(f"{target} failed: {exc or type(exc).__name__}", where=where)
    if isinstance(exc, OSError | ValueError | TypeError):
        # ssl errors are OSErrors; a json body that cannot be encoded is a TypeError
        return StepFailed(f"{target} failed: {exc}", where=where)
    raise exc
