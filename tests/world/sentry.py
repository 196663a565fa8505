"""A real local HTTP server for the one Sentry API call the runbooks make, as Sentry documents
it (https://docs.sentry.io/api/discover/query-discover-events-in-table-format):

`GET /api/0/organizations/{organization_id_or_slug}/events/?field=...&statsPeriod=...`
with `Authorization: Bearer <token>` → `{"data": [{field: value, ...}], "meta": {"fields":
{...}, "units": {...}}}`, only the fields asked for (at most 20; at least one: 400 without).
`failure_rate()` is a fraction (0.0008 = 0.08 %); durations are milliseconds.

The seed's monitoring (Sentry: errors, performance) is where VocaVision's SLIs live; the app
itself has no metrics endpoint.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "sntrys_test_token_7c1e"
ORG = "vocavision"

HEALTHY: dict[str, float] = {
    "count()": 18250, "failure_rate()": 0.0008,
    "p95(transaction.duration)": 182.0, "p99(transaction.duration)": 431.0,
    "p95(span.duration)": 38.0,
}
DEGRADED: dict[str, float] = {
    **HEALTHY, "failure_rate()": 0.024,
    "p95(transaction.duration)": 1340.0, "p99(transaction.duration)": 2900.0,
}


class SentryAPI:
    def __init__(self) -> None:
        self.values = dict(HEALTHY)
        self.requests: list[dict[str, Any]] = []
        handler = type("Handler", (_Handler,), {"api": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def degrade(self) -> None:
        """Breach every alert threshold of the seed's SLI table."""
        self.values = dict(DEGRADED)

    def recover(self) -> None:
        self.values = dict(HEALTHY)

    def recover_after(self, queries: int) -> None:
        """Degraded now; healthy again from the `queries`-th query on (a fix taking effect
        while a runbook waits for it)."""
        self.degrade()
        self._recover_at = len(self.requests) + queries

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, method: str, target: str, auth: str | None) -> tuple[int, Any]:
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        self.requests.append({"method": method, "path": parts.path, "query": query})
        if len(self.requests) >= getattr(self, "_recover_at", 1 << 30):
            self.recover()
        if auth != f"Bearer {TOKEN}":
            return 401, {"detail": "Invalid token"}
        if method != "GET" or parts.path != f"/api/0/organizations/{ORG}/events/":
            return 404, {"detail": "The requested resource does not exist"}
        fields = query.get("field", [])
        if not fields or len(fields) > 20:
            return 400, {"detail": "You must include between 1 and 20 fields"}
        unknown = [f for f in fields if f not in self.values]
        if unknown:
            return 400, {"detail": f"Unknown field: {unknown[0]}"}
        row = {f: self.values[f] for f in fields}
        meta = {"fields": {f: "percentage" if f == "failure_rate()" else
                           "integer" if f == "count()" else "duration" for f in fields},
                "units": {f: "millisecond" for f in fields if "duration" in f}}
        return 200, {"data": [row], "meta": meta}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    api: SentryAPI

    def log_message(self, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        status, payload = self.api.answer("GET", self.path, self.headers.get("Authorization"))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
