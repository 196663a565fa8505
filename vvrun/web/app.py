"""The Starlette application: routes, static files, sign-in, and the scheduler's thread."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from vvrun.web.config import ServeConfig


def _login_routes(cfg: ServeConfig) -> list[Any]:
    from starlette.responses import RedirectResponse
    from starlette.routing import Route

    from vvrun.web.auth import COOKIE, LIFETIME, login_cookie
    from vvrun.web.csrf import guarded
    from vvrun.web.pages import render

    async def form(request: Any) -> Any:
        return render(cfg, request, "login.html", {"problem": ""})

    def login(request: Any, form_data: Any, _user: str) -> Any:
        value = login_cookie(cfg, str(form_data.get("token") or "").strip())
        if value is None:
            return render(cfg, request, "login.html", {"problem": "unknown token"}, 403)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, value, max_age=int(LIFETIME), httponly=True,
                            samesite="lax")
        return response

    def logout(request: Any, form_data: Any, _user: str) -> Any:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    return [Route("/login", form), Route("/login", guarded(cfg, login, anonymous=True),
                                         methods=["POST"]),
            Route("/logout", guarded(cfg, logout, anonymous=True), methods=["POST"])]


def create_app(cfg: ServeConfig) -> Any:
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from vvrun.web import routes_inbox, routes_runbooks, routes_runs

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        scheduler = None
        if cfg.scheduler:
            from vvrun.web.scheduler import Scheduler

            scheduler = Scheduler(cfg)
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()

    static = os.path.join(os.path.dirname(__file__), "static")
    routes = [*routes_runbooks.routes(cfg), *routes_runs.routes(cfg),
              *routes_inbox.routes(cfg), *_login_routes(cfg),
              Mount("/static", StaticFiles(directory=static), name="static")]
    return Starlette(routes=routes, lifespan=lifespan)


def serve(cfg: ServeConfig, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(create_app(cfg), host=host, port=port, log_level="warning",
                proxy_headers=False, server_header=False)
