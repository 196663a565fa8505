"""The `shell` step with real bash and real processes."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.helpers import ListConsole, run_step
from vvrun.errors import Cancelled, Location, StepFailed, StepTimeout
from vvrun.language.templates import Templater
from vvrun.steps import shell

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
WHERE = Location("test.yaml", 1, 1, "t")


def ctx(**inputs: object) -> dict[str, object]:
    return {"inputs": inputs, "env": {}, "steps": {}}


def test_result_fields_and_live_lines() -> None:
    console = ListConsole()
    result = run_step("shell", "echo one; echo two >&2; echo three", env=ENV, console=console)
    assert result["exit_code"] == 0
    assert result["stdout"] == "one\nthree"
    assert result["stderr"] == "two"
    assert result["pid"] > 0
    assert ("stdout", "one") in console.lines and ("stderr", "two") in console.lines
    assert [t for s, t in console.lines if s == "stdout"] == ["one", "three"]


def test_pipefail_is_on() -> None:
    with pytest.raises(StepFailed, match="command exited with 3"):
        run_step("shell", "(exit 3) | cat", env=ENV)


def test_errexit_is_on_so_a_failing_middle_line_fails_the_step() -> None:
    with pytest.raises(StepFailed, match="command exited with 1"):
        run_step("shell", "false\necho after", env=ENV)
    assert run_step("shell", "set +e\nfalse\necho after", env=ENV)["stdout"] == "after"


def test_bash_string_length_is_not_a_template_comment() -> None:
    result = run_step("shell", 'V=abcd; echo "${#V} {{ inputs.x }}"',
                      context={"inputs": {"x": "y"}, "env": {}, "steps": {}}, env=ENV)
    assert result["stdout"] == "4 y"


def test_a_non_zero_exit_fails_with_the_code_and_last_stderr_lines() -> None:
    cmd = "for i in $(seq 1 30); do echo err$i >&2; done; exit 2"
    with pytest.raises(StepFailed) as info:
        run_step("shell", cmd, env=ENV)
    err = info.value
    assert type(err) is StepFailed
    assert err.message.startswith("command exited with 2 (ok: 0)\n  stderr:\n")
    assert "    err30" in err.message and "    err21" in err.message
    assert "err20\n" not in err.message
    assert "`ok_codes`" in (err.hint or "")
    assert err.where == WHERE
    assert err.result["exit_code"] == 2  # type: ignore[attr-defined]


def test_ok_codes() -> None:
    result = run_step("shell", {"run": "grep -q x /dev/null", "ok_codes": [0, 1]}, env=ENV)
    assert result["exit_code"] == 1


def test_env_cwd_and_secret_env(tmp_path: Path) -> None:
    body = {"run": 'echo "$GREETING $WHO"; pwd; echo "$VVRUN_SECRET_DB_PASSWORD"',
            "env": {"GREETING": "hello", "WHO": "{{ inputs.who }}"}, "cwd": str(tmp_path)}
    spec = shell.parse(body, WHERE)
    action = shell.render(spec, Templater(ctx(who="world; rm -rf /"), where=WHERE), {})
    from tests.helpers import ScriptedPrompter
    from vvrun.steps.base import Clients, StepIO

    io = StepIO(run_id="r", step_id="t", timeout=10, clients=Clients(), console=ListConsole(),
                prompter=ScriptedPrompter(), env=ENV,
                secret_env={"VVRUN_SECRET_DB_PASSWORD": "hunter22"}, where=WHERE)
    result = shell.execute(action, io)
    assert result["stdout"].splitlines() == ["hello world; rm -rf /", str(tmp_path), "hunter22"]
    assert "hunter22" not in action.command  # secrets reach the process by env, not argv


def test_secret_env_is_not_in_argv(tmp_path: Path) -> None:
    from tests.helpers import ScriptedPrompter
    from vvrun.steps.base import Clients, StepIO

    action = shell.ShellAction(command="cat /proc/$$/cmdline | tr '\\0' ' '")
    io = StepIO(run_id="r", step_id="t", timeout=10, clients=Clients(), console=ListConsole(),
                prompter=ScriptedPrompter(), env=ENV, secret_env={"VVRUN_SECRET_X": "canary-42"})
    result = shell.execute(action, io)
    assert "bash -e -o pipefail -c" in result["stdout"]
    assert "canary-42" not in result["stdout"]


def test_a_missing_cwd_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StepFailed, match=r"working directory '.*nope' does not exist"):
        run_step("shell", {"run": "true", "cwd": str(tmp_path / "nope")}, env=ENV)


@pytest.mark.parametrize("payload", [
    "$(touch {m})", "`touch {m}`", ";touch {m}", "x\ntouch {m}", "' ; touch {m}; '",
    "\"; touch {m}; \"", "&& touch {m}", "| touch {m}", "$'\\x41'; touch {m}"])
def test_injection_payloads_arrive_as_data(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "M"
    value = payload.format(m=marker)
    result = run_step("shell", "printf '%s' {{ inputs.v }}", env=ENV, context=ctx(v=value))
    assert result["stdout"] == value
    assert not marker.exists()


def test_an_option_like_value_is_one_argument(tmp_path: Path) -> None:
    (tmp_path / "keep").write_text("x")
    result = run_step("shell", {"run": "ls -- {{ inputs.v }} 2>&1 || true",
                                "cwd": str(tmp_path)}, env=ENV, context=ctx(v="-rf *"))
    assert "-rf *" in result["stdout"]
    assert (tmp_path / "keep").exists()


def test_a_list_value_becomes_several_quoted_words() -> None:
    result = run_step("shell", "printf '<%s>' {{ inputs.v }}", env=ENV,
                      context=ctx(v=["a b", "$(x)"]))
    assert result["stdout"] == "<a b><$(x)>"


def test_raw_opts_out_of_quoting() -> None:
    result = run_step("shell", "echo {{ inputs.v | raw }}", env=ENV, context=ctx(v="a; echo b"))
    assert result["stdout"] == "a\nb"


def _alive(pgid: int) -> dict[int, str]:
    return {pid: s for pid, s in shell.group_members(pgid).items() if s != "Z"}


def test_timeout_stops_the_whole_group_and_leaves_no_orphan(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    cmd = f"echo $$ > {pidfile}; sleep 1000 & sleep 1000 & (sleep 1000; echo) & wait"
    with pytest.raises(StepTimeout) as info:
        run_step("shell", cmd, env=ENV, timeout=0.5)
    assert "still running after 0.5s" in info.value.message
    assert "SIGTERM, then SIGKILL" in info.value.message
    assert "`timeout`" in (info.value.hint or "")
    assert _alive(int(pidfile.read_text())) == {}


def test_a_group_that_ignores_sigterm_gets_sigkill(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    cmd = f"trap '' TERM; echo $$ > {pidfile}; sleep 1000 & sleep 1000; wait"
    with pytest.raises(StepTimeout) as info:
        run_step("shell", cmd, env=ENV, timeout=0.5, grace=0.3)
    assert "SIGKILL" in info.value.message
    assert _alive(int(pidfile.read_text())) == {}


def test_cancel_stops_the_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    cancel = threading.Event()
    console = ListConsole()

    class Trigger(ListConsole):
        def line(self, text: str, *, stream: str = "stdout") -> None:
            console.line(text, stream=stream)
            if text == "ready":
                cancel.set()

    with pytest.raises(Cancelled, match="every process it started were stopped"):
        run_step("shell", f"echo $$ > {pidfile}; sleep 1000 & echo ready; wait", env=ENV,
                 cancel=cancel, console=Trigger(), timeout=None)
    assert _alive(int(pidfile.read_text())) == {}


def test_background_children_left_behind_are_stopped(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    console = ListConsole()
    result = run_step("shell", f"echo $$ > {pidfile}; sleep 1000 & echo done", env=ENV,
                      console=console)
    assert result["exit_code"] == 0 and result["stdout"] == "done"
    assert ("stderr", "vvrun: stopped background processes the command left behind") \
        in console.lines
    assert _alive(int(pidfile.read_text())) == {}


def test_output_is_capped_to_the_last_part() -> None:
    result = run_step("shell", "seq 1 50000", env=ENV, console=ListConsole())
    assert len(result["stdout"]) <= shell.OUTPUT_CAP + 40
    assert result["stdout"].startswith("[… earlier output dropped …]\n")
    assert result["stdout"].endswith("\n50000")


def test_killed_by_a_signal_reports_128_plus_n() -> None:
    with pytest.raises(StepFailed, match="command exited with 137"):
        run_step("shell", "kill -9 $$", env=ENV)


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    result = run_step("shell", "printf 'a\\xffb\\n'", env=ENV)
    assert result["stdout"] == "a\ufffdb"


def test_describe() -> None:
    spec = shell.parse({"run": "pg_dump {{ inputs.db }} > x.sql\necho ok",
                        "env": {"PGPASSWORD": "{{ inputs.pw }}", "MODE": "fast"},
                        "cwd": "/tmp", "ok_codes": [0, 2]}, WHERE)
    action = shell.render(spec, Templater(ctx(db="my db", pw="pw1"), where=WHERE), {})
    d = shell.describe(action)
    assert d.summary == "pg_dump 'my db' > x.sql …"
    assert d.body == "pg_dump 'my db' > x.sql\necho ok"
    assert d.language == "bash"
    assert d.notes == ("in /tmp", "env PGPASSWORD=***", "env MODE=fast", "ok exit codes: 0, 2")


def test_stdin_is_closed_so_a_prompting_command_cannot_hang() -> None:
    with pytest.raises(StepFailed, match="command exited with 1"):
        run_step("shell", "read answer", env=ENV)


def test_a_broken_display_does_not_hang_the_command() -> None:
    class Broken(ListConsole):
        def line(self, text: str, *, stream: str = "stdout") -> None:
            raise BrokenPipeError("display closed")

    result = run_step("shell", "seq 1 100000", env=ENV, console=Broken())
    assert result["stdout"].endswith("\n100000")
