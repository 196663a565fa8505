"""`vvrun plan RUNBOOK...`: the dry run, for a terminal, a pull request or a plan file.

Everything from reading the runbooks to rendering the output happens inside
`vvrun.guard.no_side_effects()`: a plan cannot connect, spawn or write even by accident.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import click

from vvrun.errors import UsageError
from vvrun.guard import no_side_effects
from vvrun.text.controls import visible
from vvrun.text.suggest import did_you_mean

FORMATS = ("text", "markdown", "json")


def _load(path: str) -> Any:
    from vvrun.commands.paths import require_runbook
    from vvrun.language.pipeline import load_runbook

    require_runbook(path)  # a missing file: the nearest name, as validate says it
    return load_runbook(path)


def _check_variables(runbooks: Sequence[Any], variables: Mapping[str, Any]) -> None:
    """A `--var` no runbook declares is a mistake (a typo, usually): say which, and the
    closest name."""
    declared = sorted({name for rb in runbooks for name in rb.inputs})
    for name in variables:
        if name not in declared:
            raise UsageError(
                f"unknown input '{name}' (the runbooks declare: {', '.join(declared) or 'none'})",
                hint=did_you_mean(name, declared) or "remove the --var",
            )


def render_plans(
    paths: Sequence[str],
    variables: Mapping[str, Any],
    fmt: str,
    show_env: Sequence[str],
    environ: Mapping[str, str],
    *,
    base: str | None = None,
) -> str:
    """The plan of `paths` in `fmt`, as text. Guarded: raises on any side effect."""
    from vvrun.plan import diff_plans, make_plan

    if fmt not in FORMATS:
        raise UsageError(f"unknown plan format {fmt!r}", hint="use text, markdown or json")
    if base is not None and len(paths) != 1:
        raise UsageError(
            f"--base compares one runbook with its old version, and {len(paths)} were given",
            hint="vvrun plan --base OLD.yaml NEW.yaml",
        )
    with no_side_effects():
        runbooks = [_load(p) for p in paths]
        _check_variables(runbooks, variables)
        plans = [make_plan(rb, variables, environ=environ, show_env=tuple(show_env))
                 for rb in runbooks]
        diffs: list[Any] = [None] * len(plans)
        if base is not None:
            old = _load(base)
            old_vars = {k: v for k, v in variables.items() if k in old.inputs}
            diffs = [diff_plans(make_plan(old, old_vars, environ=environ,
                                          show_env=tuple(show_env)), plans[0])]
        return _format(plans, diffs, fmt)


def _format(plans: list[Any], diffs: list[Any], fmt: str) -> str:
    if fmt == "json":
        from vvrun.plan.planfile import dumps, plan_document

        return dumps(plan_document(plans, diffs))
    if fmt == "markdown":
        from vvrun.ui.markdown import render_plans_markdown

        return render_plans_markdown(plans, diffs)
    from vvrun.ui.plan_text import render_text

    return render_text(plans, diffs)


def emit_plan(
    paths: Sequence[str],
    variables: Mapping[str, Any],
    fmt: str,
    show_env: Sequence[str],
    environ: Mapping[str, str],
    out: TextIO,
    *,
    base: str | None = None,
) -> int:
    """Write the plan of `paths` to `out`; the exit code (0). `vvrun run --dry-run` calls this."""
    text = render_plans(paths, variables, fmt, show_env, environ, base=base)
    out.write(text if fmt == "json" else visible(text))  # JSON escapes control characters
    out.flush()
    return 0


@click.command("plan")
@click.argument("runbooks", nargs=-1, required=True)
@click.option("--var", "pairs", multiple=True, metavar="NAME=VALUE",
              help="An input value (repeatable).")
@click.option("--vars-file", type=str, default=None, metavar="FILE",
              help="Input values from a YAML or JSON file.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text for a terminal, markdown for a pull request, json for a plan file.")
@click.option("--show-env", multiple=True, metavar="NAME",
              help="Show this environment variable's value instead of ⟨env.NAME⟩ (repeatable).")
@click.option("--base", type=str, default=None, metavar="OLD.yaml",
              help="Review a change: compare with this older version of the runbook.")
@click.pass_context
def plan(ctx: click.Context, runbooks: tuple[str, ...], pairs: tuple[str, ...],
         vars_file: str | None, fmt: str, show_env: tuple[str, ...], base: str | None) -> int:
    """Show what RUNBOOK would do, step by step, without touching anything.

    \b
    vvrun plan runbooks/db-emergency.yaml --var stuck_after='10 minutes'
    vvrun plan runbooks/*.yaml --format markdown        a pull-request comment
    vvrun plan runbooks/db-restore.yaml --format json   a plan file for `vvrun run --plan`
    vvrun plan --base old.yaml runbooks/deploy.yaml     what a change does
    """
    from vvrun.commands.app import get_app
    from vvrun.language.inputs import parse_vars

    app = get_app(ctx)
    variables = parse_vars(list(pairs), vars_file)
    return emit_plan(list(runbooks), variables, fmt, show_env, app.environ, sys.stdout,
                     base=base)
