"""Option injection (issue 13 item 7): a templated value standing as a whole argument of a
shell command is read as an option when it starts with `-`; validate warns and says how to
guard it, and stays quiet where the value cannot be an option."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_step
from tests.test_engine_support import write_runbook
from vvrun.language.pipeline import check_file


def _warnings(tmp_path: Path, run: str, inputs: str = "x: {type: string, default: a}") -> list:
    path = write_runbook(tmp_path, f"""
        version: 1
        name: o
        title: O
        inputs:
          {inputs}
        steps:
          - id: s
            shell: {run!r}
    """)
    _book, problems = check_file(str(path))
    return [p for p in problems if p.code == "shell-option"]


@pytest.mark.parametrize("run", [
    "rm {{ inputs.x }}", "rm -rf {{ inputs.x }}", "grep {{ inputs.x }} file",
    "ls | grep {{ inputs.x }}", 'cat "{{ inputs.x }}"', "FOO=1 sudo rm {{ inputs.x }}",
    "tar -xzf {{ inputs.x }}", "ls -1t {{ inputs.x }}/backup_*",
])
def test_a_value_where_options_are_read_is_flagged(tmp_path: Path, run: str) -> None:
    [warning] = _warnings(tmp_path, run)
    assert warning.severity == "warning"
    assert "would be read as an option" in warning.message
    assert "`--`" in (warning.hint or "") and "./{{ inputs.x }}" in (warning.hint or "")


@pytest.mark.parametrize("run", [
    "rm -- {{ inputs.x }}", "grep -e {{ inputs.x }} file", "cmd --flag={{ inputs.x }}",
    "rm ./{{ inputs.x }}", "echo {{ inputs.x }}", "printf '%s' {{ inputs.x }}",
    "psql -c {{ inputs.x }}", "cmd --file {{ inputs.x }}", "cat foo > {{ inputs.x }}",
    "node script.js {{ inputs.x }}", "ls prefix{{ inputs.x }}", "git tag -- {{ inputs.x }}",
])
def test_no_false_alarm_where_the_value_cannot_be_an_option(tmp_path: Path, run: str) -> None:
    assert _warnings(tmp_path, run) == []


@pytest.mark.parametrize("inputs,flagged", [
    ("x: {type: string, default: a, pattern: '^v[0-9.]+$'}", False),
    ("x: {type: string, default: a, pattern: '^[a-z-]+$'}", True),  # `--help` fits it
    ("x: {type: string, default: a, choices: [a, b]}", False),
    ("x: {type: integer, default: 1}", False),
])
def test_an_input_that_cannot_start_with_a_dash_is_quiet(tmp_path: Path, inputs: str,
                                                         flagged: bool) -> None:
    assert bool(_warnings(tmp_path, "rm {{ inputs.x }}", inputs)) is flagged


def test_the_attack_and_the_guard(tmp_path: Path) -> None:
    """The attack for real: `--version` as a "file name" makes `cat` print its version (a
    `--` guard makes it a file name that does not exist)."""
    ctx = {"inputs": {"f": "--version"}, "env": {}, "steps": {}}
    attacked = run_step("shell", "cat {{ inputs.f }}", context=ctx)
    assert "GNU coreutils" in attacked["stdout"] or "cat" in attacked["stdout"]
    with pytest.raises(Exception, match="exit"):
        run_step("shell", "cat -- {{ inputs.f }}", context=ctx)
