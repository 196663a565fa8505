"""Run the library's runbooks against the test world, the way an operator would.

`World` holds one test's VocaVision: a fresh database copied from the session's template, the
API stand-in, Redis (a unique key prefix; a dedicated db index for the FLUSHDB cases), the
CLI test doubles on PATH and a log of what they were asked to do.

Two ways to run a runbook:
- `world.run(name, ...)` through the engine API with a scripted operator (answers for manual
  fields, `--yes` and the confirm word), returning an `Outcome`;
- `world.cli(...)` through the real `vvrun` executable in a subprocess.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from world import BIN, sentry, vercel
from world.api import VocaVisionAPI

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = REPO / "runbooks"
EXAMPLES = REPO / "examples"
VVRUN = str(Path(sys.executable).with_name("vvrun"))

#: The Redis db index the library's tests may flush (never db 0, shared by everyone).
FLUSHABLE_REDIS_DB = 14


def redis_url_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def wait_until(check: Callable[[], bool], what: str, *, limit: float = 30.0) -> None:
    """Poll `check` until it holds; fail the test with `what` if it never does."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


@dataclass
class Outcome:
    """What a run did: its status and every step's record."""

    status: str
    exit_code: int
    error: str | None
    steps: dict[str, Any]
    events: list[Any] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    def step(self, step_id: str) -> Any:
        return self.steps[step_id]

    def status_of(self, step_id: str) -> str:
        return self.steps[step_id].status.value

    def result(self, step_id: str) -> Mapping[str, Any]:
        return self.steps[step_id].result

    def outputs(self, step_id: str) -> Mapping[str, Any]:
        return self.steps[step_id].outputs


class Operator:
    """A scripted operator: ticks every checklist item, types the given fields (a field
    without an answer and without choices gets a plausible value), acknowledges."""

    def __init__(self, fields: Mapping[str, str] | None = None, *, confirms: bool = True,
                 typed: str | None = None):
        self.fields = dict(fields or {})
        self.confirms = confirms
        self.typed = typed
        self.asked: list[str] = []
        self.acknowledged = 0

    def confirm(self, question: str, *, default: bool = False, detail: str = "") -> bool:
        self.asked.append(f"confirm: {question}")
        return self.confirms

    def type_word(self, question: str, word: str, *, detail: str = "") -> bool:
        self.asked.append(f"type: {word}")
        return self.typed == word

    def ask(self, name: str, *, description: str = "", choices: tuple[str, ...] = (),
            pattern: str | None = None, secret: bool = False, optional: bool = False) -> str:
        self.asked.append(f"field: {name}")
        if name in self.fields:
            return self.fields[name]
        if choices:
            pytest.fail(f"the test gave no answer for field {name!r} (one of {choices})")
        return f"https://tickets.example.com/{name}" if name.endswith("url") else f"test {name}"

    def checklist(self, items: tuple[str, ...]) -> list[str]:
        return list(items)

    def acknowledge(self, text: str) -> str:
        self.acknowledged += 1
        return "acknowledged by the test operator"


@dataclass
class World:
    admin_url: str
    db_url: str
    redis_url: str
    api: VocaVisionAPI
    tmp: Path
    prefix: str  # unique Redis key prefix for this test
    vercel: vercel.VercelAPI
    sentry: sentry.SentryAPI

    @property
    def fake_log(self) -> Path:
        return self.tmp / "doubles.log"

    @property
    def flush_redis_url(self) -> str:
        return redis_url_db(self.redis_url, FLUSHABLE_REDIS_DB)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of an operator's shell in this world."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("VVRUN_", "DATABASE_", "REDIS_", "VOCAVISION_", "VERCEL_",
                                     "SENTRY_", "SLACK_", "PAGERDUTY_", "STATUSPAGE_"))}
        env.update({
            "PATH": os.pathsep.join([str(BIN), env.get("PATH", "")]),
            "DATABASE_URL": self.db_url,
            "REDIS_URL": self.redis_url,
            "VOCAVISION_URL": self.api.url,
            "VOCAVISION_API_URL": self.api.url,
            "VOCAVISION_FAKE_LOG": str(self.fake_log),
            # the superuser of the test server: it may use the reserved connection slots
            "VOCAVISION_DB_ADMIN": self.db_url,
            "VERCEL_API_URL": self.vercel.url,
            "VERCEL_TOKEN": vercel.TOKEN,
            "VERCEL_TEAM_ID": vercel.TEAM,
            "VERCEL_PROJECT_ID": vercel.PROJECT["id"],
            "SENTRY_API_URL": self.sentry.url,
            "SENTRY_AUTH_TOKEN": sentry.TOKEN,
            "SENTRY_ORG": sentry.ORG,
            "VVRUN_OPERATOR": "library-tests",
            "XDG_STATE_HOME": str(self.tmp / "state"),
            "NO_COLOR": "1",
        })
        env.update(extra)
        return env

    def doubles_called(self) -> list[list[str]]:
        """Every invocation of a test double, as argv lists."""
        if not self.fake_log.exists():
            return []
        return [shlex.split(line) for line in self.fake_log.read_text().splitlines()
                if line and not line.startswith("stdin ")]

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.db_url, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def redis(self, url: str | None = None) -> Any:
        import redis

        return redis.Redis.from_url(url or self.redis_url, decode_responses=True)

    # -- running -------------------------------------------------------------------------

    def run(self, runbook: str | Path, *, fields: Mapping[str, str] | None = None,
            yes: bool = True, confirm_word: str | None = None, confirms: bool = True,
            typed: str | None = None, env: Mapping[str, str] | None = None,
            **variables: Any) -> Outcome:
        """Run a runbook through the engine with a scripted operator: `--yes` (`yes`) and
        `--confirm-word` (`confirm_word`) as on the command line; what the operator answers
        when asked anyway: `confirms` to a question, `typed` when a word must be typed."""
        from vvrun.engine import Engine, RunOptions
        from vvrun.events import ListSink
        from vvrun.language.inputs import resolve_inputs
        from vvrun.language.pipeline import load_runbook
        from vvrun.secrets import Masker
        from vvrun.state.memory import MemoryStore

        path = _runbook_path(runbook)
        environ = self.env(**(env or {}))
        book = load_runbook(str(path))
        inputs = resolve_inputs(book, {k: _var(v) for k, v in variables.items()}, environ)
        masker = Masker()
        masker.add_env(environ)
        operator = Operator(fields, confirms=confirms, typed=typed)
        sink = ListSink()
        engine = Engine(
            book, inputs, store=MemoryStore(masker=masker), sink=sink, prompter=operator,
            masker=masker,
            options=RunOptions(operator="library-tests", host="test", pid=os.getpid(),
                               environ=environ, yes=yes, confirm_word=confirm_word,
                               source=path.read_text(), sleep=lambda _s: time.sleep(0.01)),
        )
        result = engine.start()
        return Outcome(result.status.value, result.exit_code, result.error,
                       {s.step_id: s for s in result.steps}, sink.events, operator.asked)

    def cli(self, *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`vvrun ARGS...` in a subprocess, in this world's environment (no terminal)."""
        return subprocess.run([VVRUN, *args], env=self.env(**(env or {})), cwd=cwd or self.tmp,
                              stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout, check=False)


def json_events(stdout: str) -> list[dict[str, Any]]:
    """The JSON events of `--output json`, one a line."""
    out = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def _runbook_path(runbook: str | Path) -> Path:
    path = Path(runbook)
    if path.suffix != ".yaml":
        path = RUNBOOKS / f"{runbook}.yaml"
    return path if path.is_absolute() else REPO / path


def _var(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return list(value)
    return value
