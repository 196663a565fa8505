"""Atlassian Statuspage, through its REST API (`Authorization: OAuth <api key>`): a run opens
an incident (POST {base}/v1/pages/{page_id}/incidents), updates it and resolves it (PATCH
…/incidents/{id}), setting its components' status. The incident a run opened is remembered by
run id; `remember()` restores it when a run resumes in another process (from the audit
trail's `ref`). Components may be named by id or by name (looked up once per notifier)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from vvrun.notify import _http
from vvrun.notify.base import Delivery, Message, NotifierConfigError, failure, success
from vvrun.notify.schema import COMPONENT_STATUSES

KIND = "statuspage"
BASE = "https://api.statuspage.io"


def incident(message: Message, *, opening: bool, components: tuple[str, ...],
             component_status: str) -> dict[str, Any]:
    """The `{"incident": {...}}` body of a create (opening) or an update."""
    action = message.incident_action()
    if action == "resolve":
        status, comp = "resolved", "operational"
    else:
        default = "investigating" if opening else "identified"
        status = message.incident_status or default
        comp = message.component_status or component_status
    body: dict[str, Any] = {"status": status, "body": message.text or message.headline()}
    if opening:
        body["name"] = message.headline()
        body["deliver_notifications"] = True
        if components:
            body["component_ids"] = list(components)
    if components:
        body["components"] = {c: comp for c in components}
    return {"incident": body}


@dataclass(repr=False)
class StatuspageNotifier:
    """Atlassian Statuspage: incidents opened, updated and resolved through its REST API."""

    KIND: ClassVar[str] = KIND
    name: str
    page_id: str
    api_key: str
    components: tuple[str, ...] = ()
    component_status: str = "major_outage"
    url: str | None = None
    _incidents: dict[str, str] = field(default_factory=dict)  # run id -> incident id
    _ids: dict[str, str] | None = None  # component name or id -> id, once looked up
    _client: _http.Client = field(default_factory=_http.Client)

    def remember(self, run_id: str, incident_id: str) -> None:
        self._incidents[run_id] = incident_id

    def incident_id(self, run_id: str) -> str | None:
        return self._incidents.get(run_id)

    def _path(self, tail: str = "") -> str:
        return _http.join(self.url or BASE, f"/v1/pages/{self.page_id}{tail}")

    def _headers(self) -> tuple[tuple[str, str], ...]:
        return _http.json_headers(("Authorization", f"OAuth {self.api_key}"))

    def render(self, message: Message, components: tuple[str, ...] | None = None
               ) -> _http.HttpRequest:
        known = self._incidents.get(message.run_id)
        body = incident(message, opening=known is None, components=(
            self.components if components is None else components),
            component_status=self.component_status)
        if known is None:
            return _http.HttpRequest("POST", self._path("/incidents"), self._headers(), body)
        return _http.HttpRequest("PATCH", self._path(f"/incidents/{known}"), self._headers(),
                                 body)

    def send(self, message: Message, timeout: float) -> Delivery:
        if message.incident_action() != "trigger" and message.run_id not in self._incidents:
            return success(self, message, ref=None)  # nothing this run opened to update
        comps = self._resolve_components(message, timeout)
        if isinstance(comps, Delivery):
            return comps
        delivery = _http.deliver(self, self._client, message, self.render(message, comps),
                                 timeout, ref=lambda r: _http.json_field(r, "id"))
        if delivery.ok and delivery.ref and message.run_id not in self._incidents:
            self._incidents[message.run_id] = delivery.ref
        return delivery

    def _resolve_components(self, message: Message, timeout: float
                            ) -> tuple[str, ...] | Delivery:
        if not self.components:
            return ()
        if self._ids is None:
            req = _http.HttpRequest("GET", self._path("/components"), self._headers(), None)
            found: list[Any] = []
            got = _http.deliver(self, self._client, message, req, timeout,
                                ref=lambda r: found.append(r.json()) or None)
            if not got.ok:
                return got
            rows = found[0] if found and isinstance(found[0], list) else []
            self._ids = {}
            for row in rows:
                self._ids[str(row.get("id"))] = str(row.get("id"))
                self._ids.setdefault(str(row.get("name")), str(row.get("id")))
        missing = [c for c in self.components if c not in self._ids]
        if missing:
            names = ", ".join(sorted(k for k, v in self._ids.items() if k != v)) or "none"
            return failure(self, message, f"statuspage notifier '{self.name}': no component "
                           f"{', '.join(missing)} on page {self.page_id} (it has: {names})")
        return tuple(self._ids[c] for c in self.components)

    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"StatuspageNotifier(name={self.name!r}, page_id={self.page_id!r}, api_key='***')"


def from_config(name: str, config: Mapping[str, Any]) -> StatuspageNotifier:
    body = config[KIND]
    if not isinstance(body, Mapping) or not body.get("page_id") or not body.get("api_key"):
        raise NotifierConfigError(f"notifier '{name}': statuspage needs page_id and api_key",
                                  hint="statuspage: {page_id: abc123, api_key: "
                                  "\"{{ secrets.statuspage_key }}\", component: api}")
    comp = body.get("component") or ()
    status = body.get("component_status", "major_outage")
    if status not in COMPONENT_STATUSES:
        raise NotifierConfigError(f"notifier '{name}': component_status {status!r} is not one "
                                  f"of {', '.join(COMPONENT_STATUSES)}")
    return StatuspageNotifier(name, str(body["page_id"]), str(body["api_key"]),
                              components=(comp,) if isinstance(comp, str) else tuple(comp),
                              component_status=status, url=config.get("url"))
