"""Running a runbook in-process through vvrun's Python API: what `vvrun run` does after its
edge decisions (see vvrun/commands/run.py), without a terminal, so that a case measures the
interpreter and its drivers, not Python's start-up (cold start is measured through the CLI)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from vvrun.events import NullSink
from vvrun.ui.prompter import NoTerminalPrompter


def memory_store() -> Any:
    from vvrun.secrets import Masker
    from vvrun.state.memory import MemoryStore

    return MemoryStore(masker=Masker())


def sqlite_store(path: Path) -> Any:
    from vvrun.secrets import Masker
    from vvrun.state.sqlite import SqliteStore

    return SqliteStore(path, masker=Masker())


def make_engine(path: Path, store: Any) -> Any:
    """The engine for the runbook at `path`, loaded and ready to `start()`. As `vvrun run`
    does, the engine and the store share one masker: the store masks what it writes too."""
    from vvrun.engine import Engine, RunOptions
    from vvrun.language.inputs import resolve_inputs
    from vvrun.language.pipeline import load_runbook

    runbook = load_runbook(str(path))
    inputs = resolve_inputs(runbook, {}, {})
    options = RunOptions(operator="bench@local", host="bench", pid=os.getpid(),
                         source=path.read_text(encoding="utf-8"))
    return Engine(runbook, inputs, store=store, sink=NullSink(), prompter=NoTerminalPrompter(),
                  masker=store._masker, options=options)


def start(engine: Any) -> tuple[float, Any]:
    """Run it: (seconds `Engine.start()` took, the run's result). The clock covers locks,
    ledger writes, every step and the summary. A run that does not succeed raises: a bench of
    a failing run measures nothing."""
    begin = time.perf_counter()
    result = engine.start()
    elapsed = time.perf_counter() - begin
    if result.status.value != "succeeded":
        raise RuntimeError(f"the bench run of {engine.runbook.name} ended "
                           f"{result.status.value}: {engine.error or result}")
    return elapsed, result


def run_runbook(path: Path, store: Any) -> tuple[float, Any]:
    """Load, then run the runbook at `path` against `store` (only the run is timed)."""
    return start(make_engine(path, store))


def steps_runbook(name: str, body: str, count: int, *, connections: str = "") -> str:
    """A runbook of `count` steps with the same body (`sql: SELECT 1`, `shell: "true"`)."""
    lines = ["version: 1", f"name: {name}", f"title: Bench {name}"]
    if connections:
        lines += ["connections:", *[f"  {line}" for line in connections.splitlines()]]
    lines.append("steps:")
    for i in range(count):
        lines += [f"  - id: s{i}", f"    {body}"]
    return "\n".join(lines) + "\n"
