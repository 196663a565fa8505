"""The JSON Schema of an `http` step's body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
                "json": {"description": "A JSON body (any value). A string that is one "
                         "whole `{{ expr }}` sends the value itself (a list, a mapping, a "
                         "number); text around it makes it a string."},
                "body": {"type": "string", "description": "A raw body. A value templated "
                         "into it is escaped for its Content-Type header: percent-encoded in "
                         "a form, JSON-escaped in JSON; as written in any other."},
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
                "idempotency_key": {
                    "type": "boolean", "default": False,
                    "description": "Send an `Idempotency-Key` header derived from the run and "
                    "the step, the same on every attempt, so the server can drop a repeat; "
                    "a POST or PATCH with one may be retried after it reached the server."},
                "connection": {"type": "string",
                               "description": "Name of an http connection; default: the only one."},
            },
        },
    ],
}
