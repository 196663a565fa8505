"""The engine end to end, with real bash (and PostgreSQL / Redis where a step needs them)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import ScriptedPrompter
from tests.test_engine_support import Runner, write_runbook


def test_steps_run_in_order_and_see_each_other(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: order
        title: Order
        inputs:
          who: {type: string, default: world}
        steps:
          - id: one
            shell: echo hello {{ inputs.who }}
            outputs:
              greeting: result.stdout
          - id: two
            shell: echo "got:" {{ steps.one.outputs.greeting }} {{ run.operator }}
            expect: "'got: hello world alice@test' in result.stdout"
    """)
    out = Runner().run(rb)
    assert out.status == "succeeded", out.result.error
    assert out.result.exit_code == 0
    assert out.step("two").result["stdout"] == "got: hello world alice@test"
    assert [e["step_id"] for e in out.events("step_started")] == ["one", "two"]
    kinds = [e["kind"] for e in out.audit()]
    assert kinds[0] == "run_started" and kinds[-1] == "run_ended"
    assert out.store.runs[out.result.run_id].status == "succeeded"
    assert out.store.locks == {}  # released at the end


def test_when_false_skips_and_status_is_visible(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: when
        title: When
        steps:
          - id: count
            shell: echo 0
            outputs: {n: "result.stdout | int"}
          - id: kill
            when: steps.count.outputs.n > 0
            shell: echo never
          - id: after
            shell: echo {{ steps.kill.status }}
    """)
    out = Runner().run(rb)
    assert out.status == "succeeded"
    assert out.step("kill").status.value == "skipped"
    assert out.step("after").result["stdout"] == "skipped"
    assert out.events("step_skipped")[0]["reason"] == "when `steps.count.outputs.n > 0` is false"


def test_expect_failure_shows_the_expression_and_values(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: expect
        title: Expect
        inputs:
          limit: {type: integer, default: 2}
        steps:
          - id: check
            shell: echo 3
            expect:
              - result.exit_code == 0
              - result.stdout | int <= inputs.limit
          - id: never
            shell: echo never
    """)
    out = Runner().run(rb)
    assert out.status == "failed" and out.result.exit_code == 1
    err = out.step("check").error
    assert err == ("expect `result.stdout | int <= inputs.limit` was false: "
                   "result.stdout = '3', inputs.limit = 2")
    assert "never" not in out.store.step_results(out.result.run_id)
    assert out.engine.error is not None and "rb.yaml:7:5: step 'check'" in str(out.engine.error)


def test_retry_until_polls_with_backoff(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    rb = write_runbook(tmp_path, f"""
        version: 1
        name: poll
        title: Poll
        steps:
          - id: poll
            shell: echo x >> {counter}; wc -l < {counter}
            retry: {{attempts: 5, delay: 1s, backoff: 2, until: "result.stdout | int >= 3"}}
    """)
    slept: list[float] = []
    out = Runner().run(rb, sleep=slept.append)
    assert out.status == "succeeded"
    assert out.step("poll").attempts == 3
    assert slept == [1.0, 2.0]
    assert [e["attempt"] for e in out.events("step_retry")] == [2, 3]


def test_retry_until_gives_up_with_the_values(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: poll
        title: Poll
        steps:
          - id: poll
            shell: echo 1
            retry: {attempts: 2, delay: 0s, until: "result.stdout == '2'"}
    """)
    out = Runner().run(rb)
    assert out.status == "failed"
    assert out.step("poll").error == ("retry.until `result.stdout == '2'` is still false: "
                                      "result.stdout = '1' (after 2 attempts)")
    assert out.step("poll").attempts == 2


def test_retry_reruns_a_failing_command(tmp_path: Path) -> None:
    marker = tmp_path / "m"
    rb = write_runbook(tmp_path, f"""
        version: 1
        name: flaky
        title: Flaky
        steps:
          - id: flaky
            shell: test -e {marker} || {{ touch {marker}; exit 1; }}
            retry: {{attempts: 2, delay: 0s}}
    """)
    out = Runner().run(rb)
    assert out.status == "succeeded" and out.step("flaky").attempts == 2


def test_timeout_stops_the_step(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: slow
        title: Slow
        defaults: {timeout: 300ms}
        steps:
          - id: slow
            shell: sleep 30
    """)
    out = Runner().run(rb)
    assert out.status == "failed"
    assert "still running after 0.3s" in out.step("slow").error


def test_on_failure_continue_and_jump(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: fail
        title: Fail
        steps:
          - id: soft
            shell: exit 3
            on_failure: continue
          - id: hard
            shell: exit 4
            on_failure: rollback
          - id: skipped_by_jump
            shell: echo no
          - id: rollback
            shell: echo rolling back after {{ steps.hard.status }} {{ steps.soft.result.exit_code }}
    """)
    out = Runner().run(rb)
    assert out.status == "failed" and out.result.exit_code == 1
    assert out.step("soft").status.value == "failed"
    assert out.step("skipped_by_jump").status.value == "skipped"
    assert out.step("rollback").result["stdout"] == "rolling back after failed 3"


def test_on_failure_continue_goes_on_and_ends_with_failures(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: soft
        title: Soft
        steps:
          - id: soft
            shell: exit 3
            on_failure: continue
          - id: next
            shell: echo ok
    """)
    out = Runner().run(rb)
    assert out.status == "completed_with_failures" and out.result.exit_code == 6
    assert out.step("next").status.value == "succeeded"


def test_from_tags_and_skip_tags(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: sel
        title: Sel
        steps:
          - {id: a, shell: echo a, tags: [x]}
          - {id: b, shell: echo b, tags: [y]}
          - {id: c, shell: echo c, tags: [x, z]}
    """)
    ran = lambda out: [e["step_id"] for e in out.events("step_started")]  # noqa: E731
    assert ran(Runner().run(rb, from_step="b")) == ["b", "c"]
    assert ran(Runner().run(rb, tags=("x",))) == ["a", "c"]
    assert ran(Runner().run(rb, skip_tags=("z",))) == ["a", "b"]


def test_for_each_runs_per_item_with_loop_and_expect(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: loop
        title: Loop
        inputs:
          hosts: {type: list, default: [a, b, c]}
        steps:
          - id: each
            for_each: inputs.hosts
            shell: echo {{ loop.index }}-{{ item }}
            expect: result.exit_code == 0
            outputs: {all: "result['items'] | map(attribute='stdout') | join(',')"}
    """)
    out = Runner().run(rb)
    assert out.status == "succeeded", out.result.error
    assert out.step("each").outputs["all"] == "1-a,2-b,3-c"
    assert out.step("each[1]").result["stdout"] == "2-b"


def test_for_each_on_a_non_list_fails_clearly(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: loop
        title: Loop
        steps:
          - id: each
            for_each: "5 + 0"
            shell: echo {{ item }}
    """)  # a constant `5` is a validate error now; an expression reaches the run's own check
    out = Runner().run(rb)
    assert out.status == "failed"
    assert out.step("each").error == "for_each `5 + 0` gave int, not a list"


def test_danger_with_yes_is_audited_and_without_terminal_pauses(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: danger
        title: Danger
        steps:
          - id: drop
            danger: true
            shell: echo dropped
    """)
    runner = Runner()
    paused = runner.run(rb)
    assert paused.status == "paused" and paused.result.exit_code == 3
    assert paused.step("drop").status.value == "paused"
    assert "resume" in (paused.engine.error.hint or "")
    # the paused run keeps its lock: a new run is refused, the resume goes on
    from vvrun.errors import LockHeld

    with pytest.raises(LockHeld):
        runner.run(rb, yes=True)
    yes = runner.resume(rb, paused.result.run_id, yes=True)
    assert yes.status == "succeeded"
    (confirmed,) = yes.audit("confirmed")
    assert confirmed["data"]["via"] == "--yes" and confirmed["data"]["by"] == "alice@test"
    assert len(confirmed["data"]["action_hash"]) == 64


def test_danger_no_aborts_with_exit_4(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: danger
        title: Danger
        steps:
          - id: drop
            danger: true
            shell: echo dropped
    """)
    prompter = ScriptedPrompter(confirms=[False])
    out = Runner().run(rb, prompter=prompter)
    assert out.status == "aborted" and out.result.exit_code == 4
    assert "answered no to dangerous step 'drop'" in out.result.error
    assert "dropped" not in str(out.events("step_output"))
    yes = Runner().run(rb, prompter=ScriptedPrompter(confirms=[True]))
    assert yes.status == "succeeded"
    assert yes.audit("confirmed")[0]["data"]["via"] == "prompt"


def test_confirm_steps_yes_word_and_on_no(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: conf
        title: Conf
        steps:
          - id: sure
            confirm: Go on?
          - id: word
            confirm: {prompt: Really?, type_to_confirm: conf-word}
          - id: maybe
            confirm: {prompt: Optional?, on_no: continue}
          - id: after
            shell: echo {{ steps.maybe.result.confirmed }}
    """)
    # --yes alone does not answer a type_to_confirm step: no terminal -> paused
    out = Runner().run(rb, yes=True)
    assert out.status == "paused" and out.step("sure").result == {"confirmed": True}
    # the wrong word is refused before anything runs
    bad = Runner().run(rb, yes=True, confirm_word="nope")
    assert bad.result.exit_code == 2 and "--confirm-word 'nope' is not the word" in bad.result.error
    ok = Runner().run(rb, yes=True, confirm_word="conf-word")
    assert ok.status == "succeeded"
    assert ok.step("after").result["stdout"] == "True"
    # at a terminal: yes, the word, then a no that continues
    asked = Runner().run(rb, prompter=ScriptedPrompter(confirms=[True, False],
                                                       words=["conf-word"]))
    assert asked.status == "succeeded"
    assert asked.step("after").result["stdout"] == "False"


def test_secret_canary_never_leaves(tmp_path: Path) -> None:
    from vvrun.secrets import Masker

    canary = "canary-Zq9-s3cr3t"
    rb = write_runbook(tmp_path, """
        version: 1
        name: secret
        title: Secret
        inputs:
          token: {type: string, secret: true}
        steps:
          - id: use
            shell:
              run: tr '\\0' ' ' < /proc/$$/cmdline; echo; echo {{ inputs.token }} "$TOK" | base64
              env: {TOK: "{{ inputs.token }}"}
            outputs: {t: "inputs.token"}
          - id: fail
            shell: echo {{ inputs.token }} >&2; exit 1
    """)
    masker = Masker()
    out = Runner().run(rb, {"token": canary}, masker=masker)
    assert out.status == "failed"
    dump = repr(out.sink.events) + repr(out.store.runs) + repr(out.store.ledger) + repr(
        out.store.events(out.result.run_id)) + str(out.result)
    assert canary not in dump
    assert "***" in dump
    # the command line never held the secret: it came through the environment
    assert "VVRUN_SECRET_TOKEN" in out.step("use").result["stdout"]
    assert out.store.runs[out.result.run_id].inputs == {}


class _SlowToAnswer(ScriptedPrompter):
    def confirm(self, question: str, *, default: bool = False, detail: str = "") -> bool:
        time.sleep(0.6)  # the operator reads the action before saying yes
        return super().confirm(question, default=default, detail=detail)


def test_a_danger_steps_duration_is_its_action_not_the_time_spent_asking(
    tmp_path: Path,
) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: slow-yes
        title: Slow yes
        steps:
          - id: act
            danger: true
            shell: "true"
    """)
    out = Runner().run(rb, prompter=_SlowToAnswer(confirms=[True]))
    step = out.step("act")
    assert step.status == "succeeded"
    assert step.duration is not None and step.duration < 0.5
