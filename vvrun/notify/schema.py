"""JSON Schema fragments for notifiers, for the runbook schema (keywords `minischema` knows).

NOTIFIERS: the top-level `notifiers:` mapping. RUN_NOTIFY: the top-level `notify:` list of run
events. NOTIFY_STEP: the body of a `notify` step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vvrun.notify.base import ACTIONS, RUN_EVENTS, SEVERITIES

#: Statuspage's incident and component statuses (its REST API's enums); the schema lists them
#: without loading the notifier itself (cold start).
INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
COMPONENT_STATUSES = ("operational", "under_maintenance", "degraded_performance",
                      "partial_outage", "major_outage")

_NAME = {"type": "string", "pattern": "^[a-z][a-z0-9_-]*$"}
_URL = {"type": "string", "minLength": 1,
        "description": "Aim the notifier at another endpoint than the service's public one "
        "(PagerDuty's EU region, a proxy, a test receiver). PagerDuty and Statuspage: the base "
        "URL, vvrun appends the API's paths; Slack: replaces the webhook's scheme and host; "
        "webhook: the URL; smtp: the server URL."}
_TEXT = {"type": "string", "minLength": 1}


def _kind(key: str, body: Mapping[str, Any], description: str,
          extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": [key],
            "description": description,
            "properties": {key: body, "url": _URL, **(extra or {})}}


_SLACK = _kind("slack", {**_TEXT, "description": "The incoming webhook URL (a secret: use "
                         "`{{ secrets.<name> }}`)."},
               "Slack incoming webhook: text and blocks (runbook, step, status, operator, link).")
_PAGERDUTY = _kind(
    "pagerduty", {**_TEXT, "description": "The Events API v2 integration's routing key "
                  "(a secret)."},
    "PagerDuty Events API v2: trigger on failure, resolve on success; dedup_key = run id.",
    {"severity": {"type": "string", "enum": list(SEVERITIES), "default": "error",
                  "description": "payload.severity of a trigger."},
     "source": {**_TEXT, "description": "payload.source; default: the runbook's name."},
     "component": {**_TEXT, "description": "payload.component; default: the step's id."}})
_STATUSPAGE = _kind("statuspage", {
    "type": "object", "additionalProperties": False, "required": ["page_id", "api_key"],
    "description": "Atlassian Statuspage: a run opens, updates and resolves one incident.",
    "properties": {
        "page_id": {**_TEXT, "description": "The page's id."},
        "api_key": {**_TEXT, "description": "An API key (a secret), sent as "
                    "`Authorization: OAuth <key>`."},
        "component": {"description": "Component(s) the incident affects, by id or name.",
                      "oneOf": [_TEXT, {"type": "array", "minItems": 1, "items": _TEXT}]},
        "component_status": {"type": "string", "enum": list(COMPONENT_STATUSES),
                             "default": "major_outage",
                             "description": "Their status while the incident is open."},
    }}, "Atlassian Statuspage incident and component status.")
_SMTP = _kind(
    "smtp", {"type": "string", "pattern": "^(smtps?://|\\{\\{)",
             "description": "smtp://host:port (STARTTLS on 587) or smtps://host:port, "
             "or a template giving one (a URL with a password is a secret)."},
    "E-mail over SMTP, plain text and HTML.",
    {"from": {**_TEXT, "description": "The sender address."},
     "to": {"description": "Recipient address(es).",
            "oneOf": [_TEXT, {"type": "array", "minItems": 1, "items": _TEXT}]},
     "subject": {**_TEXT, "description": "Default: `[vvrun] <runbook>: <event>`."},
     "starttls": {"type": "boolean", "description": "Upgrade with STARTTLS; default: true "
                  "on port 587."},
     "username": {**_TEXT, "description": "Login name."},
     "password": {**_TEXT, "description": "Login password (a secret)."},
     "ca_file": {**_TEXT, "description": "CA bundle to verify the server's certificate."}})
_SMTP["required"] = ["smtp", "from", "to"]
_WEBHOOK = _kind(
    "webhook", {**_TEXT, "description": "The URL that receives the event's JSON (POST)."},
    "A generic JSON webhook: the run event as documented JSON.",
    {"secret": {**_TEXT, "description": "Sign the body: X-Vvrun-Signature-256: "
                "sha256=<HMAC-SHA256 hex>."},
     "headers": {"type": "object", "additionalProperties": {"type": "string"},
                 "description": "Extra request headers."}})

NOTIFIER: dict[str, Any] = {
    "description": "A notifier: exactly one of slack, pagerduty, statuspage, smtp, webhook.",
    "oneOf": [_SLACK, _PAGERDUTY, _STATUSPAGE, _SMTP, _WEBHOOK],
}

NOTIFIERS: dict[str, Any] = {
    "type": "object", "propertyNames": _NAME, "additionalProperties": NOTIFIER,
    "description": "Where notifications go, by name: `notify` steps and run events use them.",
    "examples": [{"incidents": {"slack": "{{ secrets.slack_webhook }}"},
                  "oncall": {"pagerduty": "{{ secrets.pd_routing_key }}",
                             "severity": "critical"}}],
}

_TO = {"description": "A notifier's name, or several.",
       "oneOf": [_NAME, {"type": "array", "minItems": 1, "uniqueItems": True, "items": _NAME}]}

RUN_NOTIFY: dict[str, Any] = {
    "type": "array",
    "description": "Run events that notify without a step.",
    "examples": [[{"on": ["failed"], "to": "oncall"}]],
    "items": {
        "type": "object", "additionalProperties": False, "required": ["on", "to"],
        "properties": {
            "on": {"description": "The run events.", "oneOf": [
                {"type": "string", "enum": list(RUN_EVENTS)},
                {"type": "array", "minItems": 1, "uniqueItems": True,
                 "items": {"type": "string", "enum": list(RUN_EVENTS)}}]},
            "to": _TO,
            "message": {**_TEXT, "description": "Templated text; default: a line about the "
                        "event."},
            "required": {"type": "boolean", "default": False,
                         "description": "A delivery failure fails the run."},
        },
    },
}

NOTIFY_STEP: dict[str, Any] = {
    "description": "Tell people through notifiers declared under `notifiers:`.",
    "examples": [{"to": "incidents", "message": "Terminated {{ steps.kill.result.rowcount }} "
                  "stuck queries"}],
    "type": "object", "additionalProperties": False, "required": ["to", "message"],
    "properties": {
        "to": _TO,
        "message": {**_TEXT, "description": "Templated text."},
        "title": {**_TEXT, "description": "One line: Slack header, e-mail subject, PagerDuty "
                  "summary, Statuspage incident name."},
        "required": {"type": "boolean", "default": False,
                     "description": "Wait for delivery; its failure fails the step."},
        "action": {"type": "string", "enum": list(ACTIONS),
                   "description": "PagerDuty and Statuspage: trigger (default), acknowledge "
                   "or resolve this run's incident."},
        "severity": {"type": "string", "enum": list(SEVERITIES),
                     "description": "PagerDuty severity, instead of the notifier's."},
        "incident_status": {"type": "string", "enum": list(INCIDENT_STATUSES),
                            "description": "Statuspage incident status of this update."},
        "component_status": {"type": "string", "enum": list(COMPONENT_STATUSES),
                             "description": "Statuspage component status of this update."},
    },
}
