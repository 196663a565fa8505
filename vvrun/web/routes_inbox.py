"""The inbox of paused steps, and answering them: approve, second approval, deny, acknowledge.

An answer is written to the run's audit trail by the server, attributed to the signed-in
person, and the run then continues in a worker of its own (no extra click). The rules the
engine checks again on resume: an approval is bound to the action's hash; the second approver
is neither who started the run nor who approved first.
"""

from __future__ import annotations

import re
import socket
from typing import Any

from vvrun.web import worker
from vvrun.web.config import ServeConfig
from vvrun.web.csrf import guarded
from vvrun.web.pages import error, render
from vvrun.web.routes_runs import step_of
from vvrun.web.waiting import ACK, APPROVE, SECOND, Waiting, waiting_for


def inbox(cfg: ServeConfig) -> list[Waiting]:
    found = []
    with cfg.store() as store:
        for run in store.list_runs(status="paused", limit=200):
            events = store.events(run.id)
            paused = next((e for e in reversed(events) if e.get("kind") == "step_ended"
                           and (e.get("data") or {}).get("status") == "paused"), None)
            step = step_of(run, paused["data"]["step_id"]) if paused else None
            item = waiting_for(run, events, step)
            if item is not None:
                found.append(item)
    return found


def _current(cfg: ServeConfig, run_id: str, step_id: str) -> Waiting | None:
    with cfg.store() as store:
        run = store.get_run(run_id)
        if run is None:
            return None
        item = waiting_for(run, store.events(run_id), step_of(run, step_id))
    return item if item is not None and item.step_id == step_id else None


def _fields(item: Waiting, form: Any) -> tuple[list[str], str | None]:
    """`--field` arguments from the form, checked against the step's record spec."""
    args = []
    for f in item.fields:
        value = str(form.get(f"field.{f.name}") or "").strip()
        if not value:
            return [], f"record '{f.name}' is required"
        if f.choices and value not in f.choices:
            return [], f"'{f.name}' must be one of {', '.join(f.choices)}"
        if f.pattern and not re.search(f.pattern, value):
            return [], f"'{f.name}' must match {f.pattern}"
        args += ["--field", f"{f.name}={value}"]
    return args, None


def answer(cfg: ServeConfig, item: Waiting, verb: str, form: Any, user: str) -> str | None:
    """Carry out `verb` for `user`; returns why not, or None when done."""
    ok, why = item.may_answer(user)
    if not ok:
        return why
    host = socket.gethostname()
    base = {"step_id": item.step_id, "action_hash": item.digest, "by": user, "via": "web"}
    if verb == "deny":
        reason = str(form.get("reason") or "").strip()
        with cfg.store() as store:
            store.append_event(item.run_id, "denied", {**base, "reason": reason},
                               operator=user, host=host)
            store.update_run(item.run_id, status="aborted",
                             error=f"step '{item.step_id}' denied by {user} in the web console"
                             + (f": {reason}" if reason else ""))
            store.release_locks(item.run_id)
        return None
    if verb == "ack" and item.kind == ACK:
        args, bad = _fields(item, form)
        if bad:
            return bad
        note = str(form.get("note") or "").strip()
        worker.resume_run(cfg, item.run_id, user, ["--ack", item.step_id, *args,
                                                   *(["--note", note] if note else [])])
        return None
    if verb == "approve" and item.kind in (APPROVE, SECOND) and item.proved:
        if item.word and item.kind == APPROVE and str(form.get("word") or "").strip() != item.word:
            return f"type {item.word} to confirm"
        return _attested(cfg, item, user, host)
    if verb == "approve" and item.kind == APPROVE:
        if item.word and str(form.get("word") or "").strip() != item.word:
            return f"type {item.word} to confirm"
        with cfg.store() as store:
            store.append_event(item.run_id, "confirmed", base, operator=user, host=host)
        worker.resume_run(cfg, item.run_id, user)
        return None
    return f"this step waits for {item.kind}, not {verb}"


def _attested(cfg: ServeConfig, item: Waiting, user: str, host: str) -> None:
    """Record `user`'s approval of the action the step asked for, attested with the store's
    audit key (vvrun.identity.attested); the run continues once enough people approved. The
    engine counts again on resume: it decides, not this page."""
    from vvrun.identity.attested import web_record

    with cfg.store() as store:
        data = web_record(store.audit_key, run_id=item.run_id, step_id=item.step_id,
                          digest=item.digest, principal=user)
        store.append_event(item.run_id, "approval_signed", {**data, "by": user},
                           operator=user, host=host)
    if len(item.approved) + 1 >= item.approvers:
        worker.resume_run(cfg, item.run_id, user)
    return None


def routes(cfg: ServeConfig) -> list[Any]:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import RedirectResponse
    from starlette.routing import Route

    async def page(request: Any) -> Any:
        items = await run_in_threadpool(inbox, cfg)
        return render(cfg, request, "inbox.html", {"items": items})

    def act(request: Any, form: Any, user: str) -> Any:
        run_id, step_id = request.path_params["run_id"], request.path_params["step_id"]
        item = _current(cfg, run_id, step_id)
        if item is None:
            return error(cfg, request, f"step '{step_id}' of run {run_id} waits for nothing "
                         "(answered already, or the run moved on)", 409)
        why = answer(cfg, item, request.path_params["verb"], form, user)
        if why:
            return error(cfg, request, f"not done: {why}", 403)
        return RedirectResponse(f"/runs/{run_id}", status_code=303)

    return [Route("/inbox", page),
            Route("/runs/{run_id}/steps/{step_id}/{verb:str}", guarded(cfg, act),
                  methods=["POST"])]
