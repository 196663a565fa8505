"""Local stand-ins for Slack, PagerDuty and Statuspage that speak their documented APIs.

Each checks the request as the real service would (and refuses it the way the service does),
then answers as the service answers. They run on the `http_server` fixture (a real stdlib
ThreadingHTTPServer); tests read what each service accepted.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vvrun.notify.base import Delivery, Message, Notifier
from vvrun.notify.dispatch import Dispatcher, RetryPolicy

if TYPE_CHECKING:
    from tests.conftest import HttpServer

JSON = {"Content-Type": "application/json"}
PD_ACTIONS = ("trigger", "acknowledge", "resolve")
PD_SEVERITIES = ("critical", "error", "warning", "info")
SLACK_BLOCKS = ("header", "section", "context", "divider", "actions", "image", "rich_text")


FAST = RetryPolicy(attempts=3, first_delay=0.01, factor=2.0, max_delay=0.05, deadline=5.0,
                   timeout=5.0)


def message(kind: str = "failed", **kw: Any) -> Message:
    fields = {"runbook": "db-emergency", "run_id": "20261206-211432-db-emergency-7f3a",
              "text": "Terminated 3 stuck queries", "step": "kill", "status": "failed",
              "operator": "alice", "link": "http://127.0.0.1:8080/runs/20261206-7f3a", **kw}
    return Message(kind, **fields)


def deliver(notifier: Notifier, *messages: Message, policy: RetryPolicy = FAST
            ) -> list[Delivery]:
    """Messages through a real Dispatcher, in order; the deliveries as the audit sees them."""
    seen: list[Delivery] = []
    dispatcher = Dispatcher({notifier.name: notifier}, on_delivery=seen.append, policy=policy)
    tickets = [dispatcher.submit(notifier.name, m) for m in messages]
    assert dispatcher.close(timeout=30)
    assert [t.delivery for t in tickets] == seen
    return seen


def _json_body(request: Any) -> Any:
    if not request.headers.get("Content-Type", "").startswith("application/json"):
        raise ValueError("Content-Type is not application/json")
    return json.loads(request.body)


@dataclass
class Slack:
    """An incoming webhook at /services/T.../B.../...: 200 `ok`, or 400 `invalid_payload`
    (its documented error words), 404 `no_service` for an unknown webhook."""

    server: HttpServer
    path: str = "/services/T0VVRUN01/B0VVRUN02/s3cr3tW3bh00kT0k3n"
    accepted: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server.route("POST", self.path, self._post)

    @property
    def webhook(self) -> str:
        return self.server.url + self.path

    def _post(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        try:
            body = _json_body(request)
            problems = slack_problems(body)
        except ValueError:
            problems = ["not JSON"]
        if problems:
            return 400, {"Content-Type": "text/plain"}, b"invalid_payload"
        self.accepted.append(body)
        return 200, {"Content-Type": "text/html"}, b"ok"


def slack_problems(body: Any) -> list[str]:
    if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
        return ["needs text or blocks"]
    out = []
    if "text" in body and not isinstance(body["text"], str):
        out.append("text must be a string")
    blocks = body.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > 50:
        return [*out, "blocks must be a list of at most 50"]
    for block in blocks:
        kind = block.get("type")
        if kind not in SLACK_BLOCKS:
            out.append(f"unknown block {kind!r}")
        if kind == "header" and (block["text"]["type"] != "plain_text"
                                 or len(block["text"]["text"]) > 150):
            out.append("header must be plain_text of at most 150 characters")
        if kind == "section":
            if "text" not in block and "fields" not in block:
                out.append("section needs text or fields")
            if len(block.get("text", {}).get("text", "")) > 3000:
                out.append("section text over 3000")
            if len(block.get("fields", [])) > 10:
                out.append("more than 10 fields")
    return out


@dataclass
class PagerDuty:
    """Events API v2 at /v2/enqueue: 202 `{"status": "success", "message": "Event processed",
    "dedup_key": ...}`; 400 `{"status": "invalid event", "message": "Event object is
    invalid", "errors": [...]}`. Keeps each incident's state by dedup_key."""

    server: HttpServer
    accepted: list[dict[str, Any]] = field(default_factory=list)
    incidents: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.server.route("POST", "/v2/enqueue", self._post)

    def _post(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        try:
            event = _json_body(request)
            errors = pagerduty_errors(event)
        except ValueError:
            errors = ["Event object is not valid JSON"]
        if errors:
            return 400, JSON, json.dumps({"status": "invalid event", "message":
                                          "Event object is invalid", "errors": errors}).encode()
        key = event.get("dedup_key") or f"pd-{len(self.accepted)}"
        if event["event_action"] == "trigger":
            self.incidents[key] = "triggered"
        elif key in self.incidents and self.incidents[key] != "resolved":
            self.incidents[key] = {"acknowledge": "acknowledged", "resolve": "resolved"}[
                event["event_action"]]
        self.accepted.append(event)
        return 202, JSON, json.dumps({"status": "success", "message": "Event processed",
                                      "dedup_key": key}).encode()


def pagerduty_errors(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["Event object must be a JSON object"]
    errors = []
    if not isinstance(event.get("routing_key"), str) or len(event["routing_key"]) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in PD_ACTIONS:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, "
                      "resolve)")
    key = event.get("dedup_key")
    if key is not None and (not isinstance(key, str) or len(key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not key:
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or not an object"]
        for name in ("summary", "source", "severity"):
            if not payload.get(name):
                errors.append(f"'payload.{name}' is missing or blank")
        if len(payload.get("summary", "")) > 1024:
            errors.append("'payload.summary' is longer than 1024 characters")
        if payload.get("severity") not in PD_SEVERITIES:
            errors.append("'payload.severity' is invalid (must be one of: critical, error, "
                          "warning, info)")
        if "timestamp" in payload and not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d",
                                                   payload["timestamp"]):
            errors.append("'payload.timestamp' is not ISO 8601")
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
            errors.append("'payload.custom_details' must be an object")
    for link in event.get("links", []):
        if not link.get("href"):
            errors.append("'links[].href' is required")
    return errors


@dataclass
class Statuspage:
    """The REST API under /v1/pages/{page_id}: `Authorization: OAuth <key>` or 401; POST
    /incidents (201, the incident), PATCH /incidents/{id} (200), GET /components. Request
    bodies are `{"incident": {...}}`; a bad status is 422 `{"error": [...]}`."""

    server: HttpServer
    page_id: str = "kctbh9vrtdwd"
    api_key: str = "89a229ce1a8dbcf9ff30430fbe35eb4c0426574bca932061892cefd2138aa4b1"
    components: dict[str, str] = field(default_factory=lambda: {"api": "ftgks51sfs2d",
                                                                "web": "bb5w0kc1234x"})
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    component_status: dict[str, str] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        base = f"/v1/pages/{self.page_id}"
        self.server.route("POST", base + "/incidents", self._create)
        self.server.route("GET", base + "/components", self._components)

    def _auth(self, request: Any) -> tuple[int, dict[str, str], bytes] | None:
        if request.headers.get("Authorization") != f"OAuth {self.api_key}":
            return 401, JSON, b'{"error":"Could not authenticate"}'
        return None

    def _check(self, request: Any, creating: bool) -> tuple[dict[str, Any] | None, list[str]]:
        try:
            body = _json_body(request)
        except ValueError:
            return None, ["body is not JSON"]
        inc = body.get("incident") if isinstance(body, dict) else None
        if not isinstance(inc, dict):
            return None, ["incident is missing"]
        errors = []
        if creating and not inc.get("name"):
            errors.append("Name can't be blank")
        if inc.get("status", "investigating") not in ("investigating", "identified",
                                                      "monitoring", "resolved"):
            errors.append("Status is not included in the list")
        known = set(self.components.values())
        for cid, status in (inc.get("components") or {}).items():
            if cid not in known:
                errors.append(f"Component {cid} not found")
            if status not in ("operational", "under_maintenance", "degraded_performance",
                              "partial_outage", "major_outage"):
                errors.append(f"Component status {status} is not valid")
        return inc, errors

    def _create(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        if (denied := self._auth(request)) is not None:
            return denied
        inc, errors = self._check(request, creating=True)
        if errors or inc is None:
            return 422, JSON, json.dumps({"error": errors}).encode()
        incident_id = f"p31zjtct2jer{next(self._ids)}"
        record = {"id": incident_id, "page_id": self.page_id, "name": inc["name"],
                  "status": inc.get("status", "investigating"), "updates": [inc]}
        self.incidents[incident_id] = record
        self.component_status.update(inc.get("components") or {})
        self.requests.append(("create", inc))
        path = f"/v1/pages/{self.page_id}/incidents/{incident_id}"
        self.server.route("PATCH", path, lambda r: self._update(r, incident_id))
        return 201, JSON, json.dumps(record).encode()

    def _update(self, request: Any, incident_id: str) -> tuple[int, dict[str, str], bytes]:
        if (denied := self._auth(request)) is not None:
            return denied
        inc, errors = self._check(request, creating=False)
        if errors or inc is None:
            return 422, JSON, json.dumps({"error": errors}).encode()
        record = self.incidents[incident_id]
        record["status"] = inc.get("status", record["status"])
        record["updates"].append(inc)
        self.component_status.update(inc.get("components") or {})
        self.requests.append(("update", inc))
        return 200, JSON, json.dumps(record).encode()

    def _components(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        if (denied := self._auth(request)) is not None:
            return denied
        rows = [{"id": cid, "name": name, "status": self.component_status.get(cid,
                                                                              "operational")}
                for name, cid in self.components.items()]
        return 200, JSON, json.dumps(rows).encode()
