"""The runbook as immutable, typed values, each carrying its source position.

Built once from a validated document (see `language.build`); later stages never look at raw dicts.
"""

from __future__ import annotations

import os.path
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vvrun.errors import Location
from vvrun.text.durations import parse_duration


@dataclass(frozen=True)
class Duration:
    """A length of time; written `500ms`, `30s`, `5m`, `1h` or as seconds (a number)."""

    seconds: float

    @classmethod
    def parse(cls, value: Any) -> Duration:
        return cls(parse_duration(value))

    def __str__(self) -> str:
        s = self.seconds
        if s < 1 and s != 0:
            return f"{round(s * 1000)}ms"
        for unit, size in (("h", 3600), ("m", 60)):
            if s >= size and s % size == 0:
                return f"{int(s // size)}{unit}"
        return f"{s:g}s"


@dataclass(frozen=True)
class Input:
    """An input the operator supplies (`--var name=value`), with its type, default and rules."""

    name: str
    type: str = "string"  # string | integer | number | boolean | list
    default: Any = None
    has_default: bool = False
    description: str = ""
    pattern: str | None = None
    choices: tuple[Any, ...] | None = None
    env: str | None = None
    secret: bool = False
    where: Location = field(default_factory=Location)

    @property
    def required(self) -> bool:
        return not self.has_default and self.env is None


@dataclass(frozen=True)
class Connection:
    """A named target. `kind` is postgres | redis | http; `settings` holds its (template) values:
    postgres/redis: {"url": ..., plus session settings}; http: {"base_url", "headers", ...}."""

    name: str
    kind: str
    settings: Mapping[str, Any]
    where: Location = field(default_factory=Location)


# Each retry wait at most this many times the one before: a larger factor is not a backoff but
# "try once more much later", and with many attempts the waits overflow any clock.
MAX_BACKOFF = 10


@dataclass(frozen=True)
class Retry:
    """How a step is tried again: attempts, delay and backoff, `until`, `on_exhausted`."""

    attempts: int = 1
    delay: Duration = Duration(1.0)
    backoff: float = 1.0
    until: str | None = None
    on_exhausted: str = "fail"  # fail | continue (the step succeeds with its last result)


@dataclass(frozen=True)
class Repeat:
    """`repeat:` on a group: run it again until `until` holds, at most `max` rounds."""

    until: str
    max: int = 10
    delay: Duration = Duration(0.0)
    on_exhausted: str = "fail"


@dataclass(frozen=True)
class Group:
    """The spec of a group step (`steps:` instead of a type key): its steps, run in order as
    one step, once, per `for_each` item, or `repeat`ed."""

    steps: tuple[Step, ...]
    repeat: Repeat | None = None

    def summary(self, for_each: str | None) -> str:
        """The group in one line, with its loop: for the terminal and for plans."""
        n = len(self.steps)
        text = f"group of {n} step{'' if n == 1 else 's'}"
        if for_each:
            text += f", for each item of `{for_each}`"
        if self.repeat is not None:
            r = self.repeat
            text += (f", repeated until `{r.until}` (at most {r.max} rounds"
                     + (f", {r.delay} apart)" if r.delay.seconds else ")"))
        return text

    def walk(self) -> tuple[Step, ...]:
        """Every step inside, nested groups' steps included, in order."""
        out: list[Step] = []
        for s in self.steps:
            out.append(s)
            if isinstance(s.spec, Group):
                out.extend(s.spec.walk())
        return tuple(out)


@dataclass(frozen=True)
class Step:
    """One step: the common keys plus `spec`, the frozen body its step type parsed."""

    id: str
    type: str  # the type key (sql | redis | http | shell | confirm | manual | stop), or group
    spec: Any
    title: str | None = None
    description: str | None = None
    when: str | None = None
    timeout: Duration | None = None
    grace: Duration | None = None  # after a timeout or cancel: SIGTERM, then SIGKILL this later
    retry: Retry | None = None
    expect: tuple[str, ...] = ()
    outputs: Mapping[str, str] = field(default_factory=dict)
    on_failure: str = "abort"  # abort | continue | <id of a later step>
    danger: bool = False
    idempotent: bool = False
    approvers: int = 1  # how many different people (keys) approve
    approvers_group: str | None = None  # each must carry `group:NAME` in allowed_signers
    tags: tuple[str, ...] = ()
    watch: Duration | None = None
    for_each: str | None = None
    confirm_each: bool = False  # danger + for_each: ask per item, not once for the table
    where: Location = field(default_factory=Location)
    raw: Mapping[str, Any] = field(default_factory=dict)  # the step as written, for hashes/diffs


@dataclass(frozen=True)
class Runbook:
    """A whole runbook, checked: what it needs, what it talks to, and its steps in order."""

    path: str
    name: str
    title: str
    version: int = 1
    description: str = ""
    tags: tuple[str, ...] = ()
    inputs: Mapping[str, Input] = field(default_factory=dict)
    connections: Mapping[str, Connection] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    locks: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()
    source_hash: str = ""  # sha256 of the file bytes: binds plans and resumes to the content
    where: Location = field(default_factory=Location)
    # -- telling people and fetching secrets (SPEC §3.8, §5.4) --
    secrets: Mapping[str, Any] = field(default_factory=dict)  # name -> secrets.SecretSource
    notifiers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # as written
    notify: tuple[Any, ...] = ()  # run-event rules: notify.events.Rule
    outputs: Mapping[str, str] = field(default_factory=dict)  # what a caller gets (§3.7)
    callees: Mapping[str, Runbook] = field(default_factory=dict)  # by resolved path
    schedule: Any = None  # vvrun.language.schedule.Schedule: when `serve` starts it by itself

    def callee(self, path: str) -> Runbook:
        """The runbook a `runbook` step of this one calls (paths are relative to this file)."""
        return self.callees[os.path.normpath(os.path.join(os.path.dirname(self.path), path))]

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def index(self, step_id: str) -> int:
        for i, s in enumerate(self.steps):
            if s.id == step_id:
                return i
        raise KeyError(step_id)
