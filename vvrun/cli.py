"""The command line: a click group with lazy subcommands, and the ONE place where errors
become messages and exit codes.

Subcommands live in `vvrun/commands/` and are imported only when invoked, so `--help` and
`--version` stay cheap (see PERF-NOTES: yaml + click only).
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from vvrun import __version__
from vvrun.commands.app import App
from vvrun.errors import EXIT_INTERRUPTED, VvrunError
from vvrun.secrets import Masker
from vvrun.text.controls import visible

# name -> (module, attribute, one-line help). Order is the order `--help` lists them.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("vvrun.commands.run", "run", "Run a runbook (the default command)."),
    "resume": ("vvrun.commands.run", "resume", "Continue a paused, failed or interrupted run."),
    "plan": ("vvrun.commands.plan", "plan", "Show what a runbook would do; touches nothing."),
    "validate": ("vvrun.commands.validate", "validate", "Check runbooks: schema and meaning."),
    "runs": ("vvrun.commands.runs", "runs", "List recent runs."),
    "show": ("vvrun.commands.runs", "show", "Show one run: timeline, results, events."),
    "verify": ("vvrun.commands.verify", "verify", "Check a run's keyed audit chain."),
    "approve": ("vvrun.commands.approve", "approve", "Sign the approval a step waits for."),
    "unlock": ("vvrun.commands.runs", "unlock", "Break a lock whose holder is gone (audited)."),
    "docs": ("vvrun.commands.docs", "docs", "Render runbooks as Markdown documents."),
    "schema": ("vvrun.commands.validate", "schema", "Print the runbook JSON Schema."),
    "sandbox": ("vvrun.commands.sandbox", "sandbox", "A disposable PostgreSQL and Redis."),
    "import": ("vvrun.commands.import_md", "import_md", "Markdown runbook → YAML runbooks."),
    "serve": ("vvrun.commands.serve", "serve", "Serve the web console and scheduler."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = COMMANDS.get(name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        return getattr(module, entry[1])

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # `vvrun RUNBOOK ...` is `vvrun run RUNBOOK ...`
        if args and args[0] not in COMMANDS and not args[0].startswith("-"):
            _refuse_unknown_command(args[0])
            args = ["run", *args]
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # help text from the table, without importing every command module
        with formatter.section("Commands"):
            formatter.write_dl([(name, entry[2]) for name, entry in COMMANDS.items()])


def _refuse_unknown_command(word: str) -> None:
    """`vvrun valdate ...` is a mistyped command, not a runbook called `valdate`: say so, with
    the nearest command. A word that names an existing file still runs it (even a file named
    like a command), and one that looks like a path (`x.yaml`, `dir/x`) is left to `run`, which
    says the file is missing and suggests the nearest file."""
    if os.path.lexists(word) or "/" in word or os.sep in word or "." in word:
        return
    from vvrun.errors import UsageError
    from vvrun.text.suggest import closest, nearest_path

    command = closest(word, COMMANDS)
    if command is not None:
        hint = f"did you mean '{command}'? (`vvrun --help` lists the commands)"
    elif (near := nearest_path(word)) is not None:
        hint = f"did you mean the runbook '{near}'?"
    else:
        hint = "see `vvrun --help` for the commands, or give the path of a runbook file"
    raise UsageError(f"'{word}' is neither a command nor a runbook file", hint=hint)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="vvrun")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """vvrun — declarative YAML runbooks: validated, planned, resumable.

    \b
    vvrun runbooks/db-emergency.yaml          run it (stops before anything dangerous)
    vvrun plan runbooks/db-emergency.yaml     what it would do; touches nothing
    vvrun validate runbooks/                  check every runbook
    vvrun resume RUN_ID                       pick up where a run stopped
    """
    app = ctx.ensure_object(App)
    app.debug = app.debug or debug


def _write_traceback(masker: Masker) -> str:
    import tempfile  # only on a crash: tempfile alone costs ~5 ms of every start

    fd, path = tempfile.mkstemp(prefix="vvrun-crash-", suffix=".txt")
    with os.fdopen(fd, "w") as fh:
        fh.write(masker.mask(_traceback()))
    return path


def _traceback() -> str:
    import traceback  # only on an error

    return traceback.format_exc()


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the CLI and maps every outcome to one message and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    environ = dict(os.environ)
    masker = Masker()
    masker.add_env(environ)
    debug = "--debug" in args or environ.get("VVRUN_DEBUG") == "1"
    app = App(masker=masker, debug=debug, environ=environ)
    try:
        rv = cli.main(args=args, prog_name="vvrun", standalone_mode=False, obj=app)
        code = rv if isinstance(rv, int) else 0
    except VvrunError as exc:
        if debug:
            sys.stderr.write(masker.mask(_traceback()))
        sys.stderr.write(visible(masker.mask(f"vvrun: {exc.format()}")) + "\n")
        code = exc.exit_code
    except click.exceptions.Abort as exc:
        # click turns every KeyboardInterrupt into Abort: a SIGTERM or SIGHUP (`Interrupted`)
        # keeps its own exit code (143, 129), not Ctrl-C's
        sys.stderr.write("\nvvrun: interrupted\n")
        code = getattr(exc.__cause__ or exc.__context__, "exit_code", EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP as `errors.Interrupted`
        sys.stderr.write("\nvvrun: interrupted\n")
        code = getattr(exc, "exit_code", EXIT_INTERRUPTED)
    except BrokenPipeError:
        code = 0
    except Exception as exc:  # the last resort: one line, the traceback in a file
        if debug:
            sys.stderr.write(masker.mask(_traceback()))
            code = 1
        else:
            path = _write_traceback(masker)
            sys.stderr.write(
                masker.mask(f"vvrun: internal error: {type(exc).__name__}: {exc}")
                + f"\n  the traceback is in {path}; please report it (--debug prints it)\n"
            )
            code = 1
    sys.exit(code)
