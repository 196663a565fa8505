"""The HTTP seam of the notifiers: a rendered request, and the one place it is sent (httpx).

httpx is imported inside `send`, so plans, `validate` and `--help` never load it. Every
transport error is translated here, once, into a `Delivery` whose text names the host, never
the URL (a webhook's path is its secret).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from vvrun import __version__
from vvrun.notify.base import Delivery, Message, Notifier, failure, success

USER_AGENT = f"vvrun/{__version__}"
_RETRY_STATUSES = frozenset({408, 420, 425, 429})  # 420: Statuspage's rate limit
_MAX_RETRY_AFTER = 60.0
_SECRET_HEADERS = frozenset({"authorization", "x-vvrun-signature-256"})
EXCERPT = 200


@dataclass(frozen=True)
class HttpRequest:
    """One request a notifier would send: method, URL, headers and body."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    json_body: Any

    def body(self) -> bytes:
        if self.json_body is None:
            return b""
        return json.dumps(self.json_body, separators=(",", ":"), ensure_ascii=False).encode()

    def preview(self) -> str:
        lines = [f"{self.method} {self.url}"]
        for key, value in self.headers:
            shown = "***" if key.lower() in _SECRET_HEADERS else value
            lines.append(f"{key}: {shown}")
        if self.json_body is not None:
            lines.append(json.dumps(self.json_body, indent=2, ensure_ascii=False))
        return "\n".join(lines)


def json_headers(*extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return (("Content-Type", "application/json"), ("User-Agent", USER_AGENT), *extra)


def join(base: str, path: str) -> str:
    return base.rstrip("/") + path


def host(url: str) -> str:
    return split(url)[0] or "<no host>"


def split(url: str) -> tuple[str, str]:
    """(host[:port], path?query) of a URL; a malformed one is all path (so all masked)."""
    try:
        parts = urlsplit(url)
        if not parts.netloc:
            return "", url
        return (parts.netloc.rsplit("@", 1)[-1],
                parts.path + (f"?{parts.query}" if parts.query else ""))
    except ValueError:
        return "", url


class Client:
    """One httpx client per notifier, made on first use (in the dispatcher's thread)."""

    def __init__(self) -> None:
        self._client: Any = None

    def request(self, req: HttpRequest, timeout: float) -> Any:
        import httpx

        if self._client is None:
            self._client = httpx.Client(follow_redirects=False)
        return self._client.request(req.method, req.url, headers=list(req.headers),
                                    content=req.body(), timeout=timeout)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def deliver(notifier: Notifier, client: Client, message: Message, req: HttpRequest,
            timeout: float, ref: Callable[[Any], str | None] = lambda _r: None) -> Delivery:
    """Send `req` and judge the answer: 2xx delivered; 408/429/5xx and transport errors
    retryable; any other status final. `ref` reads the service's handle from the response."""
    import httpx

    where = f"{notifier.KIND} notifier '{notifier.name}' ({host(req.url)})"
    try:
        resp = client.request(req, timeout)
    except httpx.TimeoutException:
        return failure(notifier, message, f"{where}: no answer within {timeout:g}s",
                       retryable=True)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        return failure(notifier, message, f"{where}: the URL is not a valid http(s) URL")
    except (httpx.TransportError, OSError) as exc:  # refused, reset, DNS, TLS, proxy
        return failure(notifier, message, f"{where}: {type(exc).__name__}: {exc}",
                       retryable=True)
    except httpx.HTTPError as exc:  # the rest of httpx's tree: decoding, redirects
        return failure(notifier, message, f"{where}: {type(exc).__name__}: {exc}")
    if 200 <= resp.status_code < 300:
        return success(notifier, message, status=resp.status_code, ref=ref(resp))
    retryable = resp.status_code >= 500 or resp.status_code in _RETRY_STATUSES
    text = " ".join(resp.text[:EXCERPT].split())
    return failure(notifier, message, f"{where}: HTTP {resp.status_code} {text}".rstrip(),
                   status=resp.status_code, retryable=retryable,
                   retry_after=_retry_after(resp.headers))


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER) if value else None
    except ValueError:  # an HTTP date: rare for these services; the backoff applies
        return None


def json_field(resp: Any, *path: str) -> str | None:
    try:
        data = resp.json()
        for key in path:
            data = data[key]
    except (ValueError, KeyError, TypeError):
        return None
    return str(data) if data is not None else None
