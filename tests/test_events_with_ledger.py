"""A step's routine events ride with its ledger records: `step_started` is written with the
`running` record of a step nothing asks about, `step_ended` with the outcome — two commits a
step, not four — and the trail still says everything, in the order it was shown, and verifies.

Against every kind of store (SQLite and PostgreSQL as a second process would read them); the
commits are counted by SQLite's own statement trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ScriptedPrompter
from tests.test_engine_support import Runner, write_runbook
from tests.test_state_support import ALL, Stores, make_stores, run_record
from vvrun.secrets import Masker
from vvrun.state import Appended
from vvrun.state.verify import verify_chain


@pytest.fixture(params=ALL)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    yield from make_stores(request, tmp_path)


def _book(tmp_path: Path, steps: str, name: str = "rb.yaml") -> Path:
    return write_runbook(tmp_path, "version: 1\nname: quiet\ntitle: Quiet\nsteps:\n" + steps,
                         name)


def _shell_steps(n: int) -> str:
    return "".join(f"  - id: s{i}\n    shell: 'true'\n" for i in range(n))


def _trail(store: Any, run_id: str) -> list[tuple[str, str]]:
    return [(e["kind"], str(e["data"].get("step_id", ""))) for e in store.events(run_id)]


def test_the_trail_says_every_step_started_and_ended_in_order(stores: Stores,
                                                               tmp_path: Path) -> None:
    out = Runner(store=stores.open()).run(_book(tmp_path, _shell_steps(3)))
    assert out.status == "succeeded"
    reader = stores.open()  # another process's view of the store
    trail = _trail(reader, out.result.run_id)
    steps = [t for t in trail if t[0] in ("step_started", "step_ended")]
    assert steps == [(kind, f"s{i}") for i in range(3) for kind in ("step_started",
                                                                     "step_ended")]
    assert trail[0][0] == "run_started" and trail[-1][0] == "run_ended"
    assert verify_chain(reader, out.result.run_id).ok
    # what the sink showed is what the trail keeps, in the same order
    shown = [(e.kind, str(e.data.get("step_id", ""))) for e in out.sink.events
             if e.kind in ("step_started", "step_ended")]
    assert shown == steps


@pytest.mark.parametrize(("body", "per_step"), [
    ("sql: SELECT 1", 2),  # running (with step_started), outcome (with step_ended)
    ("shell: 'true'", 3),  # and the process group, recorded as soon as it exists
])
def test_the_commits_a_step_costs_in_a_sqlite_store(tmp_path: Path, request: pytest.FixtureRequest,
                                                     body: str, per_step: int) -> None:
    connections = ""
    if body.startswith("sql"):
        connections = f"connections:\n  db:\n    postgres: {request.getfixturevalue('pg_url')}\n"
    stores = Stores("sqlite", tmp_path, "")
    try:
        commits = []
        for n in (2, 6):
            store = stores.open()
            statements: list[str] = []
            store._conn.set_trace_callback(statements.append)
            steps = "".join(f"  - id: s{i}\n    {body}\n" for i in range(n))
            book = write_runbook(tmp_path, "version: 1\nname: quiet\ntitle: Quiet\n"
                                 f"{connections}steps:\n{steps}", f"rb{n}.yaml")
            out = Runner(store=store).run(book)
            assert out.status == "succeeded"
            commits.append(sum(s.strip().upper() == "COMMIT" for s in statements))
        assert (commits[1] - commits[0]) / 4 == per_step  # four steps more
    finally:
        stores.cleanup()


def test_a_danger_step_s_event_is_in_the_trail_while_it_asks(stores: Stores,
                                                             tmp_path: Path) -> None:
    """Whoever watches the run (another terminal, the web console) sees what is being asked
    about while it is asked: an event that waits for a person is written at once."""
    book = _book(tmp_path, "  - id: first\n    shell: 'true'\n"
                           "  - id: drop\n    danger: true\n    shell: 'true'\n")
    reader = stores.open()
    seen: list[list[tuple[str, str]]] = []
    runner = Runner(store=stores.open())

    class Watching(ScriptedPrompter):
        def confirm(self, question: str, *, default: bool = False, detail: str = "") -> bool:
            run_id = runner.store.list_runs(limit=1)[0].id
            seen.append(_trail(reader, run_id))
            return super().confirm(question, default=default, detail=detail)

    out = runner.run(book, prompter=Watching(confirms=[True]))
    assert out.status == "succeeded"
    assert seen and seen[0][-1] == ("step_started", "drop")
    assert ("step_ended", "first") in seen[0]


def test_a_signal_before_the_running_record_still_leaves_the_event_in_the_trail(
        stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A signal between showing a quiet step and recording it `running` (here: as the store
    is about to write that record): the trail keeps the step_started it showed, before the
    step_ended that says it did not start, and still verifies. The step is recorded not
    started, so a resume runs it without asking whether it took effect."""
    store = stores.open()
    real = store.step_started

    def interrupted(run_id: str, key: str, **kwargs: Any) -> None:
        if key == "second":
            raise KeyboardInterrupt
        real(run_id, key, **kwargs)

    monkeypatch.setattr(store, "step_started", interrupted)
    marker = tmp_path / "second.ran"
    book = _book(tmp_path, "  - id: first\n    shell: 'true'\n"
                           f"  - id: second\n    shell: 'echo x >> {marker}'\n")
    runner = Runner(store=store)
    out = runner.run(book)
    assert out.status == "interrupted"
    assert "before step 'second', which did not start" in str(out.engine.error)
    trail = _trail(stores.open(), out.result.run_id)
    at = trail.index(("step_started", "second"))
    assert ("step_ended", "second") in trail[at + 1:]
    assert verify_chain(runner.store, out.result.run_id).ok
    assert out.step("second").status.value == "pending"
    assert not marker.exists()

    monkeypatch.setattr(store, "step_started", real)
    again = runner.resume(book, out.result.run_id)
    assert again.status == "succeeded"
    assert not again.prompter.asked  # nothing to settle: it never started
    assert marker.read_text() == "x\n"


@pytest.mark.parametrize("claimed", ["another masker", "no masker"])
def test_an_event_said_to_be_masked_by_another_masker_is_masked_by_the_store(
        stores: Stores, claimed: str) -> None:
    """A store skips masking only the output of its own masker (the engine's, a moment
    before); an event claimed masked by any other masker, or by none, is masked as ever."""
    secret = "hunter2-is-the-password"
    store = stores.open(masker=Masker([secret]))
    run = run_record()
    store.create_run(run)
    data = {"step_id": "s", "body": f"echo {secret}", "nested": {"list": [secret]}}
    by = Masker() if claimed == "another masker" else None
    store.step_started(run.id, "s", attempt=1, host="h", pid=1,
                       events=(Appended("step_started", data, "op", "h", by),))
    text = str(stores.open(masker=Masker()).events(run.id))
    assert secret not in text and "***" in text


@pytest.mark.parametrize("claimed", ["another masker", "no masker"])
def test_an_outcome_said_to_be_masked_by_another_masker_is_masked_by_the_store(
        stores: Stores, claimed: str) -> None:
    """The same for a step's ledger record: a store trusts `masked_by` only when it names
    the store's own masker, and masks a result, outputs and error claimed masked by any
    other (or by none) before they are written."""
    from vvrun.results import Status, StepResult

    secret = "hunter2-is-the-password"
    store = stores.open(masker=Masker([secret]))
    run = run_record()
    store.create_run(run)
    store.step_started(run.id, "s", attempt=1, host="h", pid=1)
    rec = StepResult("s", Status.SUCCEEDED, {"rows": [{"pw": secret}]}, {"token": secret},
                     f"said {secret}", 1, 1.0, 2.0)
    by = Masker() if claimed == "another masker" else None
    store.step_finished(run.id, "s", rec, masked_by=by)
    read = stores.open(masker=Masker()).step_results(run.id)["s"]
    assert read.status is Status.SUCCEEDED
    text = f"{read.result} {read.outputs} {read.error}"
    assert secret not in text and text.count("***") == 3


def test_an_outcome_masked_by_the_stores_own_masker_is_written_as_given(
        stores: Stores) -> None:
    """What the engine hands over masked with the store's own masker is written unchanged
    (not walked again), and reads back equal, across handles."""
    from vvrun.results import Status, StepResult

    masker = Masker(["hunter2-is-the-password"])
    store = stores.open(masker=masker)
    run = run_record()
    store.create_run(run)
    store.step_started(run.id, "s", attempt=1, host="h", pid=1)
    result = masker.mask_obj({"rows": [{"n": 1, "pw": "hunter2-is-the-password"}]})
    rec = StepResult("s", Status.SUCCEEDED, result, {}, None, 1, 1.0, 2.0)
    store.step_finished(run.id, "s", rec, masked_by=masker)
    read = stores.open(masker=Masker()).step_results(run.id)["s"]
    assert read.result == {"rows": [{"n": 1, "pw": "***"}]}
