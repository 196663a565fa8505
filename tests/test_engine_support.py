"""Shared by the engine tests: write a runbook, load it, run it through the engine with a
memory store, a list sink and a scripted prompter. (No tests here.)"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import ScriptedPrompter
from vvrun.engine import Engine, RunOptions
from vvrun.events import ListSink
from vvrun.language.inputs import resolve_inputs
from vvrun.language.model import Runbook
from vvrun.language.pipeline import load_runbook
from vvrun.results import RunResult
from vvrun.secrets import Masker
from vvrun.state.memory import MemoryStore


def write_runbook(tmp_path: Path, body: str, name: str = "rb.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


@dataclass
class Outcome:
    result: RunResult
    engine: Engine
    sink: ListSink
    store: MemoryStore
    prompter: ScriptedPrompter
    runbook: Runbook

    @property
    def status(self) -> str:
        return self.result.status.value

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [dict(e.data) for e in self.sink.events if e.kind == kind]

    def step(self, step_id: str) -> Any:
        return self.store.step_results(self.result.run_id)[step_id]

    def audit(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.store.events(self.result.run_id)
                if kind is None or e["kind"] == kind]


@dataclass
class Runner:
    """Runs runbooks for tests, sharing one store between runs (resume, locks)."""

    store: MemoryStore = field(default_factory=MemoryStore)
    environ: dict[str, str] = field(default_factory=dict)
    operator: str = "alice@test"

    def run(self, path: Path, variables: dict[str, Any] | None = None, *,
            prompter: ScriptedPrompter | None = None, masker: Masker | None = None,
            **options: Any) -> Outcome:
        runbook = load_runbook(str(path))
        masker = masker or Masker()
        inputs = resolve_inputs(runbook, variables or {}, self.environ)
        return self._go(runbook, inputs, prompter, masker, options, None, path)

    def resume(self, path: Path, run_id: str, variables: dict[str, Any] | None = None, *,
               prompter: ScriptedPrompter | None = None, masker: Masker | None = None,
               **options: Any) -> Outcome:
        runbook = load_runbook(str(path))
        record = self.store.get_run(run_id)
        assert record is not None
        inputs = resolve_inputs(runbook, {**record.inputs, **(variables or {})}, self.environ)
        return self._go(runbook, inputs, prompter, masker or Masker(), options, record, path)

    def _go(self, runbook: Runbook, inputs: dict[str, Any], prompter: ScriptedPrompter | None,
            masker: Masker, options: dict[str, Any], record: Any, path: Path) -> Outcome:
        sink = ListSink()
        prompter = prompter or ScriptedPrompter()
        opts = RunOptions(operator=options.pop("operator", self.operator), host="testhost",
                          pid=12345, environ=self.environ, source=path.read_text(),
                          **{"sleep": lambda _s: None, **options})
        engine = Engine(runbook, inputs, store=self.store, sink=sink, prompter=prompter,
                        masker=masker, options=opts)
        result = engine.resume(record) if record is not None else engine.start()
        return Outcome(result, engine, sink, self.store, prompter, runbook)
