"""Approvals across the terminal and the page: alice signs with her SSH key at the terminal,
bob approves in the console, and the run goes on by itself; a web approval forged into the
store does not count."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.identity_keys import make_key, pub_text, write_signers
from tests.web_world import ROOT, Server, wait_for

pytest.importorskip("starlette", reason="the web extra is not installed")


class World:
    def __init__(self, tmp: Path):
        (tmp / "keys").mkdir()
        (tmp / "home").mkdir()
        self.keys = {n: make_key(tmp / "keys", n) for n in ("alice", "bob")}
        # the principals are the console's user names: the same person at both ends
        self.signers = write_signers(tmp / "allowed_signers",
                                     f"alice {pub_text(self.keys['alice'])}",
                                     f"bob {pub_text(self.keys['bob'])}")
        self.server = Server(tmp, extra=("--no-scheduler",),
                             env={"VVRUN_ALLOWED_SIGNERS": str(self.signers)})
        self.tmp = tmp

    def vv(self, *args: str, operator: str = "alice") -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("VVRUN_", "SSH_AUTH_SOCK"))}
        env.update({"PYTHONPATH": str(ROOT), "HOME": str(self.tmp / "home"),
                    "VVRUN_STATE": str(self.tmp / "state.db"), "VVRUN_OPERATOR": operator,
                    "XDG_STATE_HOME": str(self.tmp / "xdg"), "NO_COLOR": "1",
                    "VVRUN_ALLOWED_SIGNERS": str(self.signers), "GATE": "/nonexistent"})
        return subprocess.run([sys.executable, "-m", "vvrun", *args], env=env, text=True,
                              capture_output=True, stdin=subprocess.DEVNULL, timeout=120,
                              check=False)

    def status(self, run_id: str) -> str:
        shown = json.loads(self.vv("show", run_id, "--format", "json").stdout)
        return str(shown["run"]["status"])

    def events(self, run_id: str, kind: str) -> list[dict]:
        shown = json.loads(self.vv("show", run_id, "--format", "json").stdout)
        return [e for e in shown["events"] if e["kind"] == kind]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.server.stop()


def _approve(world: World, user: str, run_id: str) -> object:
    client = world.server.client(user)
    return client.post(f"/runs/{run_id}/steps/change/approve", data={"csrf": client.csrf})


def test_started_at_the_terminal_approved_in_the_page_goes_on_by_itself(world: World) -> None:
    book = str(world.tmp / "rb" / "four-eyes.yaml")
    first = world.vv("run", book, "--yes", "--key", str(world.keys["alice"]))
    assert first.returncode == 3, first.stderr
    assert "needs 2 approvals by different people, has 1: alice" in first.stdout
    run_id = re.findall(r"run (\S+) paused", first.stdout)[-1]
    # alice signed at the terminal: the page knows it is her, and refuses her again
    again = _approve(world, "alice", run_id)
    assert again.status_code == 403 and "someone other than" in again.text
    assert _approve(world, "bob", run_id).status_code == 303
    wait_for(lambda: world.status(run_id) == "succeeded", what="the run to finish by itself")
    signed = world.events(run_id, "approval_signed")
    assert [(e["data"]["principal"], e["data"].get("via")) for e in signed] == [
        ("alice", None), ("bob", "web")]
    ended = [e["data"]["step_id"] for e in world.events(run_id, "step_ended")
             if e["data"]["status"] == "succeeded"]
    assert ended == ["prepare", "change"]


def _paused_by_alice_in_the_page(world: World) -> str:
    alice = world.server.client("alice")
    started = alice.post("/runbooks/web-four-eyes", data={"csrf": alice.csrf, "action": "run"})
    run_id = started.headers["location"].rsplit("/", 1)[1]
    wait_for(lambda: 'data-kind="approve"' in alice.get(f"/runs/{run_id}").text, what="pause")
    assert _approve(world, "alice", run_id).status_code == 303
    return run_id


def test_a_web_approval_forged_into_the_store_does_not_count(world: World) -> None:
    run_id = _paused_by_alice_in_the_page(world)
    real = world.events(run_id, "approval_signed")[0]["data"]
    # an insider with a store handle writes "carol approved", reusing alice's attestation
    from vvrun.state import open_store

    env = {"VVRUN_STATE": str(world.tmp / "state.db"), "XDG_STATE_HOME": str(world.tmp / "xdg")}
    store = open_store(env)
    try:
        store.append_event(run_id, "approval_signed",
                           {**real, "principal": "carol", "fingerprint": "web:carol",
                            "by": "carol"}, operator="carol", host="elsewhere")
    finally:
        store.close()
    resumed = world.vv("resume", run_id, operator="carol")
    assert resumed.returncode == 3, resumed.stderr
    assert "needs 2 approvals by different people, has 1: alice (key web:alice)" in \
        resumed.stdout
    assert world.status(run_id) == "paused"


def test_a_web_approval_inserted_without_the_audit_key_stops_the_resume(world: World) -> None:
    run_id = _paused_by_alice_in_the_page(world)
    real = world.events(run_id, "approval_signed")[0]
    con = sqlite3.connect(world.tmp / "state.db")
    with con:
        n, prev = con.execute("SELECT max(n), (SELECT hash FROM events WHERE run_id = ? "
                              "ORDER BY n DESC LIMIT 1) FROM events WHERE run_id = ?",
                              (run_id, run_id)).fetchone()
        chain = con.execute("SELECT chain FROM events WHERE run_id = ? LIMIT 1",
                            (run_id,)).fetchone()[0]
        con.execute("INSERT INTO events (chain, n, run_id, ts, kind, operator, host, data, "
                    "prev_hash, hash) VALUES (?, ?, ?, 0, 'approval_signed', 'bob', 'x', ?, ?, ?)",
                    (chain, n + 1, run_id, json.dumps({**real["data"], "principal": "bob",
                                                       "fingerprint": "web:bob"}), prev, "0" * 64))
    con.close()
    resumed = world.vv("resume", run_id)
    assert resumed.returncode != 0 and "Traceback" not in resumed.stderr
    assert "keyed hash" in resumed.stderr or "keyed hash" in resumed.stdout
    assert world.status(run_id) == "paused"
