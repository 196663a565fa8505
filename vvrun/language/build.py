"""A runbook file → the frozen model (`vvrun.language.model`), with every problem found on the way.

    check_file(path)   -> (Runbook | None, [Problem])   every error and warning, one pass
    load_runbook(path) -> Runbook                        raises RunbookInvalid on any error

Stages: load (YAML, positions) → schema (by type key) → model → meaning checks. Later stages
run as far as the earlier ones allow, so one pass reports everything it can: a step whose
schema is wrong is left out of the meaning checks, not the whole file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vvrun.errors import Location, Problem
from vvrun.language.load import Loaded
from vvrun.language.model import (
    Connection,
    Duration,
    Group,
    Input,
    Repeat,
    Retry,
    Runbook,
    Step,
)

_CONN_KINDS = ("postgres", "redis", "http")


@dataclass
class Built:
    """A runbook built as far as its schema problems allow, and what was left out."""

    runbook: Runbook
    loaded: Loaded
    skipped_steps: frozenset[int] = frozenset()  # indices whose schema was wrong
    known_ids: tuple[str, ...] = ()  # every step id written, valid step or not, in order
    problems: list[Problem] = field(default_factory=list)



def _is_bad(bad: frozenset[tuple[Any, ...]], path: tuple[Any, ...]) -> bool:
    """True when a schema problem sits at `path` or below it."""
    n = len(path)
    return any(p[:n] == path for p in bad)


def build(loaded: Loaded, bad: frozenset[tuple[Any, ...]] = frozenset()) -> Built:
    """The model from a loaded document; parts with schema problems (`bad` paths) are left out
    or given their defaults."""
    data: dict[str, Any] = loaded.data
    file = loaded.path
    pos = loaded.positions

    def where(path: tuple[Any, ...], step_id: str | None = None) -> Location:
        p = pos.value(path)
        return Location(file, p[0], p[1], step_id) if p else Location(file, step_id=step_id)

    def get(key: str, default: Any, kind: type | tuple[type, ...]) -> Any:
        value = data.get(key, default)
        if (key,) in bad or not isinstance(value, kind):
            return default
        return value

    inputs: dict[str, Input] = {}
    for name, raw in get("inputs", {}, dict).items():
        if isinstance(raw, dict) and not _is_bad(bad, ("inputs", name)):
            inputs[name] = _input(name, raw, loaded, where(("inputs", name)))
    connections: dict[str, Connection] = {}
    for name, raw in get("connections", {}, dict).items():
        if isinstance(raw, dict) and not _is_bad(bad, ("connections", name)):
            connections[name] = _connection(name, raw, where(("connections", name)))
    defaults = get("defaults", {}, dict)
    steps: list[Step] = []
    skipped: set[int] = set()
    ids: list[str] = []
    for i, raw in enumerate(get("steps", [], list)):
        step_id = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(step_id, str):
            ids.append(step_id)
        if not isinstance(raw, dict) or _is_bad(bad, ("steps", i)):
            skipped.add(i)
            continue
        steps.append(_step(raw, defaults, ("steps", i), where, bad))
    runbook = Runbook(
        path=file,
        name=get("name", "", str),
        title=get("title", "", str),
        version=get("version", 1, int),
        description=get("description", "", str),
        tags=tuple(get("tags", [], list)),
        inputs=inputs,
        connections=connections,
        defaults=defaults,
        locks=tuple(get("locks", [], list)),
        steps=tuple(steps),
        source_hash=hashlib.sha256(loaded.source).hexdigest(),
        where=Location(file, 1, 1),
        outputs=dict(get("outputs", {}, dict)),
    )
    return Built(runbook, loaded, frozenset(skipped), tuple(ids))


def _input(name: str, raw: Mapping[str, Any], loaded: Loaded, where: Location) -> Input:
    kind = raw.get("type", "string")
    default = raw.get("default")
    choices = raw.get("choices")
    if kind == "string":
        # YAML made `default: 1.10` a number; the input is text, so keep it as written
        default = _as_text(default, loaded, ("inputs", name, "default"))
        if choices is not None:
            choices = [_as_text(c, loaded, ("inputs", name, "choices", i))
                       for i, c in enumerate(choices)]
    return Input(
        name=name,
        type=kind,
        default=default,
        has_default="default" in raw,
        description=raw.get("description", ""),
        pattern=raw.get("pattern"),
        choices=tuple(choices) if choices is not None else None,
        env=raw.get("env"),
        secret=bool(raw.get("secret", False)),
        where=where,
    )


def _as_text(value: Any, loaded: Loaded, path: tuple[Any, ...]) -> Any:
    if isinstance(value, str) or value is None:
        return value
    return loaded.texts.get(path, value if isinstance(value, list | dict) else str(value))


def _connection(name: str, raw: Mapping[str, Any], where: Location) -> Connection:
    kind = next(k for k in _CONN_KINDS if k in raw)
    if kind == "http":
        settings = dict(raw["http"])
    else:
        target = raw[kind]
        settings = {"url": target} if isinstance(target, str) else dict(target)
        settings.update({k: v for k, v in raw.items() if k != kind})
    return Connection(name=name, kind=kind, settings=settings, where=where)


def _retry(raw: Any) -> Retry | None:
    if not isinstance(raw, dict):
        return None
    return Retry(
        attempts=int(raw.get("attempts", 1)),
        delay=Duration.parse(raw.get("delay", 1)),
        backoff=float(raw.get("backoff", 1)),
        until=raw.get("until"),
        on_exhausted=raw.get("on_exhausted", "fail"),
    )


def _repeat(raw: Any) -> Repeat | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("until"), str):
        return None
    return Repeat(until=raw["until"], max=int(raw.get("max", 10)),
                  delay=Duration.parse(raw.get("delay", 0)),
                  on_exhausted=raw.get("on_exhausted", "fail"))


def _step(raw: Mapping[str, Any], defaults: Mapping[str, Any], path: tuple[Any, ...],
          locate: Any, bad: frozenset[tuple[Any, ...]]) -> Step:
    from vvrun.steps import STEP_TYPES

    where = locate(path, raw.get("id"))
    if "steps" in raw:
        type_key = "group"
        spec: Any = Group(
            steps=tuple(_step(r, defaults, (*path, "steps", j), locate, bad)
                        for j, r in enumerate(raw["steps"])
                        if isinstance(r, dict) and not _is_bad(bad, (*path, "steps", j))),
            repeat=_repeat(raw.get("repeat")))
    else:
        type_key = next(k for k in STEP_TYPES if k in raw)
        spec = STEP_TYPES[type_key].parse(raw[type_key], where)
    timeout = raw.get("timeout", defaults.get("timeout"))
    when = raw.get("when")
    expect = raw.get("expect", ())
    watch = raw.get("watch")
    return Step(
        id=raw["id"],
        type=type_key,
        spec=spec,
        title=raw.get("title"),
        description=raw.get("description"),
        when=str(when).lower() if isinstance(when, bool) else when,
        timeout=Duration.parse(timeout) if timeout is not None else None,
        retry=_retry(raw.get("retry", defaults.get("retry"))),
        expect=(expect,) if isinstance(expect, str) else tuple(expect),
        outputs=dict(raw.get("outputs") or {}),
        on_failure=raw.get("on_failure", defaults.get("on_failure", "abort")),
        danger=bool(raw.get("danger", False)),
        idempotent=bool(raw.get("idempotent", defaults.get("idempotent", False))),
        approvers=int(raw.get("approvers", 1)),
        tags=tuple(raw.get("tags", ())),
        watch=Duration.parse(watch) if watch is not None else None,
        for_each=raw.get("for_each"),
        where=where,
        raw=raw,
    )
