"""`http`: one request through httpx."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vvrun.errors import Location

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
