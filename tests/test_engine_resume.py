"""Resume: never repeat a finished step or item, never re-ask an answered question, decide
about steps left in flight, and the four-eyes rule."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from tests.helpers import ScriptedPrompter
from tests.test_engine_support import Runner, write_runbook
from vvrun.errors import Paused
from vvrun.results import Status


def _count(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_resume_never_repeats_succeeded_steps_or_items(tmp_path: Path) -> None:
    log, gate = tmp_path / "log", tmp_path / "gate"
    rb = write_runbook(tmp_path, f"""
        version: 1
        name: items
        title: Items
        steps:
          - id: first
            shell: echo first >> {log}
          - id: each
            for_each: "[1, 2, 3]"
            shell: "test {{{{ item }}}} != 2 -o -e {gate} && echo item{{{{ item }}}} >> {log}"
    """)
    runner = Runner()
    out = runner.run(rb)
    assert out.status == "failed"
    assert log.read_text().split() == ["first", "item1"]
    gate.touch()
    again = runner.resume(rb, out.result.run_id)
    assert again.status == "succeeded", again.result.error
    assert log.read_text().split() == ["first", "item1", "item2", "item3"]
    assert [r["stdout"] for r in again.step("each").result["items"]] == ["", "", ""]


def _crash_at(runner: Runner, run_id: str, key: str) -> None:
    """What a SIGKILL mid-step leaves behind: the step recorded running, the run not ended."""
    runner.store.step_started(run_id, key, attempt=1, host="testhost", pid=999999)
    runner.store.update_run(run_id, status="interrupted")


def _subdir(tmp_path: Path, name: str) -> Path:
    (tmp_path / name).mkdir()
    return tmp_path / name


def _paused_run(tmp_path: Path, *, idempotent: bool = False) -> tuple[Runner, Path, str, Path]:
    log = tmp_path / "log"
    rb = write_runbook(tmp_path, f"""
        version: 1
        name: inflight
        title: In flight
        steps:
          - id: effect
            idempotent: {str(idempotent).lower()}
            shell: echo effect >> {log}
          - id: gate
            confirm: Go on?
    """)
    runner = Runner()
    out = runner.run(rb)
    assert out.status == "paused"
    _crash_at(runner, out.result.run_id, "effect")
    return runner, rb, out.result.run_id, log


def test_uncertain_step_with_yes_alone_fails_clearly(tmp_path: Path) -> None:
    runner, rb, run_id, log = _paused_run(tmp_path)
    out = runner.resume(rb, run_id, yes=True)
    assert out.status == "failed" and out.result.exit_code == 1
    assert ("step 'effect' was in flight when the run stopped; vvrun cannot know whether it "
            "took effect") in out.result.error
    assert "--rerun effect" in out.result.error and "--mark-done effect" in out.result.error
    assert _count(log) == 1
    # the ledger still says in flight: the next resume asks again rather than re-running
    assert runner.store.step_results(run_id)["effect"].status in (Status.RUNNING,
                                                                   Status.UNCERTAIN)


def test_uncertain_step_rerun_mark_done_or_ask(tmp_path: Path) -> None:
    runner, rb, run_id, log = _paused_run(tmp_path)
    out = runner.resume(rb, run_id, yes=True, mark_done=("effect",))
    assert out.status == "succeeded" and _count(log) == 1
    assert out.audit("uncertain_settled")[0]["data"]["decision"] == "done"

    runner, rb, run_id, log = _paused_run(_subdir(tmp_path, "b"))
    out = runner.resume(rb, run_id, yes=True, rerun=("effect",))
    assert out.status == "succeeded" and _count(log) == 2

    runner, rb, run_id, log = _paused_run(_subdir(tmp_path, "c"))
    out = runner.resume(rb, run_id, prompter=ScriptedPrompter(confirms=[True, True]))
    assert out.status == "succeeded" and _count(log) == 2
    assert "was in flight" in out.prompter.asked[0]


def test_uncertain_idempotent_step_reruns_by_itself(tmp_path: Path) -> None:
    runner, rb, run_id, log = _paused_run(tmp_path, idempotent=True)
    out = runner.resume(rb, run_id, yes=True)
    assert out.status == "succeeded" and _count(log) == 2


def test_uncertain_without_terminal_pauses(tmp_path: Path) -> None:
    runner, rb, run_id, log = _paused_run(tmp_path)
    out = runner.resume(rb, run_id)
    assert out.status == "paused" and isinstance(out.engine.error, Paused)
    # pausing to ask must leave the step in flight: the next resume may not run it blind
    assert runner.store.step_results(run_id)["effect"].status in (Status.RUNNING,
                                                                   Status.UNCERTAIN)
    out = runner.resume(rb, run_id, yes=True)
    assert out.status == "failed" and "was in flight" in out.result.error
    assert _count(log) == 1


def test_an_answered_confirm_is_not_asked_again_unless_the_action_changed(
        tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: rebind
        title: Rebind
        steps:
          - id: drop
            danger: true
            shell: echo drop {{ env.TARGET }}
          - id: gate
            confirm: Finish?
    """)
    runner = Runner(environ={"TARGET": "one"})
    out = runner.run(rb, prompter=ScriptedPrompter(confirms=[True]))
    assert out.status == "paused"  # at `gate`
    # the danger step succeeded: the resume neither repeats nor re-asks it
    again = runner.resume(rb, out.result.run_id, prompter=ScriptedPrompter(confirms=[True]))
    assert again.status == "succeeded"
    assert again.prompter.asked == ["Finish?"]

    # a confirm answered, then a crash before the effect ended: same action -> not asked
    runner2 = Runner(environ={"TARGET": "one"})
    first = runner2.run(rb, prompter=ScriptedPrompter(confirms=[True]))
    _crash_at(runner2, first.result.run_id, "drop")
    runner2.store.ledger[first.result.run_id]["drop"] = dataclasses.replace(
        runner2.store.ledger[first.result.run_id]["drop"], status=Status.INTERRUPTED)
    ok = runner2.resume(rb, first.result.run_id, rerun=("drop",),
                        prompter=ScriptedPrompter(confirms=[True]))
    assert ok.prompter.asked == ["Finish?"]
    # ...but a different rendered action asks again
    runner2.environ["TARGET"] = "two"
    runner3 = Runner(environ={"TARGET": "two"}, store=runner2.store)
    third = runner3.run(rb, prompter=ScriptedPrompter(confirms=[True, True]))
    assert third.prompter.asked[0] == "Run dangerous step 'drop'?"


def test_two_approvers(tmp_path: Path) -> None:
    from tests.identity_keys import make_key, pub_text, write_signers
    from vvrun.engine.pending import records

    rb = write_runbook(tmp_path, """
        version: 1
        name: fourEyes
        title: Four eyes
        steps:
          - id: restore
            danger: true
            approvers: 2
            shell: echo restored
    """.replace("fourEyes", "four-eyes"))
    (tmp_path / ".git").mkdir()
    alice, bob = make_key(tmp_path, "alice"), make_key(tmp_path, "bob")
    write_signers(tmp_path / ".vvrun" / "allowed_signers",
                  f"alice@test {pub_text(alice)}", f"bob@test {pub_text(bob)}")
    runner = Runner(environ={"PATH": os.environ["PATH"]})
    out = runner.run(rb, yes=True, signing_key=str(alice))
    assert out.status == "paused"
    run_id = out.result.run_id
    assert str(out.engine.error).count(f"vvrun approve {run_id} restore") >= 1
    [mine] = out.audit("approval_signed")
    # a second row of alice's own signature, claimed by bob, does not make two people
    runner.store.append_event(run_id, "approval_signed", {**mine["data"], "by": "bob@test"},
                              operator="bob@test", host="h")
    assert runner.resume(rb, run_id, yes=True, signing_key=str(alice)).status == "paused"
    assert len(records(runner.store.events(run_id), "restore")) == 2
    done = runner.resume(rb, run_id, yes=True, signing_key=str(bob))
    assert done.status == "paused"  # resume does not sign for a second person: approve does
    assert "vvrun approve" in (done.engine.error.hint or "")


def test_manual_step_pauses_then_ack_completes_it(tmp_path: Path) -> None:
    from vvrun.ui.prompter import AckPrompter

    rb = write_runbook(tmp_path, """
        version: 1
        name: manual
        title: Manual
        steps:
          - id: escalate
            manual:
              instructions: Open a ticket.
              record: [ticket_url]
          - id: after
            shell: echo {{ steps.escalate.result.fields.ticket_url }}
    """)
    runner = Runner()
    out = runner.run(rb)
    assert out.status == "paused" and out.result.exit_code == 3
    ack = AckPrompter({"ticket_url": "https://t/1"}, step_id="escalate")
    done = runner.resume(rb, out.result.run_id, ack="escalate", ack_prompter=ack)
    assert done.status == "succeeded", done.result.error
    assert done.step("after").result["stdout"] == "https://t/1"
    (event,) = done.audit("acknowledged")
    assert event["data"]["via"] == "--ack" and event["data"]["fields"] == {
        "ticket_url": "https://t/1"}


def test_a_tolerated_failure_is_not_run_again_but_an_aborting_one_is(tmp_path: Path) -> None:
    log, gate = tmp_path / "log", tmp_path / "gate"
    rb = write_runbook(tmp_path, f"""
        version: 1
        name: tolerate
        title: Tolerate
        steps:
          - id: soft
            shell: echo soft >> {log}; exit 1
            on_failure: continue
          - id: hard
            shell: echo hard >> {log}; test -e {gate}
    """)
    runner = Runner()
    out = runner.run(rb)
    assert out.status == "failed"
    gate.touch()
    again = runner.resume(rb, out.result.run_id)
    assert again.status == "completed_with_failures"  # `soft` still failed, and is not re-run
    assert log.read_text().split() == ["soft", "hard", "hard"]


def test_lock_leases_are_renewed_during_a_long_step(tmp_path: Path) -> None:
    from vvrun.state.memory import MemoryStore

    class Counting(MemoryStore):
        renewals = 0

        def renew_locks(self, run_id: str) -> None:
            Counting.renewals += 1

    rb = write_runbook(tmp_path, """
        version: 1
        name: long
        title: Long
        steps:
          - id: long
            shell: sleep 2.5
    """)
    out = Runner(store=Counting()).run(rb, lock_ttl=3.0)  # renewed every second
    assert out.status == "succeeded"
    assert Counting.renewals >= 1
