"""`vvrun sandbox up|down|status|env`: a disposable PostgreSQL and Redis for rehearsals.

`up` and `env` print `export` lines on stdout (and nothing else there), so that
`eval "$(vvrun sandbox up)"` points a shell at the sandbox; what a person reads goes to stderr.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vvrun.commands.app import get_app

if TYPE_CHECKING:
    from vvrun.sandbox import Sandbox, Service

DIR_HELP = "The sandbox directory [default: $VVRUN_SANDBOX_DIR or $XDG_STATE_HOME/vvrun/sandbox]."


def _root(ctx: click.Context, directory: str | None) -> Path:
    from vvrun.sandbox import default_dir

    return Path(directory).absolute() if directory else default_dir(get_app(ctx).environ)


def _exports(env: dict[str, str]) -> str:
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())


def _described(service: Service) -> str:
    """`PostgreSQL 18.6 (pg_stat_statements)`; the bare name for a sandbox too old to say."""
    name = service.version or {"postgres": "PostgreSQL", "redis": "Redis"}[service.name]
    return f"{name} ({service.extensions})" if service.extensions else name


def _version_note(box: Sandbox) -> str:
    """Why the versions are not production's, when they are not; else nothing."""
    from vvrun.sandbox import WHY_NOT_PRODUCTION, differs_from_production

    others = differs_from_production(box.postgres.version, box.redis.version)
    if not others:
        return ""
    return f"note: this sandbox runs {' and '.join(others)}. {WHY_NOT_PRODUCTION}."


@click.group()
def sandbox() -> None:
    """A disposable PostgreSQL and Redis on free loopback ports (the `vvrun[sandbox]` extra).

    \b
    eval "$(vvrun sandbox up)"     start it (or reuse it) and point this shell at it
    vvrun sandbox status           is it running, where, on which ports
    vvrun sandbox down             stop it and remove its data
    """


@sandbox.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), help=DIR_HELP)
@click.pass_context
def up(ctx: click.Context, directory: str | None) -> None:
    """Start the sandbox (or reuse the running one) and print its `export` lines."""
    from vvrun.sandbox import find_binaries, is_running, read
    from vvrun.sandbox import up as start

    app = get_app(ctx)
    root = _root(ctx, directory)
    before = read(root)
    reused = before is not None and is_running(before)
    if not reused:
        click.echo(f"starting the sandbox in {root} ...", err=True)
    box = start(root, binaries=None if reused else find_binaries(app.environ))
    click.echo(_exports(box.env()), nl=False)
    click.echo(
        f"{'reusing' if reused else 'started'}: {_described(box.postgres)} on "
        f"127.0.0.1:{box.postgres.port}, {_described(box.redis)} on 127.0.0.1:{box.redis.port}\n"
        f"psql and pg_dump of the server's version: {box.postgres.binary}\n"
        f'point a shell at it with: eval "$(vvrun sandbox env)"; remove it with: '
        f"vvrun sandbox down",
        err=True,
    )
    note = _version_note(box)
    if note:
        click.echo(note, err=True)


@sandbox.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), help=DIR_HELP)
@click.pass_context
def down(ctx: click.Context, directory: str | None) -> None:
    """Stop the sandbox's servers and remove its data; prints `unset` lines."""
    from vvrun.sandbox import down as stop

    root = _root(ctx, directory)
    box = stop(root)
    if box is None:
        click.echo(f"no sandbox in {root}: nothing to do", err=True)
        return
    click.echo("unset DATABASE_URL REDIS_URL VOCAVISION_DB_ADMIN")
    click.echo(f"stopped PostgreSQL (pid {box.postgres.pid}) and Redis (pid {box.redis.pid}); "
               f"removed {root}", err=True)


@sandbox.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), help=DIR_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
@click.pass_context
def status(ctx: click.Context, directory: str | None, as_json: bool) -> int:
    """Say whether the sandbox runs, where, and on which ports (exit 0 running, 1 not)."""
    from vvrun.sandbox import status as get_status

    root = _root(ctx, directory)
    box, running = get_status(root)
    if as_json:
        click.echo(json.dumps({"dir": str(root), "running": running,
                               "sandbox": box.to_dict() if box else None}, indent=2))
    elif box is None:
        click.echo(f"no sandbox in {root} (start one with `vvrun sandbox up`)")
    else:
        click.echo(f"sandbox in {root}: {'running' if running else 'NOT running'}")
        for svc in (box.postgres, box.redis):
            click.echo(f"  {svc.name:<9} {svc.url:<48} pid {svc.pid:<8} log {svc.log}")
            click.echo(f"  {'':<9} {_described(svc)}")
        note = _version_note(box)
        if note:
            click.echo(f"  {note}")
        if not running:
            click.echo("  `vvrun sandbox up` restarts it; `vvrun sandbox down` clears it")
    return 0 if running else 1


@sandbox.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), help=DIR_HELP)
@click.pass_context
def env(ctx: click.Context, directory: str | None) -> None:
    """Print the running sandbox's `export` lines (starts nothing)."""
    from vvrun.sandbox import SandboxError
    from vvrun.sandbox import status as get_status

    root = _root(ctx, directory)
    box, running = get_status(root)
    if box is None or not running:
        raise SandboxError(f"no sandbox is running in {root}",
                           hint='start one with `eval "$(vvrun sandbox up)"`')
    click.echo(_exports(box.env()), nl=False)
