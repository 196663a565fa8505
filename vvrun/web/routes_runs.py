"""Runs: the history with filters, one run's live page, its post-mortem timeline, cancel."""

from __future__ import annotations

import time
from typing import Any

from vvrun.web import catalogue, timeline_view, worker
from vvrun.web.config import ServeConfig
from vvrun.web.csrf import guarded
from vvrun.web.pages import error, render
from vvrun.web.waiting import waiting_for

STATUSES = ("running", "paused", "succeeded", "completed_with_failures", "failed", "aborted",
            "interrupted")


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def history(cfg: ServeConfig, q: Any) -> dict[str, Any]:
    runbook, status = q.get("runbook") or None, q.get("status") or None
    operator, day = q.get("operator", "").strip(), q.get("date", "").strip()
    with cfg.store() as store:
        found = store.list_runs(runbook=runbook, status=status, limit=500)
    if operator:
        found = [r for r in found if operator.lower() in r.operator.lower()]
    if day:
        found = [r for r in found if _day(r.started_at) == day]
    return {"runs": found[:200], "filters": {"runbook": runbook or "", "status": status or "",
                                              "operator": operator, "date": day},
            "statuses": STATUSES}


def step_of(run: Any, step_id: str) -> Any | None:
    try:
        return catalogue.entry(run.path).runbook.step(step_id.split("[", 1)[0])
    except (AttributeError, KeyError):
        return None


def run_context(cfg: ServeConfig, run_id: str) -> dict[str, Any] | None:
    with cfg.store() as store:
        run = store.get_run(run_id)
        if run is None:
            return None
        events = store.events(run_id)
        cancellable = run.status == "running" and worker.worker_pid(cfg, store, run) is not None
    paused = next((e for e in reversed(events) if e.get("kind") == "step_ended"
                   and (e.get("data") or {}).get("status") == "paused"), None)
    step = step_of(run, paused["data"]["step_id"]) if paused else None
    last = max((int(e.get("n") or 0) for e in events), default=0)
    return {"run": run, "rows": timeline_view.rows(events, cfg.masker), "last": last,
            "waiting": waiting_for(run, events, step), "cancellable": cancellable}


def routes(cfg: ServeConfig) -> list[Any]:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import PlainTextResponse, RedirectResponse, StreamingResponse
    from starlette.routing import Route

    from vvrun.web.events import HEADERS, stream

    async def runs(request: Any) -> Any:
        ctx = await run_in_threadpool(history, cfg, request.query_params)
        return render(cfg, request, "runs.html", ctx)

    async def show(request: Any) -> Any:
        ctx = await run_in_threadpool(run_context, cfg, request.path_params["run_id"])
        if ctx is None:
            return error(cfg, request, "no such run in the state store", 404)
        return render(cfg, request, "run.html", ctx)

    async def waiting(request: Any) -> Any:
        ctx = await run_in_threadpool(run_context, cfg, request.path_params["run_id"])
        if ctx is None:
            return error(cfg, request, "no such run in the state store", 404)
        return render(cfg, request, "_waiting_page.html", ctx)

    async def live(request: Any) -> Any:
        after = request.headers.get("last-event-id") or request.query_params.get("after", "0")
        gen = stream(cfg, request.path_params["run_id"], int(after) if after.isdigit() else 0,
                     0, request.is_disconnected)
        return StreamingResponse(gen, media_type="text/event-stream", headers=HEADERS)

    def _markdown(run_id: str) -> str | None:
        from vvrun.state.verify import verify_chain
        from vvrun.ui.timeline import markdown

        with cfg.store() as store:
            run = store.get_run(run_id)
            if run is None:
                return None
            results, trail = store.step_results(run_id), store.events(run_id)
            problems = verify_chain(store, run_id).problems
        return cfg.masker.mask(markdown(run, results, trail, problems))

    async def postmortem(request: Any) -> Any:
        text = await run_in_threadpool(_markdown, request.path_params["run_id"])
        if text is None:
            return error(cfg, request, "no such run in the state store", 404)
        if request.query_params.get("raw"):
            return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
        return render(cfg, request, "markdown.html", {
            "run_id": request.path_params["run_id"], "html": catalogue.markdown_html(text)})

    def do_cancel(request: Any, form: Any, user: str) -> Any:
        run_id = request.path_params["run_id"]
        with cfg.store() as store:
            run = store.get_run(run_id)
            if run is None:
                return error(cfg, request, "no such run in the state store", 404)
            if not worker.cancel(cfg, store, run):
                return error(cfg, request, "this run has no worker of this server to cancel "
                             "(it is not running, or it runs in a terminal)", 409)
        return RedirectResponse(f"/runs/{run_id}", status_code=303)

    return [Route("/runs", runs), Route("/runs/{run_id}", show),
            Route("/runs/{run_id}/waiting", waiting), Route("/runs/{run_id}/live", live),
            Route("/runs/{run_id}/timeline", postmortem),
            Route("/runs/{run_id}/cancel", guarded(cfg, do_cancel), methods=["POST"])]
