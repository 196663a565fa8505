"""A real local HTTP server standing in for the VocaVision API and site.

Routes (what the runbooks read):

- `GET|HEAD /`: the site's home page (HTML).
- `GET|HEAD /health`, `/api/health`: the seed's health JSON, `{"status": "healthy",
  "timestamp": ..., "checks": {"database": "healthy", "redis": "healthy"}}`; 503 when
  `status` is not healthy.
- `POST /api/v1/auth/forgot-password` with JSON `{"email": ...}`: 200 `{"message": ...}`, the
  same answer whether or not the account exists (as a real API must); 400 without an email.

These are the app's endpoints as the seed names them, and only those: the SLIs come from
Sentry (`world/sentry.py`), deployments and the CDN cache from Vercel (`world/vercel.py`).
`set_live(deployment)` makes the API answer as that deployment would (a broken release is
unhealthy). Tests change `health` and read `requests` and `reset_emails`.
Run it alone for a demo: `python tests/world/api.py --port 8080`.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class VocaVisionAPI:
    """Start with `VocaVisionAPI()`; `url` is its base; `close()` when done."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.health: dict[str, Any] = {
            "status": "healthy",
            "checks": {"database": "healthy", "redis": "healthy"},
        }
        self.requests: list[dict[str, Any]] = []
        self.reset_emails: list[str] = []
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"api": self})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def set_live(self, deployment: dict[str, Any]) -> None:
        """Answer as `deployment` (from the Vercel stand-in) would: healthy or not."""
        state = "healthy" if deployment.get("healthy", True) else "unhealthy"
        self.health = {"status": "healthy" if state == "healthy" else "degraded",
                       "checks": {"database": state, "redis": "healthy"}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> VocaVisionAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- routes --------------------------------------------------------------------------

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        with self._lock:
            self.requests.append({"method": method, "path": path, "body": body})
        route = path.split("?", 1)[0]
        if route == "/" and method in ("GET", "HEAD"):
            return 200, "text/html; charset=utf-8", b"<!doctype html><title>VocaVision</title>"
        if route in ("/health", "/api/health") and method in ("GET", "HEAD"):
            payload = {
                "status": self.health["status"],
                "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "checks": dict(self.health["checks"]),
            }
            return _json(200 if payload["status"] == "healthy" else 503, payload)
        if route == "/api/v1/auth/forgot-password":
            if method != "POST":
                return _json(405, {"error": "method not allowed"})
            try:
                email = json.loads(body or b"{}").get("email")
            except (ValueError, AttributeError):
                email = None
            if not isinstance(email, str) or "@" not in email:
                return _json(400, {"error": "a valid email is required"})
            with self._lock:
                self.reset_emails.append(email)
            return _json(200, {"message": "If an account exists for this email, "
                                          "a password reset link has been sent."})
        return _json(404, {"error": "not found"})


def _json(status: int, payload: Any) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(payload).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else every keep-alive request waits ~44 ms (PERF-NOTES)
    api: VocaVisionAPI

    def log_message(self, *args: Any) -> None:
        return None

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, ctype, payload = self.api.answer(self.command, self.path, body)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _handle


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="A local stand-in for the VocaVision API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    api = VocaVisionAPI(args.host, args.port)
    print(f"VocaVision API stand-in on {api.url} (Ctrl-C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        api.close()


if __name__ == "__main__":
    main()
