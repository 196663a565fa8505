"""A `redis` step's body as written (`RedisSpec`), and what danger it implies before any run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vvrun.errors import Location, VvrunError
from vvrun.steps.redis import classify, words


@dataclass(frozen=True)
class RedisSpec:
    op: str  # command | delete_pattern | info | scan | eval
    command: str | tuple[str, ...] = ""  # a command line (split later) or words
    pattern: str = ""  # delete_pattern's glob, scan's match
    batch: int = 1000  # delete_pattern's batch, scan's count
    max_per_second: float | None = None
    section: str = ""
    connection: str | None = None
    type: str | None = None  # scan: only keys of this type
    where: str | None = None  # scan: a bare expression over `key` and `value`
    max_keys: int = 10000
    script: str = ""
    keys: tuple[str, ...] = ()
    args: tuple[str, ...] = ()


def parse(body: Any, where: Location) -> RedisSpec:
    if isinstance(body, str):
        return RedisSpec(op="command", command=body)
    conn = body.get("connection")
    if "delete_pattern" in body:
        dp = body["delete_pattern"]
        if isinstance(dp, str):
            return RedisSpec(op="delete_pattern", pattern=dp, connection=conn)
        return RedisSpec(op="delete_pattern", pattern=dp["pattern"],
                         batch=int(dp.get("batch", 1000)),
                         max_per_second=dp.get("max_per_second"), connection=conn)
    if "info" in body:
        return RedisSpec(op="info", section=body["info"], connection=conn)
    if "scan" in body:
        sc = body["scan"]
        return RedisSpec(op="scan", pattern=sc["match"], type=sc.get("type"),
                         batch=int(sc.get("count", 1000)), where=sc.get("where"),
                         max_keys=int(sc.get("max_keys", 10000)), connection=conn)
    if "eval" in body:
        ev = body["eval"]
        return RedisSpec(op="eval", script=ev["script"],
                         keys=tuple(str(k) for k in ev.get("keys") or ()),
                         args=tuple(str(a) for a in ev.get("args") or ()), connection=conn)
    cmd = body["command"]
    return RedisSpec(op="command", command=cmd if isinstance(cmd, str)
                     else tuple(str(w) for w in cmd), connection=conn)


def raw_words(spec: RedisSpec) -> list[str]:
    """The command's words as written (templates intact); [] when they do not split."""
    if isinstance(spec.command, tuple):
        return list(spec.command)
    try:
        return words.split(spec.command)
    except VvrunError:  # validate reports the split on its own
        return []


def implied_danger(spec: RedisSpec) -> str | None:
    """Why this step is dangerous whatever its values, or None; judged without a server from
    Redis's command table. A step that does not say `danger:` is confirmed when this is set."""
    if spec.op == "delete_pattern":
        return "delete_pattern deletes every key that matches"
    if spec.op == "eval":
        return classify.script_danger(spec.script)
    if spec.op in ("info", "scan"):
        return None
    found = raw_words(spec)
    if not found:
        return None  # empty or unsplittable: validate says so, and render refuses it
    return classify.danger(words.known(found))
