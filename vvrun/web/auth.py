"""Who is asking: a trusted proxy header, a bearer token, or the signed login cookie.

None means anonymous: such a person may read pages, never change anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from vvrun.web.config import ServeConfig

COOKIE = "vvrun_auth"
LIFETIME = 12 * 3600.0


def _mac(cfg: ServeConfig, payload: bytes) -> str:
    return hmac.new(cfg.secret, b"auth:" + payload, hashlib.sha256).hexdigest()


def _token_tag(token: str) -> str:
    # the cookie names the token it came from, so that removing a token from the file
    # signs its holder out at once
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def login_cookie(cfg: ServeConfig, token: str, now: float | None = None) -> str | None:
    """The cookie value for a valid token, else None."""
    user = next((u for t, u in cfg.tokens.items() if hmac.compare_digest(t, token)), None)
    if user is None:
        return None
    expires = (now or time.time()) + LIFETIME
    payload = json.dumps([user, expires, _token_tag(token)]).encode()
    return base64.urlsafe_b64encode(payload).decode() + "." + _mac(cfg, payload)


def _from_cookie(cfg: ServeConfig, value: str) -> str | None:
    encoded, _, mac = value.partition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded.encode())
    except ValueError:
        return None
    if not hmac.compare_digest(mac, _mac(cfg, payload)):
        return None
    try:
        user, expires, tag = json.loads(payload)
    except (ValueError, TypeError):
        return None
    if expires < time.time():
        return None
    if not any(_token_tag(t) == tag and u == user for t, u in cfg.tokens.items()):
        return None
    return str(user)


def identity(cfg: ServeConfig, request: Any) -> str | None:
    """The signed-in person, or None (anonymous)."""
    if cfg.auth_header:
        value = request.headers.get(cfg.auth_header, "").strip()
        return value or None
    if not cfg.tokens:
        return None
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        return next((u for t, u in cfg.tokens.items() if hmac.compare_digest(t, token)), None)
    cookie = request.cookies.get(COOKIE)
    return _from_cookie(cfg, cookie) if cookie else None
