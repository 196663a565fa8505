"""CSRF: every form carries a token bound to the browser's session cookie.

The session id is a random cookie (HttpOnly, SameSite=Lax); the token is its HMAC under the
server's key. Another site can make the browser send the cookie but can neither read it nor
compute the token, so a forged POST arrives without a valid one and gets 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from vvrun.web.config import ServeConfig

SID_COOKIE = "vvrun_sid"
FIELD = "csrf"


def session_id(request: Any) -> tuple[str, bool]:
    """The browser's session id and whether it is new (to be set as a cookie)."""
    sid = request.cookies.get(SID_COOKIE, "")
    if len(sid) == 43:  # token_urlsafe(32)
        return sid, False
    return secrets.token_urlsafe(32), True


def token_for(cfg: ServeConfig, sid: str) -> str:
    return hmac.new(cfg.secret, b"csrf:" + sid.encode(), hashlib.sha256).hexdigest()


def valid(cfg: ServeConfig, request: Any, form: Any) -> bool:
    sid = request.cookies.get(SID_COOKIE, "")
    given = str(form.get(FIELD) or request.headers.get("x-csrf-token") or "")
    return bool(sid) and bool(given) and hmac.compare_digest(given, token_for(cfg, sid))


Handler = Callable[[Any, Any, str], Any]
MAX_FIELDS = 200
MAX_FIELD_BYTES = 128 * 1024


def guarded(cfg: ServeConfig, handler: Handler, *, anonymous: bool = False
            ) -> Callable[[Any], Awaitable[Any]]:
    """A POST endpoint that refuses (403) a missing or wrong CSRF token and, unless
    `anonymous`, anyone not signed in. `handler(request, form, user)` runs in a thread."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import PlainTextResponse

    from vvrun.web.auth import identity

    async def endpoint(request: Any) -> Any:
        # bounded like a --var (128 KiB, the kernel's limit of one argument) and a small
        # form's fields: Starlette answers 400 beyond them, before any handler runs
        form = await request.form(max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES)
        if not valid(cfg, request, form):
            return PlainTextResponse("refused: the form's CSRF token is missing or wrong; "
                                     "reload the page and try again", status_code=403)
        user = identity(cfg, request)
        if user is None and not anonymous:
            return PlainTextResponse("refused: sign in first; anonymous visitors may only "
                                     "read", status_code=403)
        return await run_in_threadpool(handler, request, form, user or "")

    return endpoint
