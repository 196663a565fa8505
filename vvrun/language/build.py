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
from vvrun.identity.schema import parse_approvers
from vvrun.language.load import Loaded
from vvrun.language.model import (
    MAX_BACKOFF,
    Connection,
    Duration,
    Group,
    Input,
    Repeat,
    Retry,
    Runbook,
    Step,
)
from vvrun.language.schedule import parse as parse_schedule

_CONN_KINDS = ("postgres", "redis", "http", "ssh")


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
        schedule=None if _is_bad(bad, ("schedule",)) else parse_schedule(data.get("schedule")),
    )
    runbook = _with_integrations(runbook, data, bad, where)
    return Built(runbook, loaded, frozenset(skipped), tuple(ids))


# -- notifiers, run-event rules and secrets (SPEC §3.8, §5.4) ---------------------------------


def _with_integrations(runbook: Runbook, data: Mapping[str, Any],
                       bad: frozenset[tuple[Any, ...]], where: Any) -> Runbook:
    from dataclasses import replace

    from vvrun.notify.events import parse_rules
    from vvrun.secrets.providers import SecretSource

    def ok(key: str) -> Any:
        value = data.get(key)
        return None if (key,) in bad else value

    raw_secrets = ok("secrets") if isinstance(ok("secrets"), dict) else {}
    secrets = {n: SecretSource(n, str(r["from"]), {k: v for k, v in r.items() if k != "from"},
                               where(("secrets", n)))
               for n, r in raw_secrets.items()
               if isinstance(r, dict) and "from" in r and not _is_bad(bad, ("secrets", n))}
    raw_notifiers = ok("notifiers") if isinstance(ok("notifiers"), dict) else {}
    notifiers = {n: c for n, c in raw_notifiers.items()
                 if isinstance(c, dict) and not _is_bad(bad, ("notifiers", n))}
    rules = ok("notify")
    notify = parse_rules(rules) if isinstance(rules, list) and not _is_bad(bad, ("notify",)) \
        else ()

    def with_notifiers(spec: Any) -> Any:  # the notify step's code loads only when one is used
        from vvrun.steps.notify import with_notifiers

        return with_notifiers(spec, notifiers, runbook.name)

    def named(steps: tuple[Step, ...]) -> tuple[Step, ...]:  # notify steps in groups, too
        return tuple(replace(s, spec=with_notifiers(s.spec))
                     if s.type == "notify" else
                     replace(s, spec=replace(s.spec, steps=named(s.spec.steps)))
                     if isinstance(s.spec, Group) else s for s in steps)

    return replace(runbook, secrets=secrets, notifiers=notifiers, notify=notify,
                   steps=named(runbook.steps))


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
    elif kind == "ssh":  # `ssh: user@host` or `ssh: {host, user, port, ...}`, plus siblings
        target = raw["ssh"]
        settings = {"target": target} if isinstance(target, str) else dict(target)
        settings.update({k: v for k, v in raw.items() if k != kind})
        settings["url"] = _ssh_url(settings)  # what plans and docs show as its target
    else:
        target = raw[kind]
        settings = {"url": target} if isinstance(target, str) else dict(target)
        settings.update({k: v for k, v in raw.items() if k != kind})
    return Connection(name=name, kind=kind, settings=settings, where=where)


def _ssh_url(s: Mapping[str, Any]) -> str:
    where = s.get("target") or "@".join(str(s[k]) for k in ("user", "host") if s.get(k))
    return f"ssh://{where}" + (f":{s['port']}" if s.get("port") is not None else "")


def _duration(value: Any, default: Duration | None = None) -> Duration | None:
    """A duration the schema has checked; a bad one (its problem is reported by the schema,
    e.g. under `defaults:`, which every step inherits) leaves the default."""
    try:
        return Duration.parse(value)
    except ValueError:
        return default


def _retry(raw: Any) -> Retry | None:
    if not isinstance(raw, dict):
        return None
    backoff = raw.get("backoff", 1)
    return Retry(
        attempts=int(raw.get("attempts", 1)),
        delay=_duration(raw.get("delay", 1), Duration(1.0)) or Duration(1.0),
        backoff=float(backoff) if isinstance(backoff, int | float) and 1 <= backoff <= MAX_BACKOFF
        else 1.0,
        until=raw.get("until"),
        on_exhausted=raw.get("on_exhausted", "fail"),
    )


def _repeat(raw: Any) -> Repeat | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("until"), str):
        return None
    return Repeat(until=raw["until"], max=int(raw.get("max", 10)),
                  delay=_duration(raw.get("delay", 0)) or Duration(0.0),
                  on_exhausted=raw.get("on_exhausted", "fail"))


def _danger(raw: Mapping[str, Any], type_key: str, spec: Any) -> bool:
    """`danger:` as written; unset, what the step type implies (a redis write, SPEC §3.2)."""
    from vvrun.steps import STEP_TYPES

    if "danger" in raw:
        return bool(raw["danger"])
    implied = getattr(STEP_TYPES.get(type_key), "implied_danger", None)
    return implied is not None and implied(spec) is not None


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
    grace = raw.get("grace", defaults.get("grace"))
    when = raw.get("when")
    expect = raw.get("expect", ())
    watch = raw.get("watch")
    approvers = parse_approvers(raw.get("approvers"))
    return Step(
        id=raw["id"],
        type=type_key,
        spec=spec,
        title=raw.get("title"),
        description=raw.get("description"),
        when=str(when).lower() if isinstance(when, bool) else when,
        timeout=_duration(timeout) if timeout is not None else None,
        grace=_duration(grace) if grace is not None else None,
        retry=_retry(raw.get("retry", defaults.get("retry"))),
        expect=(expect,) if isinstance(expect, str) else tuple(expect),
        outputs=dict(raw.get("outputs") or {}),
        on_failure=raw.get("on_failure", defaults.get("on_failure", "abort")),
        danger=_danger(raw, type_key, spec),
        idempotent=bool(raw.get("idempotent", defaults.get("idempotent", False))),
        approvers=approvers.count,
        approvers_group=approvers.group,
        tags=tuple(raw.get("tags", ())),
        watch=_duration(watch) if watch is not None else None,
        for_each=raw.get("for_each"),
        confirm_each=bool(raw.get("confirm_each", False)),
        where=where,
        raw=raw,
    )
