"""`vvrun approve` counts approvals given in the web console as the engine does: a row written
the way `vvrun serve` writes it (an `approval_signed` with `via: "web"`, attested with the
store's audit key) counts toward `approvers`, and its person cannot approve a second time with
their SSH key; a web row without the key's attestation counts for nothing."""

from __future__ import annotations

import re

from tests.test_approvals_cli import (  # noqa: F401 (the fixture, skips)
    World,
    _write_book,
    pytestmark,
    world,
)
from vvrun.identity.attested import web_record
from vvrun.state import open_store


def _paused(w: World, approvers: str) -> str:
    _write_book(w.book, w.table, approvers)
    first = w.vv("run", str(w.book), "--yes", key="alice")
    assert first.returncode == 3, first.stderr
    return re.findall(r"run (\S+) paused", first.stdout)[-1]


def _approve_in_the_page(w: World, run_id: str, person: str, *, attested: bool = True) -> None:
    """What `vvrun serve` appends when `person`, signed in, approves the step (routes_inbox)."""
    asked = w.events(run_id, "approval_requested")[-1]["data"]
    store = open_store({"VVRUN_STATE": str(w.tmp / "state.db")})
    try:
        data = web_record(store.audit_key if attested else b"k" * 32, run_id=run_id,
                          step_id=asked["step_id"], digest=asked["action_hash"],
                          principal=person)
        store.append_event(run_id, "approval_signed", {**data, "by": person},
                           operator=person, host="web")
    finally:
        store.close()


def test_a_web_approval_counts_toward_what_approve_says(world: World) -> None:  # noqa: F811
    run_id = _paused(world, "3")
    _approve_in_the_page(world, run_id, "bob@example.com")
    carol = world.vv("approve", run_id, "fix", "--yes", operator="carol", key="carol")
    assert carol.returncode == 0, carol.stderr
    assert "still waiting" not in carol.stdout  # alice (ssh), bob (web), carol (ssh): three
    assert f"continue the run: vvrun resume {run_id}" in carol.stdout
    done = world.vv("resume", run_id, key="alice")
    assert done.returncode == 0, done.stdout + done.stderr
    assert world.labels() == ["one"]


def test_who_approved_in_the_page_cannot_approve_again(world: World) -> None:  # noqa: F811
    run_id = _paused(world, "3")
    _approve_in_the_page(world, run_id, "bob@example.com")
    again = world.vv("approve", run_id, "fix", "--yes", operator="bob", key="bob")
    assert again.returncode == 1, again.stdout
    assert "bob@example.com approved twice, with two keys; the second approval must come from " \
           "someone else" in again.stderr
    signed = world.events(run_id, "approval_signed")
    assert [e["data"]["principal"] for e in signed] == ["alice@example.com", "bob@example.com"]
    assert world.labels() == []


def test_a_web_row_not_attested_counts_for_nothing(world: World) -> None:  # noqa: F811
    run_id = _paused(world, "3")
    _approve_in_the_page(world, run_id, "bob@example.com", attested=False)
    carol = world.vv("approve", run_id, "fix", "--yes", operator="carol", key="carol")
    assert carol.returncode == 0, carol.stderr
    assert "still waiting: needs 3 approvals by different people, has 2" in carol.stdout
