"""The audit trail's hash chain: each event is bound to the one before it in its run.

`hash = sha256(prev_hash + canonical JSON of the event)`, where the event is
`{run_id, n, ts, kind, operator, host, data}` and `n` counts the run's events from 1. Editing,
inserting or deleting a row in the middle of a run's trail breaks every later link, and
`verify_chain` says where. (Removing the *last* events of a trail leaves a shorter valid chain:
the chain makes edits evident, it does not make the trail append-only.)

Events without a run (`run_id` None) form one chain of their own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

GENESIS = "0" * 64
HASHED_FIELDS = ("run_id", "n", "ts", "kind", "operator", "host", "data")


def normalize(data: Any) -> Any:
    """`data` as it will read back from any store: JSON types only (tuples become lists, odd
    values their `str`), so that the hash computed on write is the hash recomputed on read."""
    return json.loads(json.dumps(data, default=str, ensure_ascii=False))


def canonical(event: Mapping[str, Any]) -> str:
    """The bytes a hash covers: the hashed fields, sorted keys, no spaces."""
    body = {name: event.get(name) for name in HASHED_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(event)).encode()).hexdigest()


def chain_event(prev_hash: str, *, run_id: str | None, n: int, ts: float, kind: str,
                operator: str, host: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A new event linked to `prev_hash` (GENESIS for a run's first), with its own hash."""
    event: dict[str, Any] = {
        "run_id": run_id, "n": n, "ts": ts, "kind": kind, "operator": operator,
        "host": host, "data": normalize(dict(data)), "prev_hash": prev_hash,
    }
    event["hash"] = event_hash(prev_hash, event)
    return event


def verify_chain(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """Problems found in one chain (events in order); an empty list means it verifies."""
    problems: list[str] = []
    prev = GENESIS
    for i, event in enumerate(events, start=1):
        label = f"event {event.get('n', i)} ({event.get('kind', '?')})"
        if event.get("n") != i:
            problems.append(f"{label}: expected event number {i}; an event is missing or "
                            f"was inserted")
        if event.get("prev_hash") != prev:
            problems.append(f"{label}: does not link to the event before it "
                            f"(an event before it was edited, removed or inserted)")
        if event_hash(str(event.get("prev_hash")), event) != event.get("hash"):
            problems.append(f"{label}: its content does not match its hash (it was edited)")
        prev = str(event.get("hash"))
    return problems
