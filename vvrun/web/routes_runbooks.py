"""The catalogue, a runbook's page (docs, form, plan) and starting a run from its form."""

from __future__ import annotations

from typing import Any

from vvrun.errors import VvrunError
from vvrun.web import catalogue, forms, worker
from vvrun.web.config import ServeConfig
from vvrun.web.csrf import guarded
from vvrun.web.pages import error, render


def _plan_html(cfg: ServeConfig, runbook: Any, values: dict[str, Any]) -> str:
    from vvrun.plan import make_plan
    from vvrun.ui.markdown import render_plans_markdown

    plan = make_plan(runbook, values, environ=cfg.environ)
    return catalogue.markdown_html(render_plans_markdown([plan]))


def routes(cfg: ServeConfig) -> list[Any]:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import RedirectResponse
    from starlette.routing import Route

    async def index(request: Any) -> Any:
        items = await run_in_threadpool(catalogue.catalogue, cfg.runbooks_dir)
        tag = request.query_params.get("tag", "")
        if tag:
            items = [i for i in items if i.runbook and tag in i.runbook.tags]
        return render(cfg, request, "catalogue.html", {"items": items, "tag": tag})

    def _page(request: Any, item: Any, values: dict[str, str], plan: str = "",
              problem: str = "", status: int = 200) -> Any:
        return render(cfg, request, "runbook.html", {
            "item": item, "docs": catalogue.docs_html(item), "plan": plan, "problem": problem,
            "fields": forms.input_fields(item.runbook, values) if item.runbook else []},
            status)

    async def show(request: Any) -> Any:
        item = catalogue.find(cfg.runbooks_dir, request.path_params["name"])
        if item is None:
            return error(cfg, request, "no such runbook in the catalogue", 404)
        return await run_in_threadpool(_page, request, item, {})

    def submit(request: Any, form: Any, user: str) -> Any:
        item = catalogue.find(cfg.runbooks_dir, request.path_params["name"])
        if item is None or item.runbook is None:
            return error(cfg, request, "no such runbook, or it does not load", 404)
        values = forms.form_values(item.runbook, form)
        try:
            typed = forms.typed_values(item.runbook, values)
            if form.get("action") == "run":
                if not user:
                    return error(cfg, request, "sign in to start a run; anonymous visitors "
                                 "may only read", 403)
                run_id = worker.start_run(cfg, item.path, typed, user)
                return RedirectResponse(f"/runs/{run_id}", status_code=303)
            plan = _plan_html(cfg, item.runbook, typed)
        except VvrunError as exc:
            return _page(request, item, values, problem=exc.format(), status=400)
        return _page(request, item, values, plan=plan)

    return [Route("/", index), Route("/runbooks/{name}", show),
            Route("/runbooks/{name}", guarded(cfg, submit, anonymous=True), methods=["POST"])]
