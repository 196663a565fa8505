"""The Store contract, one suite for every store: runs, the ledger, `uncertain`, events."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_state_support import ALL, DURABLE, Stores, dead_pid, make_stores, run_record
from vvrun.errors import StateError
from vvrun.results import Status, StepResult
from vvrun.state.audit import check_events

HOST = socket.gethostname()


@pytest.fixture(params=ALL)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    yield from make_stores(request, tmp_path)


@pytest.fixture(params=DURABLE)
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    yield from make_stores(request, tmp_path)


# -- runs ------------------------------------------------------------------------------------

def test_a_run_round_trips(stores: Stores) -> None:
    store = stores.open()
    run = run_record(started_at=1000.5, updated_at=1000.5)
    store.create_run(run)
    assert store.get_run(run.id) == run
    assert store.get_run("no-such-run") is None


def test_update_run_sets_status_error_and_time(stores: Stores) -> None:
    store = stores.open()
    run = run_record(started_at=1000.0, updated_at=1000.0)
    store.create_run(run)
    store.update_run(run.id, status="failed", error="step 'kill' failed")
    got = store.get_run(run.id)
    assert (got.status, got.error) == ("failed", "step 'kill' failed")
    assert got.updated_at > 1000.0


def test_update_of_an_unknown_run_says_so(stores: Stores) -> None:
    store = stores.open()
    with pytest.raises(StateError) as info:
        store.update_run("261127-000000-dead", status="failed")
    assert info.value.message == "no run with id '261127-000000-dead' in the state store"
    assert "vvrun runs" in (info.value.hint or "")


def test_list_runs_newest_first_with_filters_and_limit(stores: Stores) -> None:
    store = stores.open()
    ids = ["260101-000001-aaaa", "260101-000002-bbbb", "260101-000003-cccc"]
    store.create_run(run_record(ids[0], runbook="backup", status="succeeded"))
    store.create_run(run_record(ids[1], runbook="db-emergency", status="paused"))
    store.create_run(run_record(ids[2], runbook="db-emergency", status="succeeded"))
    assert [r.id for r in store.list_runs()] == ids[::-1]
    assert [r.id for r in store.list_runs(runbook="db-emergency")] == [ids[2], ids[1]]
    assert [r.id for r in store.list_runs(status="succeeded")] == [ids[2], ids[0]]
    assert [r.id for r in store.list_runs(runbook="backup", status="paused")] == []
    assert [r.id for r in store.list_runs(limit=1)] == [ids[2]]


# -- the ledger ------------------------------------------------------------------------------

def test_running_then_outcome_latest_per_key(stores: Stores) -> None:
    store = stores.open()
    run = run_record()
    store.create_run(run)
    store.step_started(run.id, "version", attempt=1, host=HOST, pid=os.getpid(),
                       action_hash="h1")
    started = store.step_results(run.id)["version"]
    assert started.status is Status.RUNNING
    assert (started.attempts, started.action_hash) == (1, "h1")
    done = StepResult("version", Status.SUCCEEDED, result={"value": "PostgreSQL 16",
                                                           "rows": [{"v": 1}]},
                      outputs={"major": 16}, attempts=2, started_at=10.0, ended_at=12.5,
                      action_hash="h1")
    store.step_finished(run.id, "version", done)
    store.step_started(run.id, "kill[0]", attempt=1, host=HOST, pid=os.getpid())
    results = store.step_results(run.id)
    assert results["version"] == done
    assert results["kill[0]"].status is Status.RUNNING
    assert set(results) == {"version", "kill[0]"}
    assert store.step_results("other-run") == {}


def test_a_step_left_running_by_a_dead_process_is_uncertain(stores: Stores) -> None:
    store = stores.open()
    run = run_record()
    store.create_run(run)
    pid = dead_pid()
    store.step_started(run.id, "kill", attempt=1, host=HOST, pid=pid, pgid=pid,
                       action_hash="abc")
    got = store.step_results(run.id)["kill"]
    assert got.status is Status.UNCERTAIN
    assert got.action_hash == "abc"
    assert f"left running by pid {pid} on {HOST}" in got.error
    assert "may or may not have happened" in got.error
    entry = store.ledger_entry(run.id, "kill")
    assert (entry["status"], entry["pid"], entry["pgid"], entry["host"]) == (
        "running", pid, pid, HOST)


def test_on_another_host_the_lease_decides(stores: Stores) -> None:
    store = stores.open()
    run = run_record()
    store.create_run(run)
    store.step_started(run.id, "s", attempt=1, host="elsewhere", pid=1)
    # no lease at all: nobody can vouch for that process
    assert store.step_results(run.id)["s"].status is Status.UNCERTAIN
    store.acquire_locks(run.id, ("k",), operator="a", host="elsewhere", pid=1, ttl=60)
    assert store.step_results(run.id)["s"].status is Status.RUNNING
    store.release_locks(run.id)
    store.acquire_locks(run.id, ("k",), operator="a", host="elsewhere", pid=1, ttl=-1)
    assert store.step_results(run.id)["s"].status is Status.UNCERTAIN


def test_a_step_running_in_a_parked_run_is_uncertain(stores: Stores) -> None:
    store = stores.open()
    run = run_record()
    store.create_run(run)
    store.acquire_locks(run.id, ("k",), operator="a", host=HOST, pid=os.getpid(), ttl=60)
    store.step_started(run.id, "s", attempt=1, host=HOST, pid=os.getpid())
    assert store.step_results(run.id)["s"].status is Status.RUNNING
    store.park_locks(run.id)
    assert store.step_results(run.id)["s"].status is Status.UNCERTAIN


# -- events ----------------------------------------------------------------------------------

def test_events_are_kept_in_order_and_chained(stores: Stores) -> None:
    store = stores.open()
    run = run_record()
    store.create_run(run)
    store.append_event(run.id, "run_started", {"runbook": "db-emergency"}, operator="alice",
                       host="h1")
    store.append_event(run.id, "confirmed", {"step_id": "kill", "action_hash": "f0",
                                             "by": "alice", "when": (1, 2)},
                       operator="alice", host="h1")
    store.append_event(None, "unlocked", {"key": "x"}, operator="bob", host="h2")
    events = store.events(run.id)
    assert [(e["n"], e["kind"], e["operator"], e["host"]) for e in events] == [
        (1, "run_started", "alice", "h1"), (2, "confirmed", "alice", "h1")]
    assert events[1]["data"] == {"step_id": "kill", "action_hash": "f0", "by": "alice",
                                 "when": [1, 2]}
    assert events[1]["prev_hash"] == events[0]["hash"]
    assert check_events(events, store.audit_key) is None
    assert [e["kind"] for e in store.events(None)] == ["unlocked"]
    assert check_events(store.events(None), store.audit_key) is None
    assert store.events("no-such-run") == []


def test_a_fresh_handle_reads_what_another_wrote(durable: Stores) -> None:
    writer, reader = durable.open(), durable.open()
    run = run_record()
    writer.create_run(run)
    writer.step_finished(run.id, "a", StepResult("a", Status.FAILED, error="boom",
                                                 started_at=1.0, ended_at=2.0))
    writer.append_event(run.id, "x", {"a": 1}, operator="o", host="h")
    assert reader.get_run(run.id) == writer.get_run(run.id)
    assert reader.step_results(run.id)["a"].error == "boom"
    assert reader.events(run.id) == writer.events(run.id)


def test_timestamps_are_recorded(stores: Stores) -> None:
    store = stores.open()
    before = time.time()
    run = run_record()
    store.create_run(run)
    got = store.get_run(run.id)
    assert got.started_at >= before and got.updated_at >= before


def test_a_pause_does_not_erase_a_crashed_steps_uncertainty(durable: Stores) -> None:
    crashed, resumed = durable.open(), durable.open()
    run = run_record()
    crashed.create_run(run)
    crashed.step_started(run.id, "kill", attempt=1, host=HOST, pid=dead_pid())
    # the resume asks the operator about the step, finds no terminal, and pauses
    resumed.step_finished(run.id, "kill", StepResult("kill", Status.PAUSED, error="asked"))
    assert resumed.step_results(run.id)["kill"].status is Status.UNCERTAIN
    resumed.step_finished(run.id, "kill", StepResult("kill", Status.INTERRUPTED))
    assert resumed.step_results(run.id)["kill"].status is Status.UNCERTAIN
    # a decision is an outcome: taken as done
    resumed.step_finished(run.id, "kill", StepResult("kill", Status.SUCCEEDED))
    assert resumed.step_results(run.id)["kill"].status is Status.SUCCEEDED
    # its own step pausing (a confirm waiting for an answer) is recorded as paused
    resumed.step_started(run.id, "ask", attempt=1, host=HOST, pid=os.getpid())
    resumed.step_finished(run.id, "ask", StepResult("ask", Status.PAUSED))
    assert resumed.step_results(run.id)["ask"].status is Status.PAUSED
