"""The audit trail's keyed chain: each event is bound to the one before it in its run.

`mac = HMAC-SHA256(key, prev_mac + canonical JSON of the event)`, where the event is
`{run_id, n, ts, kind, operator, host, data}` and `n` counts the run's events from 1, and the key
is kept outside the store (`audit_key.py`). Editing, inserting, deleting or reordering a row
breaks the chain where it happened, and someone holding the store but not the key cannot
recompute it. (Removing the *last* events of a trail leaves a shorter valid chain: the chain
makes edits evident, it does not make the trail append-only.)

Ledger rows carry a MAC of their own (`ledger_mac`), so a forged `succeeded` row is found too.
Events without a run (`run_id` None) form one chain of their own.

Stores written before the key existed used a plain sha256 chain (`legacy_hash`); the
migration re-keys a chain only if it verifies under that scheme.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
HASHED_FIELDS = ("run_id", "n", "ts", "kind", "operator", "host", "data")
LEDGER_FIELDS = ("run_id", "key", "status", "attempt", "host", "pid", "pgid", "action_hash",
                 "started_at", "ended_at", "result")


def normalize(data: Any) -> Any:
    """`data` as it will read back from any store: JSON types only (tuples become lists, odd
    values their `str`), so that the MAC computed on write is the MAC recomputed on read."""
    return normalized(data)[1]


def normalized(data: Any) -> tuple[str, Any]:
    """`data` as JSON text, and as that text reads back (`normalize`): a store that keeps the
    text keeps exactly what the MAC covers."""
    text = json.dumps(data, default=str, ensure_ascii=False)
    return text, json.loads(text)


def canonical(event: Mapping[str, Any], fields: Sequence[str] = HASHED_FIELDS) -> str:
    """The bytes a MAC covers: the named fields, sorted keys, no spaces."""
    body = {name: event.get(name) for name in fields}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_mac(key: bytes, prev: str, event: Mapping[str, Any]) -> str:
    return hmac.new(key, (prev + canonical(event)).encode(), hashlib.sha256).hexdigest()


def legacy_hash(prev: str, event: Mapping[str, Any]) -> str:
    """The unkeyed sha256 link of stores written before schema version 3."""
    return hashlib.sha256((prev + canonical(event)).encode()).hexdigest()


def ledger_mac(key: bytes, row: Mapping[str, Any]) -> str:
    return hmac.new(key, canonical(row, LEDGER_FIELDS).encode(), hashlib.sha256).hexdigest()


def chain_event(key: bytes, prev: str, *, run_id: str | None, n: int, ts: float, kind: str,
                operator: str, host: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A new event linked to `prev` (GENESIS for a run's first), with its own MAC in `hash`."""
    return seal(key, prev, run_id=run_id, n=n, ts=ts, kind=kind, operator=operator, host=host,
                data=normalize(dict(data)))


def seal(key: bytes, prev: str, *, run_id: str | None, n: int, ts: float, kind: str,
         operator: str, host: str, data: Any) -> dict[str, Any]:
    """`chain_event` for `data` already normalized (`normalized`)."""
    event: dict[str, Any] = {
        "run_id": run_id, "n": n, "ts": ts, "kind": kind, "operator": operator,
        "host": host, "data": data, "prev_hash": prev,
    }
    event["hash"] = event_mac(key, prev, event)
    return event


@dataclass(frozen=True)
class Problem:
    """The first thing wrong in a trail: where (`position` counts from 1 in store order;
    `event` is the row's own number, or the ledger key) and what."""

    position: int
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def check_events(events: Sequence[Mapping[str, Any]], key: bytes) -> Problem | None:
    """The first bad event of one chain (events in store order), or None when it verifies."""
    prev = GENESIS
    for position, event in enumerate(events, start=1):
        where = f"event {position} ({event.get('kind', '?')})"
        if event.get("n") != position:
            what = ("numbered " + str(event.get("n")) + f", expected {position}: an event was "
                    "deleted, inserted or moved here")
            return Problem(position, where, what)
        if event.get("prev_hash") != prev:
            return Problem(position, where, "does not link to the event before it (an event "
                           "before it was deleted, inserted or moved)")
        if not hmac.compare_digest(event_mac(key, prev, event), str(event.get("hash"))):
            return Problem(position, where, "its content does not match its keyed hash (it "
                           "was changed, or written without the audit key)")
        prev = str(event.get("hash"))
    return None


def check_legacy(events: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a chain verifies under the old unkeyed sha256 scheme."""
    prev = GENESIS
    for position, event in enumerate(events, start=1):
        if event.get("n") != position or event.get("prev_hash") != prev:
            return False
        if legacy_hash(prev, event) != event.get("hash"):
            return False
        prev = str(event.get("hash"))
    return True
