"""`vvrun verify RUN`: check a run's keyed audit chain and ledger on their own.

Exit 0 when the trail is intact, 1 at the first bad event or ledger row, with its position.
"""

from __future__ import annotations

import json

import click

from vvrun.commands.app import get_app
from vvrun.errors import UsageError
from vvrun.state import open_store
from vvrun.state.verify import verify_chain


@click.command("verify")
@click.argument("run_id", metavar="RUN")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
def verify(ctx: click.Context, run_id: str, fmt: str) -> int:
    """Check RUN's audit trail against the audit key: every event chained and signed, every
    ledger row signed, no finished step's row gone. Exits 1 at the first bad one."""
    app = get_app(ctx)
    store = open_store(app.environ, masker=app.masker)
    try:
        if store.get_run(run_id) is None and not store.events(run_id):
            raise UsageError(f"no run with id '{run_id}' in the state store",
                             hint="list runs with `vvrun runs`")
        report = verify_chain(store, run_id)
    finally:
        store.close()
    if fmt == "json":
        problem = report.problem
        click.echo(app.masker.mask(json.dumps({
            "run_id": run_id, "verified": report.ok, "events": report.events,
            "ledger_rows": report.ledger_rows,
            "first_bad": None if problem is None else {
                "position": problem.position, "where": problem.where, "what": problem.what},
        }, indent=2)))
    else:
        click.echo(app.masker.mask(report.summary()))
    return 0 if report.ok else 1
