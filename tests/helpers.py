"""Test helpers shared by the step-type tests: run one step for real, without the engine."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vvrun.errors import Location, Paused
from vvrun.language.model import Connection
from vvrun.language.templates import Templater
from vvrun.steps import STEP_TYPES
from vvrun.steps.base import Clients, StepIO


class ListConsole:
    """Keeps what a step shows live."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.progress_calls: list[tuple[int, int | None, str]] = []
        self.statuses: list[str] = []

    def line(self, text: str, *, stream: str = "stdout") -> None:
        self.lines.append((stream, text))

    def progress(self, done: int, total: int | None, label: str = "") -> None:
        self.progress_calls.append((done, total, label))

    def status(self, text: str) -> None:
        self.statuses.append(text)


@dataclass
class ScriptedPrompter:
    """Answers prompts from a script; with nothing scripted it behaves like no terminal."""

    confirms: list[bool] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    answers: dict[str, str | list[str]] = field(default_factory=dict)
    ticks: list[str] | None = None
    notes: str = ""
    asked: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)  # the detail each confirm showed

    def confirm(self, question: str, *, default: bool = False, detail: str = "") -> bool:
        self.asked.append(question)
        self.shown.append(detail)
        if not self.confirms:
            raise Paused(f"waiting for an answer: {question}")
        return self.confirms.pop(0)

    def type_word(self, question: str, word: str, *, detail: str = "") -> bool:
        self.asked.append(question)
        if not self.words:
            raise Paused(f"waiting for the word {word!r}")
        return self.words.pop(0) == word

    def ask(self, name: str, *, description: str = "", choices: tuple[str, ...] = (),
            pattern: str | None = None, secret: bool = False, optional: bool = False) -> str:
        self.asked.append(name)
        if name not in self.answers:
            raise Paused(f"waiting for field {name!r}")
        answer = self.answers[name]
        if isinstance(answer, list):  # answers given in turn: a bad one is asked again
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer

    def checklist(self, items: tuple[str, ...]) -> list[str]:
        return list(items) if self.ticks is None else self.ticks

    def acknowledge(self, text: str) -> str:
        self.asked.append("ack")
        return self.notes


def connections(**urls: str) -> dict[str, Connection]:
    """`connections(db="postgresql://...", cache="redis://...", api="http://...")`."""
    out = {}
    for name, url in urls.items():
        if url.startswith("postgres"):
            out[name] = Connection(name, "postgres", {"url": url})
        elif url.startswith("redis"):
            out[name] = Connection(name, "redis", {"url": url})
        else:
            out[name] = Connection(name, "http", {"base_url": url})
    return out


def run_step(
    type_: str,
    body: Any,
    *,
    context: Mapping[str, Any] | None = None,
    conns: Mapping[str, Connection] | None = None,
    timeout: float | None = 30.0,
    clients: Clients | None = None,
    prompter: ScriptedPrompter | None = None,
    console: ListConsole | None = None,
    danger: bool = False,
    env: Mapping[str, str] | None = None,
    cancel: threading.Event | None = None,
    grace: float | None = None,
) -> Mapping[str, Any]:
    """parse → render → execute one step body against real servers; returns its result."""
    module = STEP_TYPES[type_]
    where = Location("test.yaml", 1, 1, "t")
    spec = module.parse(body, where)
    tpl = Templater(context or {"inputs": {}, "env": {}, "steps": {}}, where=where)
    action = module.render(spec, tpl, conns or {})
    module.describe(action)  # describing is pure and must work for every action
    own_clients = clients is None
    clients = clients or Clients()
    io = StepIO(
        run_id="test", step_id="t", timeout=timeout, clients=clients,
        console=console or ListConsole(), prompter=prompter or ScriptedPrompter(),
        cancel=cancel or threading.Event(), danger=danger, env=dict(env or {}),
        where=where, templater=tpl, **({} if grace is None else {"grace": grace}),
    )
    try:
        return module.execute(action, io)
    finally:
        if own_clients:
            clients.close()
