"""Rendering a page: the templates, the signed-in person, the CSRF token, masking."""

from __future__ import annotations

import os
from typing import Any

from markupsafe import Markup  # Jinja2's own: vvrun.web is imported only with the web extra

from vvrun.text.controls import visible
from vvrun.web.auth import identity
from vvrun.web.config import ServeConfig
from vvrun.web.csrf import SID_COOKIE, session_id, token_for

_templates: Any = None


def templates() -> Any:
    global _templates
    if _templates is None:
        from starlette.templating import Jinja2Templates

        from vvrun.text.durations import format_duration
        from vvrun.ui.timeline import utc

        here = os.path.dirname(__file__)
        _templates = Jinja2Templates(directory=os.path.join(here, "templates"))
        _templates.env.finalize = shown
        _templates.env.filters["utc"] = utc
        _templates.env.filters["duration"] = format_duration
    return _templates


def shown(value: Any) -> Any:
    """Every `{{ }}` of every page, before it is escaped: text from the world and the runbook
    with its control, bidirectional and invisible characters shown as escapes, as on the
    terminal. A browser obeys U+202E as a terminal does, and an approver must read the action
    they approve as it will run (`us\\u200bers`, not `users`)."""
    if isinstance(value, str):
        text = visible(value)
        # visible() only ever inserts ASCII `\\uXXXX`: markup stays markup
        return Markup(text) if isinstance(value, Markup) else text
    return value


def render(cfg: ServeConfig, request: Any, name: str, context: dict[str, Any],
           status_code: int = 200) -> Any:
    """A full page. Everything shown passes through the masker once more on the way out."""
    sid, new = session_id(request)
    ctx = {"user": identity(cfg, request), "csrf": token_for(cfg, sid),
           "login_enabled": bool(cfg.tokens) and not cfg.auth_header, **context}
    response = templates().TemplateResponse(request, name, ctx, status_code=status_code)
    masked = cfg.masker.mask(response.body.decode())
    response.body = masked.encode()
    response.headers["content-length"] = str(len(response.body))
    if new:
        response.set_cookie(SID_COOKIE, sid, httponly=True, samesite="lax")
    response.headers["cache-control"] = "no-store"
    return response


def fragment(name: str, **context: Any) -> str:
    """A partial template as text (for server-sent events)."""
    return str(templates().get_template(name).render(**context))


def error(cfg: ServeConfig, request: Any, message: str, status_code: int = 400) -> Any:
    return render(cfg, request, "error.html", {"message": message}, status_code)
