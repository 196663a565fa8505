"""The plan file binds a reviewed plan to its runbook, inputs and vvrun; `--base` reviews
a change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_plan import BASIC, vv, write

from vvrun.errors import UsageError
from vvrun.language.inputs import resolve_inputs
from vvrun.language.pipeline import load_runbook
from vvrun.plan import verify_plan_file


def make_plan_file(tmp_path: Path, runbook: str, *args: str) -> str:
    result = vv("plan", "--format", "json", runbook, *args)
    assert result.exception is None, result.exception
    path = tmp_path / "plan.json"
    path.write_text(result.stdout)
    return str(path)


def inputs_for(runbook_path: str, **given: str) -> dict:
    return resolve_inputs(load_runbook(runbook_path), given, {"DATABASE_URL": "postgresql://x"})


def test_an_unchanged_runbook_with_the_same_inputs_passes(tmp_path: Path) -> None:
    rb = write(tmp_path, "basic.yaml", BASIC)
    plan = make_plan_file(tmp_path, rb, "--var", "email=a@b.c")
    verify_plan_file(plan, load_runbook(rb), inputs_for(rb, email="a@b.c"))


def test_an_edited_step_is_refused_naming_the_step(tmp_path: Path) -> None:
    rb = write(tmp_path, "basic.yaml", BASIC)
    plan = make_plan_file(tmp_path, rb, "--var", "email=a@b.c")
    Path(rb).write_text(Path(rb).read_text().replace("LIMIT {{ inputs.limit }}", "LIMIT 1000"))
    with pytest.raises(UsageError) as info:
        verify_plan_file(plan, load_runbook(rb), inputs_for(rb, email="a@b.c"))
    msg = info.value.message
    assert "no longer matches the reviewed plan" in msg
    assert "the runbook was edited since the plan was made: step 'find' changed" in msg
    assert "make a new plan" in info.value.hint
    assert str(info.value.where) == plan


def test_added_and_removed_steps_are_named(tmp_path: Path) -> None:
    rb = write(tmp_path, "basic.yaml", BASIC)
    plan = make_plan_file(tmp_path, rb, "--var", "email=a@b.c")
    text = Path(rb).read_text().replace("  - id: ping\n", "  - id: pong\n")
    Path(rb).write_text(text)
    with pytest.raises(UsageError) as info:
        verify_plan_file(plan, load_runbook(rb), inputs_for(rb, email="a@b.c"))
    assert "step 'pong' was added, step 'ping' was removed" in info.value.message


def test_an_edit_outside_the_steps_is_refused_too(tmp_path: Path) -> None:
    rb = write(tmp_path, "basic.yaml", BASIC)
    plan = make_plan_file(tmp_path, rb, "--var", "email=a@b.c")
    Path(rb).write_text(Path(rb).read_text() + "# a comment\n")  # the file, not BASIC
    with pytest.raises(UsageError) as info:
        verify_plan_file(plan, load_runbook(rb), inputs_for(rb, email="a@b.c"))
    assert "outside its steps" in info.value.message


def test_a_different_input_is_refused_naming_it(tmp_path: Path) -> None:
    rb = write(tmp_path, "basic.yaml", BASIC)
    plan = make_plan_file(tmp_path, rb, "--var", "email=a@b.c")
    with pytest.raises(UsageError) as info:
        verify_plan_file(plan, load_runbook(rb), inputs_for(rb, email="b@b.c", mode="hard"))
    msg = info.value.message
    assert "input 'email' is \"b@b.c\" now but was \"a@b.c\" in the plan" in msg
    assert "input 'mode' is \"hard\" now but was \"soft\" in the plan" in msg


def test_an_input_the_plan_did_not_know_is_refused(tmp_path: Path) -> None:
    rb = write(tmp_path, "basic.yaml", BASIC)
    plan = make_plan_file(tmp_path, rb)  # no email: the plan showed ⟨inputs.email⟩
    with pytest.raises(UsageError) as info:
        verify_plan_file(plan, load_runbook(rb), inputs_for(rb, email="a@b.c"))
    assert "input 'email' had no value when the plan was made (it showed ⟨inputs.email⟩)" in (
        info.value.message)


def test_secrets_are_never_compared(tmp_path: Path) -> None:
    rb = write(tmp_path, "basic.yaml", BASIC)
    plan = make_plan_file(tmp_path, rb, "--var", "email=a@b.c")
    inputs = inputs_for(rb, email="a@b.c")
    inputs["database_url"] = "postgresql://another"
    verify_plan_file(plan, load_runbook(rb), inputs)


def test_another_vvrun_version_is_refused(tmp_path: Path) -> None:
    rb = write(tmp_path, "basic.yaml", BASIC)
    plan = make_plan_file(tmp_path, rb, "--var", "email=a@b.c")
    doc = json.loads(Path(plan).read_text())
    doc["vvrun_version"] = "0.0.1"
    Path(plan).write_text(json.dumps(doc))
    with pytest.raises(UsageError) as info:
        verify_plan_file(plan, load_runbook(rb), inputs_for(rb, email="a@b.c"))
    assert "it was made by vvrun 0.0.1, and this is vvrun" in info.value.message


def test_a_plan_for_another_runbook_is_refused(tmp_path: Path) -> None:
    rb = write(tmp_path, "basic.yaml", BASIC)
    other = write(tmp_path, "other.yaml", BASIC.replace("name: basic", "name: other"))
    plan = make_plan_file(tmp_path, other, "--var", "email=a@b.c")
    with pytest.raises(UsageError) as info:
        verify_plan_file(plan, load_runbook(rb), inputs_for(rb, email="a@b.c"))
    assert info.value.message == "the plan file has no plan for runbook 'basic' (it has: other)"


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read the plan file: No such file or directory"),
    ("{not json", "the plan file is not JSON"),
    ('{"format": "something else"}', "this is not a vvrun plan file"),
])
def test_a_file_that_is_not_a_plan_is_refused(tmp_path: Path, content: str | None,
                                              message: str) -> None:
    rb = write(tmp_path, "basic.yaml", BASIC)
    plan = tmp_path / "plan.json"
    if content is not None:
        plan.write_text(content)
    with pytest.raises(UsageError) as info:
        verify_plan_file(str(plan), load_runbook(rb), {})
    assert info.value.message.startswith(message)
    assert "vvrun plan RUNBOOK --format json" in info.value.hint


# -- --base: reviewing a change ---------------------------------------------------------------


def test_base_shows_added_removed_and_changed_steps(tmp_path: Path) -> None:
    old = write(tmp_path, "old.yaml", BASIC)
    new_text = (BASIC.replace("LIMIT {{ inputs.limit }}", "LIMIT 1")
                .replace("      - id: ping\n"
                         "        http: GET /users/{{ inputs.email }}?run={{ run.id }}\n", "")
                + "      - id: audit\n        sql: INSERT INTO audit_logs(action) VALUES ('x')\n")
    new = write(tmp_path, "new.yaml", new_text)
    result = vv("plan", "--base", old, new, "--var", "email=a@b.c")
    out = result.stdout
    assert f"Changes: {old} → {new}" in out
    assert "  + added   8. audit: INSERT INTO audit_logs(action) VALUES ('x')" in out
    assert "  - removed ping: GET https://api.example.com/users/a%40b.c?run=⟨run.id⟩" in out
    assert "  ~ changed 1. find: Find the user a@b.c" in out
    assert "-     SELECT id FROM users WHERE email = $1 LIMIT $2" in out
    assert "+     SELECT id FROM users WHERE email = $1 LIMIT 1" in out
    assert "-     $2 = 10" in out
    assert "Plan: basic — Basic" in out  # then the whole new plan

    md = vv("plan", "--format", "markdown", "--base", old, new, "--var", "email=a@b.c").stdout
    assert "- **added** step 8. `audit`" in md
    assert "- **removed** step `ping`" in md
    assert "```diff\n--- find (before)\n+++ find (after)" in md

    doc = json.loads(vv("plan", "--format", "json", "--base", old, new,
                        "--var", "email=a@b.c").stdout)
    changes = doc["runbooks"][0]["changes"]
    assert changes["added"] == ["audit"] and changes["removed"] == ["ping"]
    assert changes["changed"] == ["find"]


def test_base_with_no_change_says_so(tmp_path: Path) -> None:
    old = write(tmp_path, "old.yaml", BASIC)
    new = write(tmp_path, "new.yaml", BASIC + "    # only a comment\n")
    out = vv("plan", "--base", old, new, "--var", "email=a@b.c").stdout
    assert "no change in what the runbook does" in out


def test_base_reports_changed_inputs_and_locks(tmp_path: Path) -> None:
    old = write(tmp_path, "old.yaml", BASIC)
    new = write(tmp_path, "new.yaml", BASIC.replace("default: 10", "default: 50")
                .replace('locks: ["users:{{ inputs.mode }}"]', "locks: []"))
    out = vv("plan", "--base", old, new, "--var", "email=a@b.c").stdout
    assert "  input limit: 10 (default) → 50 (default)" in out
    assert "  locks: basic, users:soft → basic" in out


# -- through `vvrun run --plan` ----------------------------------------------------------------

SMALL = """
    version: 1
    name: small
    title: Small
    inputs:
      who: {type: string, default: ops}
    steps:
      - id: hello
        shell: echo hello {{ inputs.who }}
"""


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VVRUN_STATE": "memory", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "vvrun", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_run_with_the_reviewed_plan_runs_it(tmp_path: Path) -> None:
    rb = write(tmp_path, "small.yaml", SMALL)
    plan = make_plan_file(tmp_path, rb, "--var", "who=ann")
    proc = _run("run", rb, "--plan", plan, "--var", "who=ann", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "hello ann" in proc.stdout


@pytest.mark.parametrize(("change", "message"), [
    ("edit", "the runbook was edited since the plan was made: step 'hello' changed"),
    ("input", "input 'who' is \"bob\" now but was \"ann\" in the plan"),
    ("version", "it was made by vvrun 0.0.1, and this is vvrun"),
])
def test_run_with_a_plan_refuses_after_a_change(tmp_path: Path, change: str,
                                                message: str) -> None:
    rb = write(tmp_path, "small.yaml", SMALL)
    plan = make_plan_file(tmp_path, rb, "--var", "who=ann")
    who = "ann"
    if change == "edit":
        Path(rb).write_text(Path(rb).read_text().replace("echo hello", "echo goodbye"))
    elif change == "input":
        who = "bob"
    else:
        doc = json.loads(Path(plan).read_text())
        doc["vvrun_version"] = "0.0.1"
        Path(plan).write_text(json.dumps(doc))
    proc = _run("run", rb, "--plan", plan, "--var", f"who={who}", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "no longer matches the reviewed plan" in proc.stderr
    assert "hello" not in proc.stdout and "goodbye" not in proc.stdout
