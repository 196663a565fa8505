"""Locks (SPEC §6): all or nothing, leases, take-over by the own run, fencing, breaking — and
real processes racing for one lock, and a frozen holder whose lock was broken."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_state_support import ALL, DURABLE, Stores, dead_pid, make_stores, run_record
from vvrun.errors import EXIT_LOCKED, LockHeld, StateError
from vvrun.results import Status, StepResult

HOST = socket.gethostname()
ME = os.getpid()


@pytest.fixture(params=ALL)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    yield from make_stores(request, tmp_path)


@pytest.fixture(params=DURABLE)
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    yield from make_stores(request, tmp_path)


def _take(store, run_id: str, *keys: str, pid: int = ME, host: str = HOST, ttl: float = 60,
          operator: str = "alice@h1") -> int:
    return store.acquire_locks(run_id, keys, operator=operator, host=host, pid=pid, ttl=ttl)


def test_acquire_release_and_growing_tokens(stores: Stores) -> None:
    store = stores.open()
    t1 = _take(store, "r1", "db-emergency", "pg:db1")
    info = store.lock_info("pg:db1")
    assert (info.run_id, info.operator, info.host, info.pid, info.token) == (
        "r1", "alice@h1", HOST, ME, t1)
    assert info.expires_at > info.since
    assert [lk.key for lk in store.list_locks()] == ["db-emergency", "pg:db1"]
    store.release_locks("r1")
    assert store.lock_info("pg:db1") is None
    t2 = _take(store, "r2", "pg:db1")
    assert t2 > t1


def test_another_run_gets_lock_held_naming_the_holder(stores: Stores) -> None:
    store = stores.open()
    _take(store, "r1", "db-emergency", operator="alice@h1")
    with pytest.raises(LockHeld) as info:
        _take(store, "r2", "db-emergency", operator="bob@h2")
    err = info.value
    assert err.exit_code == EXIT_LOCKED == 5
    assert err.message.startswith(
        f"lock 'db-emergency' is held by run r1 (alice@h1 on {HOST}, pid {ME}, since ")
    assert "vvrun unlock db-emergency --why" in (err.hint or "")


def test_all_or_nothing(stores: Stores) -> None:
    store = stores.open()
    _take(store, "r1", "b")
    with pytest.raises(LockHeld):
        _take(store, "r2", "a", "b", "c")
    assert store.lock_info("a") is None and store.lock_info("c") is None
    assert store.lock_info("b").run_id == "r1"


def test_the_same_process_takes_its_lock_again(stores: Stores) -> None:
    store = stores.open()
    t1 = _take(store, "r1", "k")
    t2 = _take(store, "r1", "k")
    assert t2 > t1 and store.lock_info("k").token == t2


def test_a_run_takes_over_its_lock_from_its_dead_process(stores: Stores) -> None:
    store = stores.open()
    store.create_run(run_record("r1"))
    gone = dead_pid()
    _take(store, "r1", "k", pid=gone)
    token = _take(store, "r1", "k")
    assert (store.lock_info("k").pid, store.lock_info("k").token) == (ME, token)
    taken = [e for e in store.events("r1") if e["kind"] == "lock_taken_over"]
    assert taken[0]["data"] == {"key": "k", "from_host": HOST, "from_pid": gone,
                                "token": token}


def test_a_run_may_not_take_its_lock_from_a_live_process(stores: Stores) -> None:
    store = stores.open()
    _take(store, "r1", "k", pid=os.getppid())  # alive, and not us: a second `resume`
    with pytest.raises(LockHeld, match=f"held by run r1 .*pid {os.getppid()}"):
        _take(store, "r1", "k")


def test_a_run_takes_over_when_the_lease_expired(stores: Stores) -> None:
    store = stores.open()
    _take(store, "r1", "k", host="other-host", pid=4242, ttl=-1)
    _take(store, "r1", "k")
    assert store.lock_info("k").host == HOST


def test_another_run_never_takes_a_dead_holders_lock(stores: Stores) -> None:
    store = stores.open()
    _take(store, "r1", "k", pid=dead_pid(), ttl=-1)
    with pytest.raises(LockHeld) as info:
        _take(store, "r2", "k")
    assert "is gone" in info.value.message or "lease expired" in info.value.message
    assert "vvrun resume r1" in info.value.hint
    assert "vvrun unlock k --why TEXT" in info.value.hint


def test_parked_locks_go_to_the_own_resume_only(stores: Stores) -> None:
    store = stores.open()
    store.create_run(run_record("r1"))
    _take(store, "r1", "k")
    store.park_locks("r1")
    assert store.lock_info("k").pid == 0
    with pytest.raises(LockHeld) as info:
        _take(store, "r2", "k")
    assert "the run is paused" in info.value.message
    assert "vvrun resume r1" in info.value.hint
    _take(store, "r1", "k", host="colleagues-laptop", pid=77)  # resumed from elsewhere
    assert store.lock_info("k").host == "colleagues-laptop"


def test_break_lock_is_audited_in_the_holders_trail(stores: Stores) -> None:
    store = stores.open()
    store.create_run(run_record("r1"))
    token = _take(store, "r1", "k")
    broken = store.break_lock("k", why="holder host rebooted", operator="bob@h2", host="h2")
    assert (broken.run_id, broken.token) == ("r1", token)
    assert store.lock_info("k") is None
    event = store.events("r1")[-1]
    assert (event["kind"], event["operator"], event["host"]) == ("lock_broken", "bob@h2", "h2")
    assert event["data"]["why"] == "holder host rebooted"
    assert event["data"]["holder_pid"] == ME
    assert store.break_lock("k", why="again", operator="bob", host="h2") is None


def test_a_broken_holder_cannot_write(stores: Stores) -> None:
    store = stores.open()
    run = run_record("r1")
    store.create_run(run)
    _take(store, "r1", "k")
    store.step_started("r1", "a", attempt=1, host=HOST, pid=ME)  # still ours: fine
    breaker = stores.open()
    breaker.break_lock("k", why="frozen", operator="bob@h2", host="h2")
    for write in (
        lambda: store.step_started("r1", "b", attempt=1, host=HOST, pid=ME),
        lambda: store.update_run("r1", status="succeeded"),
        lambda: store.append_event("r1", "step_ended", {}, operator="alice", host=HOST),
        lambda: store.renew_locks("r1"),
    ):
        with pytest.raises(StateError) as info:
            write()
        assert info.value.message.startswith("run r1: this run's lock was broken by bob@h2 at ")
        assert info.value.message.endswith("; stop")
        assert "vvrun show r1 --events" in info.value.hint
    assert "b" not in breaker.step_results("r1")
    assert breaker.get_run("r1").status == "running"


def test_a_process_whose_lock_was_taken_over_cannot_write(durable: Stores) -> None:
    old, new = durable.open(), durable.open()
    old.create_run(run_record("r1"))
    _take(old, "r1", "k", ttl=-1)  # its lease lapsed (a frozen process)
    _take(new, "r1", "k", host="other-host", pid=4242)
    with pytest.raises(StateError, match=r"run r1: this run's lock was taken over by alice@h1 "
                                         r"\(pid 4242 on other-host\) at .*; stop"):
        old.step_finished("r1", "a", StepResult("a", Status.SUCCEEDED))
    old.release_locks("r1")  # releasing what it no longer holds leaves the new holder alone
    assert new.lock_info("k").host == "other-host"
    new.step_started("r1", "a", attempt=1, host="other-host", pid=4242)


def test_renew_extends_the_lease(stores: Stores) -> None:
    store = stores.open()
    _take(store, "r1", "k", ttl=600)
    first = store.lock_info("k").expires_at
    store.renew_locks("r1")
    assert store.lock_info("k").expires_at >= first
    assert store.renew_locks("never-locked") is None  # nothing to renew: no error


# -- real processes --------------------------------------------------------------------------

_CONTENDER = r"""
import os, socket, sys
from vvrun.errors import LockHeld, StateError
from vvrun.results import Status, StepResult
from vvrun.state import open_store
store = open_store(os.environ)
run_id, key = sys.argv[1], sys.argv[2]
print("READY", flush=True)
sys.stdin.readline()
try:
    token = store.acquire_locks(run_id, (key,), operator="op-" + run_id,
                                host=socket.gethostname(), pid=os.getpid(), ttl=60)
except LockHeld as exc:
    print("HELD", exc.message, flush=True)
    sys.exit(5)
print("WON", token, flush=True)
for line in sys.stdin:
    try:
        store.step_started(run_id, "after", attempt=1, host=socket.gethostname(),
                           pid=os.getpid())
        print("WROTE", flush=True)
    except StateError as exc:
        print("REFUSED", exc.message, flush=True)
"""


def _finish(p: subprocess.Popen[str]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGCONT)
    for stream in (p.stdin, p.stdout, p.stderr):
        if stream is not None and not stream.closed:
            with contextlib.suppress(BrokenPipeError):  # it exited before reading it all
                stream.close()
    p.wait(timeout=60)


def _spawn(stores: Stores, run_id: str, key: str) -> subprocess.Popen[str]:
    env = {**os.environ, **stores.env()}
    return subprocess.Popen([sys.executable, "-c", _CONTENDER, run_id, key], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("round_", range(3))
def test_eight_processes_race_for_one_lock(durable: Stores, round_: int) -> None:
    durable.open()  # create the store first, as `vvrun` would have long before
    key = f"race-{uuid.uuid4().hex[:6]}"
    procs = [_spawn(durable, f"run-{round_}-{i}", key) for i in range(8)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "READY", p.stderr.read()
        for p in procs:  # the starting gun, as close together as we can fire it
            p.stdin.write("\n")
            p.stdin.flush()
        lines = {i: p.stdout.readline().strip() for i, p in enumerate(procs)}
        winners = [i for i, line in lines.items() if line.startswith("WON")]
        assert len(winners) == 1, lines
        w = winners[0]
        for i, line in lines.items():
            if i != w:
                assert line.startswith(f"HELD lock '{key}' is held by run run-{round_}-{w} "
                                       f"(op-run-{round_}-{w} on {HOST}, pid {procs[w].pid}, "
                                       f"since "), line
                assert procs[i].wait(timeout=60) == 5
    finally:
        for p in procs:
            _finish(p)


def test_a_frozen_holder_whose_lock_was_broken_cannot_write(durable: Stores) -> None:
    store = durable.open()
    key = f"frozen-{uuid.uuid4().hex[:6]}"
    store.create_run(run_record("frozen-run"))
    holder = _spawn(durable, "frozen-run", key)
    try:
        assert holder.stdout.readline().strip() == "READY"
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().startswith("WON")
        holder.stdin.write("write\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "WROTE"

        holder.send_signal(signal.SIGSTOP)
        store.break_lock(key, why="holder frozen for 10 minutes", operator="bob@h2", host="h2")
        _take(store, "rescue-run", key, operator="bob@h2")
        holder.send_signal(signal.SIGCONT)

        holder.stdin.write("write\n")
        holder.stdin.flush()
        line = holder.stdout.readline().strip()
        assert line.startswith("REFUSED run frozen-run: this run's lock was broken by bob@h2 "
                               "at "), line
        assert store.lock_info(key).run_id == "rescue-run"
        assert store.step_results("frozen-run")["after"].attempts == 1  # the first write only
    finally:
        _finish(holder)
