"""`vvrun run RUNBOOK` and `vvrun resume RUN_ID`: the edge of the interpreter.

Everything about the environment is decided here (terminals, colour, the store, the operator)
and handed to the engine as plain values.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import click

from vvrun.errors import UsageError
from vvrun.text.suggest import did_you_mean

UNFINISHED = ("paused", "interrupted", "failed", "running")
LOCK_TTL = 60.0


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(t.strip() for v in values for t in v.split(",") if t.strip())


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--var", "pairs", multiple=True, metavar="NAME=VALUE",
                     help="An input value (repeatable)."),
        click.option("--vars-file", default=None, metavar="FILE",
                     help="Input values from a YAML or JSON file."),
        click.option("--yes", is_flag=True,
                     help="Answer yes to every confirmation and danger step (audited)."),
        click.option("--confirm-word", default=None, metavar="WORD",
                     help="With --yes: the word a `type_to_confirm` step asks for."),
        click.option("--output", type=click.Choice(["text", "json"]), default="text",
                     show_default=True, help="text for people; json: one event a line."),
        click.option("--state", default=None, metavar="URL",
                     help="The state store (overrides $VVRUN_STATE)."),
        click.option("--key", "signing_key", default=None, metavar="PATH",
                     help="SSH key that signs your approval of a step with `approvers` "
                     "(else $VVRUN_SIGNING_KEY, else ~/.ssh/id_ed25519)."),
        click.option("--allowed-signers", default=None, metavar="PATH",
                     help="Who may approve (else $VVRUN_ALLOWED_SIGNERS, else the nearest "
                     ".vvrun/allowed_signers above the runbook)."),
    ]):
        fn = option(fn)
    return fn


class _Edge:
    """The terminal, the sink, the prompter and the store for one command."""

    def __init__(self, ctx: click.Context, output: str, state: str | None, yes: bool,
                 signing_key: str | None = None, allowed_signers: str | None = None):
        from vvrun.commands.app import get_app

        self.app = get_app(ctx)
        self.environ: dict[str, str] = dict(self.app.environ)
        if state:
            self.environ["VVRUN_STATE"] = state
        self.masker = self.app.masker
        self.output = output
        self.yes = yes
        self.identity = {"signing_key": signing_key, "allowed_signers": allowed_signers}
        self.stdin_tty = _isatty(sys.stdin)
        stdout_tty = _isatty(sys.stdout)
        self.color = (stdout_tty and "NO_COLOR" not in self.environ
                      and self.environ.get("TERM") != "dumb")
        from vvrun.ui.output import ClosableOutput

        # a reader that goes away (`| head`) stops the run as a signal does (SIGPIPE)
        self.stdout = ClosableOutput(sys.stdout)
        if output == "json":
            from vvrun.ui.events import JsonSink

            self.sink: Any = JsonSink(self.stdout)
        else:
            from vvrun.ui.console import TerminalSink

            self.sink = TerminalSink(self.stdout, color=self.color, interactive=stdout_tty)
        self._store: Any = None

    def prompter(self, run_id: str) -> Any:
        if self.stdin_tty:
            from vvrun.ui.prompter import TerminalPrompter

            # JSON lines own stdout: questions go to stderr then
            out = sys.stderr if self.output == "json" else self.stdout
            return TerminalPrompter(out, before_prompt=getattr(self.sink, "pause", None))
        from vvrun.ui.prompter import NoTerminalPrompter

        return NoTerminalPrompter(run_id)

    def store(self) -> Any:
        if self._store is None:
            from vvrun.state import open_store

            self._store = open_store(self.environ, masker=self.masker)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def ask_input(self, prompter: Any) -> Callable[[Any], str] | None:
        if not self.stdin_tty:
            return None

        def ask(spec: Any) -> str:
            return str(prompter.ask(spec.name, description=spec.description,
                                    choices=tuple(str(c) for c in spec.choices or ()),
                                    secret=spec.secret))

        return ask

    def watch_wait(self) -> Callable[[float], bool] | None:
        if not self.stdin_tty:
            return None

        def wait(seconds: float) -> bool:
            import select

            with _no_echo(sys.stdin):  # an echoed Enter would push the redrawn table down
                ready, _, _ = select.select([sys.stdin], [], [], seconds)
                if ready:
                    sys.stdin.readline()
                    return True
            return False

        return wait

    def options(self, source: str, **extra: Any) -> Any:
        from vvrun import __version__
        from vvrun.engine import RunOptions
        from vvrun.state import operator_name

        return RunOptions(operator=operator_name(self.environ), host=socket.gethostname(),
                          pid=os.getpid(), environ=self.environ, yes=self.yes,
                          watch_wait=self.watch_wait(), lock_ttl=LOCK_TTL, source=source,
                          vvrun_version=__version__, **self.identity, **extra)


@contextlib.contextmanager
def _no_echo(stream: Any) -> Iterator[None]:
    """The terminal does not echo what is typed (lines still end at Enter)."""
    try:
        import termios

        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
    except (ImportError, OSError, ValueError, AttributeError):
        yield
        return
    quiet = list(saved)
    quiet[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _load(path: str) -> tuple[Any, str]:
    from vvrun.commands.paths import require_runbook
    from vvrun.language.pipeline import load_runbook

    require_runbook(path)  # a missing file: the nearest name, as validate says it
    runbook = load_runbook(path)
    try:
        source = Path(path).read_text(encoding="utf-8")
    except OSError:  # load_runbook read it a moment ago; keep going without the copy
        source = ""
    return runbook, source


def _finish(engine: Any, result: Any, sink: Any) -> int:
    if engine.error is not None and not getattr(sink, "showed_error", False):
        raise engine.error  # cli.main prints it masked, with its exit code
    # the terminal view ended with the error, its hint and how to resume: once is enough
    return int(result.exit_code)


@click.command("run")
@click.argument("runbook", type=str)
@_common
@click.option("--dry-run", is_flag=True, help="Show the plan instead; touch nothing.")
@click.option("--plan", "plan_file", default=None, metavar="FILE",
              help="Run exactly this reviewed plan file; refuse if anything changed.")
@click.option("--from", "from_step", default=None, metavar="STEP",
              help="Start at this step (the ones before it are skipped).")
@click.option("--tags", multiple=True, metavar="TAG[,TAG]", help="Run only steps with a tag.")
@click.option("--skip-tags", multiple=True, metavar="TAG[,TAG]", help="Skip steps with a tag.")
@click.option("--resume", "resume_latest", is_flag=True,
              help="Continue the latest unfinished run of this runbook.")
@click.option("--sandbox", is_flag=True,
              help="Run against the local sandbox (DATABASE_URL, REDIS_URL).")
@click.option("--allow-changed", is_flag=True, help="With --resume: accept a changed runbook.")
@click.pass_context
def run(ctx: click.Context, runbook: str, pairs: tuple[str, ...], vars_file: str | None,
        yes: bool, confirm_word: str | None, output: str, state: str | None,
        signing_key: str | None, allowed_signers: str | None, dry_run: bool,
        plan_file: str | None, from_step: str | None, tags: tuple[str, ...],
        skip_tags: tuple[str, ...], resume_latest: bool, sandbox: bool,
        allow_changed: bool) -> int:
    """Run RUNBOOK: each step announces itself, dangerous ones ask first.

    \b
    vvrun run runbooks/db-emergency.yaml --var stuck_after='10 minutes'
    vvrun run runbooks/deploy.yaml --plan reviewed-plan.json
    vvrun run runbooks/db-emergency.yaml --resume
    """
    from vvrun.language.inputs import parse_vars

    edge = _Edge(ctx, output, state, yes, signing_key, allowed_signers)
    if sandbox:
        from vvrun.sandbox import ensure_services

        given = {k for k in ("DATABASE_URL", "REDIS_URL") if edge.environ.get(k)}
        services = ensure_services(edge.environ)
        edge.environ.update(services)
        started = [f"{k}={v}" for k, v in services.items() if k not in given and k != "PATH"]
        if started:
            click.echo(edge.masker.mask(
                f"vvrun: rehearsing against the sandbox ({', '.join(started)}); it stays up "
                "until `vvrun sandbox down`"), err=True)
        else:
            click.echo("vvrun: --sandbox: DATABASE_URL and REDIS_URL are already set; "
                       "rehearsing against them", err=True)
    variables = parse_vars(list(pairs), vars_file)
    if dry_run:
        from vvrun.commands.plan import emit_plan

        return emit_plan([runbook], variables, "json" if output == "json" else "text", (),
                         edge.environ, sys.stdout)
    try:
        book, source = _load(runbook)
        if resume_latest:
            if plan_file or from_step or tags or skip_tags:
                raise UsageError("--resume continues a run as it was begun; --plan, --from, "
                                 "--tags and --skip-tags do not apply",
                                 hint="drop them, or start a new run without --resume")
            found = [r for r in edge.store().list_runs(runbook=book.name, limit=200)
                     if r.status in UNFINISHED]
            if not found:
                raise UsageError(f"runbook '{book.name}' has no unfinished run to resume",
                                 hint="list runs with `vvrun runs`, or start it without "
                                 "--resume")
            return _resume(edge, found[0].id, book, source, variables,
                           confirm_word=confirm_word, allow_changed=allow_changed)
        if from_step is not None:
            _check_step(book, from_step, "--from")
        tag_list, skip_list = _split(tags), _split(skip_tags)
        _check_tags(book, tag_list + skip_list)
        from vvrun.engine import Engine
        from vvrun.language.inputs import resolve_inputs
        from vvrun.state import new_run_id

        run_id = new_run_id()
        prompter = edge.prompter(run_id)
        inputs = resolve_inputs(book, variables, edge.environ, ask=edge.ask_input(prompter))
        if plan_file is not None:
            from vvrun.plan import verify_plan_file

            verify_plan_file(plan_file, book, inputs)
        engine = Engine(book, inputs, store=edge.store(), sink=edge.sink, prompter=prompter,
                        masker=edge.masker, run_id=run_id,
                        options=edge.options(source, confirm_word=confirm_word,
                                             from_step=from_step, tags=tag_list,
                                             skip_tags=skip_list,
                                             path=os.path.abspath(runbook)))
        return _finish(engine, _signalled(engine, edge, engine.start), edge.sink)
    finally:
        edge.close()


@click.command("resume")
@click.argument("run_id", type=str)
@_common
@click.option("--ack", "acks", multiple=True, metavar="STEP",
              help="Complete a manual step the run waits for (repeatable).")
@click.option("--field", "fields", multiple=True, metavar="[STEP.]NAME=VALUE",
              help="With --ack: a field the manual step records (repeatable); STEP. says "
              "which step when several are acknowledged.")
@click.option("--note", default="", help="With --ack: a note kept with the acknowledgement.")
@click.option("--allow-changed", is_flag=True,
              help="Continue even though the runbook changed since the run began.")
@click.option("--rerun", multiple=True, metavar="STEP",
              help="Run again a step that was in flight when the run stopped.")
@click.option("--mark-done", multiple=True, metavar="STEP",
              help="Take as done a step that was in flight when the run stopped.")
@click.option("--runbook", "runbook_path", default=None, metavar="FILE",
              help="The runbook file, when it moved since the run began.")
@click.pass_context
def resume(ctx: click.Context, run_id: str, pairs: tuple[str, ...], vars_file: str | None,
           yes: bool, confirm_word: str | None, output: str, state: str | None,
           signing_key: str | None, allowed_signers: str | None, acks: tuple[str, ...],
           fields: tuple[str, ...], note: str, allow_changed: bool,
           rerun: tuple[str, ...], mark_done: tuple[str, ...],
           runbook_path: str | None) -> int:
    """Continue RUN_ID (paused, failed or interrupted) where it stopped.

    \b
    vvrun resume 261127-035212-a7f3
    vvrun resume 261127-035212-a7f3 --ack escalate --field ticket_url=https://...
    vvrun resume 261127-035212-a7f3 --ack escalate --ack drain --field drain.node=db2
    """
    from vvrun.language.inputs import parse_vars

    if fields and not acks:
        raise UsageError("--field goes with --ack STEP", hint="add --ack <the manual step>")
    edge = _Edge(ctx, output, state, yes, signing_key, allowed_signers)
    try:
        record = edge.store().get_run(run_id)
        if record is None:
            raise UsageError(f"no run with id '{run_id}' in the state store",
                             hint="list runs with `vvrun runs`")
        book, source = _load(runbook_path or record.path)
        return _resume(edge, run_id, book, source, parse_vars(list(pairs), vars_file),
                       confirm_word=confirm_word, allow_changed=allow_changed,
                       acks=_split(acks), fields=fields, note=note, rerun=_split(rerun),
                       mark_done=_split(mark_done))
    finally:
        edge.close()


def _resume(edge: _Edge, run_id: str, book: Any, source: str, variables: Mapping[str, Any],
            *, confirm_word: str | None, allow_changed: bool, acks: tuple[str, ...] = (),
            fields: tuple[str, ...] = (), note: str = "",
            rerun: tuple[str, ...] = (), mark_done: tuple[str, ...] = ()) -> int:
    from vvrun.engine import Engine
    from vvrun.engine.changes import changed_steps
    from vvrun.language.inputs import resolve_inputs
    from vvrun.state.verify import require_intact

    store = edge.store()
    record = store.get_run(run_id)
    assert record is not None
    require_intact(store, run_id)
    if record.status in ("succeeded", "completed_with_failures", "aborted"):
        raise UsageError(f"run {run_id} is {record.status}; there is nothing to resume",
                         hint=f"start a new run with `vvrun run {record.path}`")
    if record.runbook != book.name:
        raise UsageError(f"run {run_id} is of runbook '{record.runbook}', not '{book.name}'",
                         hint="give the runbook file it was run from (--runbook FILE)")
    accepted = None
    if (record.source_hash and book.source_hash != record.source_hash
            and book.source_hash not in _allowed_changes(store, run_id)):
        changes = changed_steps(record.source, book) if record.source else ["unknown"]
        if not allow_changed:
            raise UsageError(
                f"runbook {book.path} changed since run {run_id} began: " + "; ".join(changes),
                hint=f"review the change; `vvrun resume {run_id} --allow-changed` continues "
                "with the new version (once: the run remembers it)")
        accepted = {"source_hash": book.source_hash, "was": record.source_hash,
                    "changes": changes}
    for name in (*rerun, *mark_done, *acks):
        _check_step(book, name.split("[", 1)[0], "the step")
    prompter = edge.prompter(run_id)
    from vvrun.commands.acks import ack_prompters

    ack_map = ack_prompters(book, store.step_results(run_id), run_id, acks, fields, note,
                            fallback=prompter if edge.stdin_tty else None)
    stored = {k: v for k, v in record.inputs.items() if k in book.inputs}
    inputs = resolve_inputs(book, {**stored, **variables}, edge.environ,
                            ask=edge.ask_input(prompter))
    if fields:  # a value a step would refuse (choices from data too): refused before the run
        from vvrun.engine.ack_check import check_ack_fields

        for ack, answers in ack_map.items():
            check_ack_fields(book, ack, answers.fields, inputs, store.step_results(run_id),
                             edge.environ, run_id)
    engine = Engine(book, inputs, store=store, sink=edge.sink, prompter=prompter,
                    masker=edge.masker, run_id=run_id,
                    options=edge.options(source, confirm_word=confirm_word, acks=ack_map,
                                         rerun=rerun, mark_done=mark_done,
                                         allow_changed=accepted))
    return _finish(engine, _signalled(engine, edge, lambda: engine.resume(record)), edge.sink)


def _signalled(engine: Any, edge: _Edge, go: Callable[[], Any]) -> Any:
    """Run `go()` with SIGINT, SIGTERM, SIGHUP and SIGPIPE (the output's reader went away)
    turned into one cancel path (the step in flight cancelled and recorded, exit
    130/143/129/141), and vvrun the subreaper of whatever its steps leave behind."""
    from vvrun.engine.signals import RunSignals, become_subreaper

    become_subreaper()
    signals = RunSignals()
    engine.run.opts.hurry = signals.hurry
    engine.run.opts.shield = signals.shielded
    with signals.installed():
        if edge.stdout.closed_by_reader:  # it went away before the signals were ours
            import signal

            from vvrun.errors import Interrupted

            raise Interrupted(signal.SIGPIPE)
        result = go()
    if signals.absorbed is not None:
        import signal

        name = signal.Signals(signals.absorbed).name
        sys.stderr.write(f"vvrun: {name} arrived while the run's end was being recorded; the "
                         "run had finished, and its record was written first\n")
    return result


def _allowed_changes(store: Any, run_id: str) -> set[str]:
    """The runbook contents `--allow-changed` accepted for this run before."""
    return {str((e.get("data") or {}).get("source_hash")) for e in store.events(run_id)
            if e.get("kind") == "runbook_change_allowed"}


def _check_step(book: Any, step_id: str, option: str) -> None:
    ids = [s.id for s in book.steps]
    if step_id not in ids:
        raise UsageError(f"{option} {step_id}: runbook '{book.name}' has no step '{step_id}'",
                         hint=did_you_mean(step_id, ids) or f"its steps: {', '.join(ids)}")


def _check_tags(book: Any, tags: tuple[str, ...]) -> None:
    known = {t for s in book.steps for t in s.tags}
    for tag in tags:
        if tag not in known:
            raise UsageError(f"no step of runbook '{book.name}' is tagged '{tag}'",
                             hint=f"its tags: {', '.join(sorted(known)) or 'none'}")
