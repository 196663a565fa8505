"""`vvrun runs`, `vvrun show RUN`, `vvrun unlock LOCK --why TEXT` (`vvrun approve`: approve.py).

Everything here reads or appends to the state store the environment names (`VVRUN_STATE`);
what it prints is masked again on the way out.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from vvrun.commands.app import App, get_app
from vvrun.errors import StateError, UsageError
from vvrun.state import RunRecord, Store, open_store, operator_name
from vvrun.state._liveness import PARKED, pid_alive, when
from vvrun.state.verify import verify_chain
from vvrun.text.controls import visible
from vvrun.ui import timeline

_FINISHED = ("succeeded", "completed_with_failures", "failed", "aborted")


@contextmanager
def _store(app: App) -> Iterator[Store]:
    store = open_store(app.environ, masker=app.masker)
    try:
        yield store
    finally:
        store.close()


def _out(app: App, text: str, *, data: bool = False) -> None:
    """Masked; and unless it is JSON (which escapes for itself), with control characters
    shown, not obeyed (a stored result may hold terminal escapes: `text/controls.py`)."""
    text = app.masker.mask(text)
    click.echo(text if data else visible(text))


def _get_run(store: Store, run_id: str) -> RunRecord:
    run = store.get_run(run_id)
    if run is None:
        recent = [r.id for r in store.list_runs(limit=3)]
        hint = "list runs with `vvrun runs`"
        if recent:
            hint += f" (latest: {', '.join(recent)})"
        raise UsageError(f"no run with id '{run_id}' in the state store", hint=hint)
    return run


def _run_dict(run: RunRecord) -> dict[str, Any]:
    data = dataclasses.asdict(run)
    data.pop("source", None)  # the whole runbook; `show` is about what happened
    data["locks"] = list(run.locks)
    return data


@click.command("runs")
@click.option("--runbook", metavar="NAME", help="Only runs of this runbook.")
@click.option("--status", metavar="S", help="Only runs in this status (running, paused, ...).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
def runs(ctx: click.Context, runbook: str | None, status: str | None, limit: int,
         fmt: str) -> None:
    """List recent runs, newest first."""
    app = get_app(ctx)
    with _store(app) as store:
        found = store.list_runs(runbook=runbook, status=status, limit=limit)
    if fmt == "json":
        _out(app, json.dumps([_run_dict(r) for r in found], indent=2, default=str), data=True)
    elif not found:
        what = " ".join(x for x in (status, runbook and f"of {runbook}") if x)
        _out(app, f"no {what + ' ' if what else ''}runs recorded yet")
    else:
        _out(app, timeline.runs_table(found))


@click.command("show")
@click.argument("run_id", metavar="RUN")
@click.option("--events", is_flag=True, help="Print the audit trail and verify its hash chain.")
@click.option("--follow", is_flag=True,
              help="Print the audit trail as it is written until the run ends (Ctrl-C stops).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]),
              default="text", show_default=True,
              help="markdown: the incident timeline for a post-mortem.")
@click.pass_context
def show(ctx: click.Context, run_id: str, events: bool, follow: bool, fmt: str) -> int:
    """Show one run: its steps and results, and with --events its audit trail.

    Exits 1 when the audit trail does not verify (it was edited after it was written).
    """
    app = get_app(ctx)
    if follow and fmt != "text":
        raise UsageError("--follow prints text as the run goes; it has no --format",
                         hint=f"follow it, then `vvrun show {run_id} --format {fmt}`")
    with _store(app) as store:
        run = _get_run(store, run_id)
        if follow:
            from vvrun.commands.follow import follow as follow_run

            return follow_run(store, run_id, lambda text: _out(app, text))
        results = store.step_results(run_id)
        trail = store.events(run_id)
        problems = verify_chain(store, run_id).problems
    if fmt == "json":
        data = {
            "run": _run_dict(run),
            "steps": [s.to_dict() for s in timeline.ordered_steps(results)],
            "events": trail,
            "chain": {"verified": not problems, "problems": problems},
        }
        _out(app, json.dumps(data, indent=2, default=str, ensure_ascii=False), data=True)
    elif fmt == "markdown":
        _out(app, timeline.markdown(run, results, trail, problems).rstrip("\n"))
    else:
        _out(app, timeline.run_text(run, results))
        if events:
            _out(app, "")
            _out(app, timeline.events_text(trail, problems))
        elif problems:
            _out(app, "\n" + timeline.chain_verdict(trail, problems)
                 + f" (see `vvrun show {run_id} --events`)")
    return 1 if problems else 0


@click.command("unlock")
@click.argument("key", metavar="LOCK")
@click.option("--why", required=True, metavar="TEXT",
              help="Why the lock may be broken; kept in the audit trail.")
@click.option("--force", is_flag=True,
              help="Break it even though its holder is running on this host.")
@click.pass_context
def unlock(ctx: click.Context, key: str, why: str, force: bool) -> None:
    """Break a lock whose holder is gone. Audited: who, when, why."""
    app = get_app(ctx)
    if not why.strip():
        raise UsageError("--why must say why the lock may be broken",
                         hint='e.g. --why "holder host db-admin-2 was rebooted"')
    with _store(app) as store:
        held = store.lock_info(key)
        if held is None:
            names = [lk.key for lk in store.list_locks()]
            raise UsageError(
                f"no lock named '{key}' is held",
                hint=f"held locks: {', '.join(names)}" if names else "no lock is held")
        alive_here = (held.pid != PARKED and held.host == socket.gethostname()
                      and pid_alive(held.pid))
        if alive_here and not force:
            raise StateError(
                f"lock '{key}' is held by run {held.run_id}, whose process (pid {held.pid}) "
                f"is still running on this host",
                hint="stop that run first (Ctrl-C it), or add --force if it is stuck")
        broken = store.break_lock(key, why=why, operator=operator_name(app.environ),
                                  host=socket.gethostname())
    if broken is None:  # released between our look and the break
        _out(app, f"lock '{key}' was released meanwhile; nothing to break")
        return
    _out(app, f"broke lock '{key}' held by run {broken.run_id} ({broken.operator} on "
              f"{broken.host}, pid {broken.pid}, since {when(broken.since)})")
    _out(app, f"that run can no longer write; see `vvrun show {broken.run_id} --events`, "
              f"and resume it with `vvrun resume {broken.run_id}` when it is safe")
