"""The audit trail's hash chain: built, verified, and an edit found — in memory, in the SQLite
file edited with sqlite3 directly, and in the PostgreSQL table edited with UPDATE."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_state_support import DURABLE, Stores, make_stores, run_record
from vvrun.state.audit import GENESIS, chain_event, event_hash, verify_chain


def _chain(n: int = 4) -> list[dict]:
    events, prev = [], GENESIS
    for i in range(1, n + 1):
        event = chain_event(prev, run_id="r1", n=i, ts=1000.0 + i, kind=f"k{i}",
                            operator="alice", host="h1", data={"i": i, "t": (1, 2)})
        events.append(event)
        prev = event["hash"]
    return events


def test_a_chain_verifies_and_links() -> None:
    events = _chain()
    assert verify_chain(events) == []
    assert events[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(events))
    assert events[0]["data"] == {"i": 1, "t": [1, 2]}  # as it will read back from a store
    assert verify_chain([]) == []


def test_the_hash_covers_every_field() -> None:
    event = _chain(1)[0]
    for name, value in (("kind", "other"), ("operator", "mallory"), ("host", "h9"),
                        ("ts", 1.5), ("data", {"i": 2}), ("n", 7), ("run_id", "r2")):
        changed = {**event, name: value}
        assert event_hash(GENESIS, changed) != event["hash"], name


def test_an_edited_event_is_found() -> None:
    events = _chain()
    events[1] = {**events[1], "operator": "mallory"}
    assert verify_chain(events) == [
        "event 2 (k2): its content does not match its hash (it was edited)"]


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link() -> None:
    events = _chain()
    forged = {**events[1], "data": {"i": 99}}
    forged["hash"] = event_hash(forged["prev_hash"], forged)
    events[1] = forged
    assert verify_chain(events) == [
        "event 3 (k3): does not link to the event before it (an event before it was edited, "
        "removed or inserted)"]


def test_a_removed_event_is_found() -> None:
    events = _chain()
    del events[1]
    problems = verify_chain(events)
    assert problems[0].startswith("event 3 (k3): expected event number 2")
    assert any("does not link" in p for p in problems)


# -- in the stores' own tables ---------------------------------------------------------------

@pytest.fixture(params=DURABLE)
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    yield from make_stores(request, tmp_path)


def _trail(stores: Stores) -> str:
    store = stores.open()
    run = run_record()
    store.create_run(run)
    for kind, data in (("run_started", {"runbook": "db-emergency"}),
                       ("confirmed", {"step_id": "kill", "action_hash": "aa", "by": "alice"}),
                       ("approved", {"step_id": "kill", "action_hash": "aa"}),
                       ("step_ended", {"step_id": "kill", "status": "succeeded"})):
        store.append_event(run.id, kind, data, operator="alice@h1", host="h1")
    assert verify_chain(store.events(run.id)) == []
    return run.id


def test_an_edited_row_is_detected(durable: Stores) -> None:
    run_id = _trail(durable)
    forged = json.dumps({"step_id": "kill", "action_hash": "aa", "by": "bob"})
    if durable.kind == "sqlite":
        conn = sqlite3.connect(durable.path)
        conn.execute("UPDATE events SET data = ?, operator = 'bob@h2' WHERE chain = ? AND n = 2",
                     (forged, run_id))
        conn.commit()
        conn.close()
    else:
        store = durable.open()
        with store.raw().cursor() as cur:
            cur.execute(f'UPDATE "{durable.schema}".events SET data = %s WHERE chain = %s '
                        "AND n = 2", (forged, run_id))
    events = durable.open().events(run_id)
    assert events[1]["data"]["by"] == "bob"
    assert verify_chain(events) == [
        "event 2 (confirmed): its content does not match its hash (it was edited)"]


def test_a_deleted_row_is_detected(durable: Stores) -> None:
    run_id = _trail(durable)
    if durable.kind == "sqlite":
        conn = sqlite3.connect(durable.path)
        conn.execute("DELETE FROM events WHERE chain = ? AND n = 3", (run_id,))
        conn.commit()
        conn.close()
    else:
        with durable.open().raw().cursor() as cur:
            cur.execute(f'DELETE FROM "{durable.schema}".events WHERE chain = %s AND n = 3',
                        (run_id,))
    problems = verify_chain(durable.open().events(run_id))
    assert problems and problems[0].startswith("event 4 (step_ended): expected event number 3")
