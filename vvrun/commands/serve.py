"""`vvrun serve`: the web console and scheduler (SPEC §9). Needs the `web` extra."""

from __future__ import annotations

import os
from typing import Any

import click

from vvrun.errors import UsageError


def _bind(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise UsageError(f"--bind {value!r} is not HOST:PORT", hint="e.g. --bind 127.0.0.1:8377")
    return host.strip("[]"), int(port)


def _clock(start_at: str | None) -> Any:
    """A clock that starts at `start_at` and runs at the real pace (None: the real time)."""
    if start_at is None:
        return None
    import time
    from datetime import UTC, datetime

    try:
        start = datetime.fromisoformat(start_at.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--now {start_at!r} is not an ISO time",
                         hint="e.g. --now 2026-12-07T09:00:00Z") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    origin, began = start.timestamp(), time.monotonic()
    return lambda: origin + (time.monotonic() - began)


@click.command("serve")
@click.option("--runbooks", "runbooks_dir", default="runbooks", show_default=True,
              metavar="DIR", help="The folder of runbooks to offer.")
@click.option("--state", default=None, metavar="URL",
              help="The state store (overrides $VVRUN_STATE).")
@click.option("--bind", default="127.0.0.1:8377", show_default=True, metavar="HOST:PORT")
@click.option("--auth-header", default=None, metavar="NAME",
              help="Trust this header for the user name (set by an authenticating proxy, "
                   "e.g. X-Forwarded-User).")
@click.option("--auth", "token_file", default=None, metavar="FILE",
              help="A file of `token user` lines; sign in with a token.")
@click.option("--work-dir", default=None, metavar="DIR",
              help="Worker logs and the cookie key (default: next to the state store).")
@click.option("--no-scheduler", is_flag=True, help="Do not start scheduled runs.")
@click.option("--tick", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between two looks at the schedules.")
@click.option("--now", "start_at", default=None, metavar="TIME", hidden=True,
              help="Run the scheduler's clock from this ISO time (rehearsals and tests).")
@click.pass_context
def serve(ctx: click.Context, runbooks_dir: str, state: str | None, bind: str,
          auth_header: str | None, token_file: str | None, work_dir: str | None,
          no_scheduler: bool, tick: float, start_at: str | None) -> None:
    """Serve the web console: runbooks, live runs, approvals, schedules."""
    from vvrun.commands.app import get_app
    from vvrun.state import default_sqlite_path

    app = get_app(ctx)
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise UsageError("vvrun serve needs the web extra",
                         hint="pip install 'vvrun[web]'") from exc
    if auth_header and token_file:
        raise UsageError("--auth-header and --auth are two ways to sign in; choose one")
    if not os.path.isdir(runbooks_dir):
        raise UsageError(f"--runbooks {runbooks_dir}: no such folder",
                         hint="point --runbooks at the folder of runbook files")
    host, port = _bind(bind)
    environ = dict(app.environ)
    if state:
        environ["VVRUN_STATE"] = state
    from vvrun.web.config import ServeConfig, load_secret, read_tokens

    tokens = read_tokens(token_file) if token_file else {}
    for token in tokens:
        app.masker.add(token)
    work = work_dir or os.path.join(os.path.dirname(default_sqlite_path(environ)), "web")
    cfg = ServeConfig(runbooks_dir=os.path.abspath(runbooks_dir), environ=environ,
                      work_dir=os.path.abspath(work), secret=load_secret(work),
                      auth_header=auth_header, tokens=tokens, masker=app.masker,
                      scheduler=not no_scheduler, tick=tick, clock=_clock(start_at))
    from vvrun.web.app import serve as run_server

    who = (f"signed in by header {auth_header}" if auth_header else
           f"{len(tokens)} token(s)" if tokens else "read-only: no --auth or --auth-header")
    click.echo(f"vvrun serve: http://{host}:{port}/ ({who})", err=True)
    run_server(cfg, host, port)
