"""The request on the wire (httpx, imported inside functions): the client, sending within a
body cap, and the one place httpx exceptions become vvrun errors. Private to the http step."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from vvrun.errors import ConnectFailed, Location, StepFailed, StepTimeout, VvrunError

TEXT_CAP = 64 * 1024  # characters of the body kept in `result.text`
MAX_BODY = 8 * 1024 * 1024  # bytes read at most; a longer body is cut and not parsed as JSON


def make_client(verify: bool, timeout: float) -> Any:
    import httpx

    from vvrun import __version__

    return httpx.Client(verify=verify, timeout=timeout, follow_redirects=False,
                        headers={"User-Agent": f"vvrun/{__version__}"})


def send(client: Any, action: Any, timeout: float, headers: dict[str, str],
         progress: dict[str, bool]) -> dict[str, Any]:
    """The request itself (in the worker thread): read at most MAX_BODY bytes.

    `progress["sent"]` turns true when the request starts going out (httpcore's trace of
    `…send_request_headers.started`): from then on the server may have it."""

    def trace(event: str, info: Any) -> None:
        if ".send_request_headers.started" in event:
            progress["sent"] = True

    kwargs: dict[str, Any] = {
        "params": list(action.params) or None,
        "headers": headers,
        "follow_redirects": action.follow_redirects,
        "timeout": timeout,
        "extensions": {"trace": trace},
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


def translate(exc: BaseException, action: Any, timeout: float,
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
