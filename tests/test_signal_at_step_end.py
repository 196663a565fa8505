"""A signal that lands just as a step finishes: the step did its work and its result is known,
so it is recorded done (a resume need not ask whether it ran), and the run stops before the next
step. The signal reaches the main thread while the step's worker is still returning."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_engine_support import Runner, write_runbook
from vvrun.engine.worker import Renewer, run_in_worker
from vvrun.errors import Interrupted


@pytest.fixture
def late_sigterm() -> Iterator[threading.Event]:
    """SIGUSR1 stands in for a SIGTERM to the run (the handler raises what vvrun's own raises),
    so the test runner's own signals stay untouched. Set when the handler has run."""
    handled = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        handled.set()
        raise Interrupted(signal.SIGTERM)

    before = signal.signal(signal.SIGUSR1, handler)
    try:
        yield handled
    finally:
        signal.signal(signal.SIGUSR1, before)


def _finishes_while_signalled(handled: threading.Event) -> str:
    os.kill(os.getpid(), signal.SIGUSR1)
    assert handled.wait(10), "the main thread never got the signal"
    return "done"  # the work is over: the signal came too late to stop it


def test_the_worker_hands_over_a_result_that_came_with_a_signal(
        late_sigterm: threading.Event) -> None:
    kept: list[KeyboardInterrupt] = []
    value = run_in_worker(lambda: _finishes_while_signalled(late_sigterm), threading.Event(),
                          Renewer(lambda: None, 60), defer=kept.append)
    assert value == "done" and len(kept) == 1 and isinstance(kept[0], Interrupted)


def test_without_defer_the_signal_wins(late_sigterm: threading.Event) -> None:
    with pytest.raises(Interrupted):
        run_in_worker(lambda: _finishes_while_signalled(late_sigterm), threading.Event(),
                      Renewer(lambda: None, 60))


def test_the_step_is_recorded_done_and_the_next_one_never_starts(
        tmp_path: Path, late_sigterm: threading.Event, monkeypatch: pytest.MonkeyPatch) -> None:
    import vvrun.steps.shell as shell

    real = shell.execute

    def execute(action: Any, io: Any) -> dict[str, Any]:
        result = real(action, io)  # the command really runs, and has finished
        if "first" in action.command:
            _finishes_while_signalled(late_sigterm)
        return result

    monkeypatch.setattr(shell, "execute", execute)
    rb = write_runbook(tmp_path, f"""
        version: 1
        name: late
        title: Late
        steps:
          - id: one
            shell: echo first > {tmp_path}/one
          - id: two
            shell: echo second > {tmp_path}/two
    """)
    out = Runner().run(rb)
    assert out.status == "interrupted"
    assert out.result.exit_code == 143
    assert out.step("one").status.value == "succeeded"
    assert (tmp_path / "one").exists() and not (tmp_path / "two").exists()
    assert "two" not in out.store.step_results(out.result.run_id)
