"""The engine end to end, with real bash (and PostgreSQL / Redis where a step needs them)."""

from __future__ import annotations

from pathlib import Path

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
