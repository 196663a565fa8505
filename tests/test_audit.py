"""The audit trail's keyed chain: built, verified, and each attack found — in memory, in the
SQLite file edited with sqlite3 directly, and in the PostgreSQL tables edited with psycopg."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_state_support import DURABLE, Stores, make_stores, run_record
from vvrun.state.audit import GENESIS, chain_event, check_events, event_mac, ledger_mac, legacy_hash
from vvrun.state.verify import verify_chain

KEY = b"k" * 32


def _chain(n: int = 4) -> list[dict]:
    events, prev = [], GENESIS
    for i in range(1, n + 1):
        event = chain_event(KEY, prev, run_id="r1", n=i, ts=1000.0 + i, kind=f"k{i}",
                            operator="alice", host="h1", data={"i": i, "t": (1, 2)})
        events.append(event)
        prev = event["hash"]
    return events


def test_a_chain_verifies_and_links() -> None:
    events = _chain()
    assert check_events(events, KEY) is None
    assert events[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(events))
    assert events[0]["data"] == {"i": 1, "t": [1, 2]}  # as it will read back from a store
    assert check_events([], KEY) is None


def test_the_mac_covers_every_field_and_needs_the_key() -> None:
    event = _chain(1)[0]
    for name, value in (("kind", "other"), ("operator", "mallory"), ("host", "h9"),
                        ("ts", 1.5), ("data", {"i": 2}), ("n", 7), ("run_id", "r2")):
        assert event_mac(KEY, GENESIS, {**event, name: value}) != event["hash"], name
    assert event_mac(b"x" * 32, GENESIS, event) != event["hash"]
    assert check_events([event], b"x" * 32).position == 1


def test_an_edited_event_is_found_at_its_position() -> None:
    events = _chain()
    events[1] = {**events[1], "operator": "mallory"}
    problem = check_events(events, KEY)
    assert (problem.position, str(problem)) == (2, "event 2 (k2): its content does not match "
                                                "its keyed hash (it was changed, or written "
                                                "without the audit key)")


def test_a_recomputed_plain_sha256_chain_is_refused() -> None:
    # the old scheme's forgery: edit an event and recompute every link with sha256
    events, prev = [], GENESIS
    for event in _chain():
        forged = {**event, "prev_hash": prev,
                  "data": {"i": 99} if event["n"] == 2 else event["data"]}
        forged["hash"] = legacy_hash(prev, forged)
        events.append(forged)
        prev = forged["hash"]
    assert check_events(events, KEY).position == 1


def test_removed_inserted_and_reordered_events_are_found() -> None:
    events = _chain()
    assert check_events(events[:1] + events[2:], KEY).position == 2
    swapped = [events[0], events[2], events[1], events[3]]
    assert check_events(swapped, KEY).position == 2
    extra = chain_event(b"x" * 32, events[0]["hash"], run_id="r1", n=2, ts=1.0, kind="approved",
                        operator="mallory", host="h", data={})
    assert check_events([events[0], extra, *events[1:]], KEY).position == 2


# -- attacks on the stores' own tables ---------------------------------------------------------

@pytest.fixture(params=DURABLE)
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    yield from make_stores(request, tmp_path)


def _trail(stores: Stores) -> str:
    from vvrun.results import Status, StepResult

    store = stores.open()
    run = run_record()
    store.create_run(run)
    for kind, data in (("run_started", {"runbook": "db-emergency"}),
                       ("confirmed", {"step_id": "kill", "action_hash": "aa", "by": "alice"}),
                       ("approved", {"step_id": "kill", "action_hash": "aa"})):
        store.append_event(run.id, kind, data, operator="alice@h1", host="h1")
    store.step_started(run.id, "kill", attempt=1, host="h1", pid=1)
    store.step_finished(run.id, "kill", StepResult("kill", Status.SUCCEEDED, {"n": 1},
                                                   started_at=1.0, ended_at=2.0))
    store.append_event(run.id, "step_ended", {"step_id": "kill", "status": "succeeded"},
                       operator="alice@h1", host="h1")
    assert verify_chain(store, run.id).ok
    return run.id


def _sql(stores: Stores, text: str, params: tuple[Any, ...]) -> None:
    """Edit the store behind vvrun's back, as someone with the database would."""
    if stores.kind == "sqlite":
        conn = sqlite3.connect(stores.path)
        conn.execute(text.replace("{p}", "").replace("%s", "?"), params)
        conn.commit()
        conn.close()
    else:
        with stores.open().raw().cursor() as cur:
            cur.execute(text.replace("{p}", f'"{stores.schema}".'), params)


def test_data_json_would_write_differently_still_reads_back_and_verifies(
        durable: Stores) -> None:
    """The row keeps the JSON text the event's data was normalized from. Keys that collide
    once they are strings (1 and "1"), tuples, odd values and non-ASCII all read back to what
    the MAC was made on, from another handle."""
    store = durable.open()
    run = run_record()
    store.create_run(run)
    odd = {1: "int key", "1": "str key", "t": (1, 2), "p": Path("/x"), "é": "ünïcode",
           "nested": {"f": 1.5, "none": None, "list": [True, "x"]}}
    store.append_event(run.id, "step_ended", odd, operator="alice@h1", host="h1")
    (event,) = durable.open().events(run.id)
    assert event["data"] == {"1": "str key", "t": [1, 2], "p": "/x", "é": "ünïcode",
                             "nested": {"f": 1.5, "none": None, "list": [True, "x"]}}
    assert verify_chain(durable.open(), run.id).ok


def test_an_edited_row_is_detected(durable: Stores) -> None:
    run_id = _trail(durable)
    forged = json.dumps({"step_id": "kill", "action_hash": "aa", "by": "bob"})
    _sql(durable, "UPDATE {p}events SET data = %s WHERE chain = %s AND n = 2", (forged, run_id))
    report = verify_chain(durable.open(), run_id)
    assert report.problem.position == 2
    assert report.summary().startswith(f"run {run_id}: the audit trail does not verify at "
                                       "event 2 (confirmed): its content does not match")


def test_a_deleted_row_is_detected(durable: Stores) -> None:
    run_id = _trail(durable)
    _sql(durable, "DELETE FROM {p}events WHERE chain = %s AND n = 3", (run_id,))
    problem = verify_chain(durable.open(), run_id).problem
    assert problem.position == 3 and "numbered 4, expected 3" in problem.what


def test_a_recomputed_sha256_link_is_detected(durable: Stores) -> None:
    run_id = _trail(durable)
    store = durable.open()
    ev = store.events(run_id)[1]
    ev["data"] = {"step_id": "kill", "action_hash": "aa", "by": "bob"}
    _sql(durable, "UPDATE {p}events SET data = %s, hash = %s WHERE chain = %s AND n = 2",
         (json.dumps(ev["data"]), legacy_hash(ev["prev_hash"], ev), run_id))
    assert verify_chain(durable.open(), run_id).problem.position == 2


def test_a_forged_succeeded_ledger_row_is_detected(durable: Stores) -> None:
    run_id = _trail(durable)
    result = json.dumps({"step_id": "flush", "status": "succeeded"})
    row = {"run_id": run_id, "key": "flush", "status": "succeeded", "attempt": 1,
           "host": "h1", "pid": None, "pgid": None, "action_hash": None, "started_at": 1.0,
           "ended_at": 2.0, "result": result}
    import hashlib  # the forger's best guess: a MAC without the key

    mac = hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()
    _sql(durable, "INSERT INTO {p}ledger (run_id, key, status, attempt, started_at, ended_at, "
         "result, mac, host) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
         (run_id, "flush", "succeeded", 1, 1.0, 2.0, result, mac, "h1"))
    problem = verify_chain(durable.open(), run_id).problem
    assert problem is not None and "step 'flush'" in problem.where
    assert ledger_mac(durable.open().audit_key, row) != mac


def test_a_deleted_ledger_row_is_detected(durable: Stores) -> None:
    run_id = _trail(durable)
    _sql(durable, "DELETE FROM {p}ledger WHERE run_id = %s AND key = %s", (run_id, "kill"))
    problem = verify_chain(durable.open(), run_id).problem
    assert (problem.position, problem.what) == (
        4, "says step 'kill' ended, but its ledger row is gone (deleted)")


def test_a_changed_answer_in_the_ledger_is_detected(durable: Stores) -> None:
    run_id = _trail(durable)
    _sql(durable, "UPDATE {p}ledger SET result = %s WHERE run_id = %s AND key = %s",
         (json.dumps({"step_id": "kill", "status": "succeeded", "result": {"n": 2}}), run_id,
          "kill"))
    assert verify_chain(durable.open(), run_id).problem.where == "ledger row 1 (step 'kill')"


def test_another_key_does_not_verify(durable: Stores) -> None:
    run_id = _trail(durable)
    from vvrun.state.postgres import PostgresStore
    from vvrun.state.sqlite import SqliteStore

    store = (SqliteStore(durable.path, audit_key=b"y" * 32) if durable.kind == "sqlite"
             else PostgresStore(durable.pg_url, schema=durable.schema, audit_key=b"y" * 32))
    try:
        assert verify_chain(store, run_id).problem.position == 1
    finally:
        store.close()
