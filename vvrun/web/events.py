"""Server-sent events for a run's page: new audit events, worker output, status changes.

The store is polled (it is shared with the CLI, so a run started in a terminal shows up live
too). The headers let the stream through an ordinary reverse proxy: no caching, no buffering
(nginx honours `X-Accel-Buffering: no`), and a comment line as heartbeat so idle timeouts do not
cut it. `Last-Event-ID` (sent by EventSource on reconnect) resumes after the last event seen.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from vvrun.text.controls import visible
from vvrun.web import timeline_view, worker
from vvrun.web.config import ServeConfig
from vvrun.web.pages import fragment

POLL = 0.4
HEARTBEAT = 15.0
FINISHED = ("succeeded", "completed_with_failures", "failed", "aborted")
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


def _message(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    lines = "".join(f"data: {line}\n" for line in json.dumps(data).splitlines() or [""])
    return f"{head}event: {event}\n{lines}\n"


def _look(cfg: ServeConfig, run_id: str, after: int) -> tuple[Any, list[dict[str, Any]]]:
    with cfg.store() as store:
        run = store.get_run(run_id)
        events = [e for e in store.events(run_id) if int(e.get("n") or 0) > after]
    return run, events


async def stream(cfg: ServeConfig, run_id: str, after: int, offset: int,
                 is_disconnected: Any) -> AsyncIterator[str]:
    from starlette.concurrency import run_in_threadpool

    status = None
    beat = time.monotonic()
    log = worker.log_path(cfg, run_id)
    yield "retry: 2000\n\n"
    while not await is_disconnected():
        run, events = await run_in_threadpool(_look, cfg, run_id, after)
        if run is None:
            yield _message("gone", {"run_id": run_id})
            return
        for event in events:
            after = int(event["n"])
            item = timeline_view.row(event, cfg.masker)
            if event.get("kind") in timeline_view.SHOWN:
                html = fragment("_event.html", e=item)
                yield _message("ev", {"n": after, "html": cfg.masker.mask(html)}, after)
        lines, offset = await run_in_threadpool(timeline_view.output_since, log, offset,
                                                cfg.masker)
        if lines:
            yield _message("out", {"lines": lines, "offset": offset})
        if run.status != status:
            status = run.status
            yield _message("status", {"status": status, "error": visible(cfg.masker.mask(
                run.error or ""))})
        if status in FINISHED and not events:
            yield _message("end", {"status": status})
            return
        if time.monotonic() - beat > HEARTBEAT:
            beat = time.monotonic()
            yield ": heartbeat\n\n"
        await _sleep(POLL)


async def _sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)
