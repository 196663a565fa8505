"""Hostile input is bounded (SPEC §8, issue 14): runbooks, `--vars-file`, `--var`, plan files.

Each attack runs the real CLI in a child process under an address-space limit (`RLIMIT_AS`),
so a bound that does not hold shows up as a MemoryError or a kill, not as a slow machine; and
the child's CPU time (not the wall clock) says it did little work.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

MEMORY = 768 * 1024 * 1024  # address space of the child: Python and its imports fit easily
CPU_SECONDS = 10  # a bound that holds answers in well under this; RLIMIT_CPU kills otherwise

RUNBOOK = """\
version: 1
name: t
title: T
inputs:
  who: {type: string, default: x}
  hosts: {type: list, default: []}
steps:
  - id: a
    title: A
    manual: "hello {{ inputs.who }}"
"""


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def vv(*args: str | bytes, env: dict[str, str] | None = None,
       cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-m", "vvrun", *args], capture_output=True,
                          text=True, errors="replace", preexec_fn=_limits, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "MemoryError" not in out, out
    assert proc.returncode == 2, (proc.returncode, out)
    assert cpu < CPU_SECONDS / 2, f"{cpu:.1f} s of CPU for {args}"
    proc.stdout = out  # one stream to read messages from
    return proc


@pytest.fixture
def book(tmp_path: Path) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(RUNBOOK)
    return path


def _bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


# -- --vars-file -------------------------------------------------------------------------

def test_a_vars_file_alias_bomb_is_refused_in_bounded_memory(book: Path, tmp_path: Path) -> None:
    vars_file = tmp_path / "bomb.yaml"
    vars_file.write_text("who: x\n" + _bomb())
    out = vv("plan", str(book), "--vars-file", str(vars_file)).stdout
    assert f"{vars_file}:" in out
    assert "more than 200 alias uses" in out
    assert "hint:" in out


@pytest.mark.parametrize("depth", [50, 5000])
def test_a_vars_file_nested_too_deep(book: Path, tmp_path: Path, depth: int) -> None:
    vars_file = tmp_path / "deep.yaml"
    vars_file.write_text("who: " + "[" * depth + "]" * depth + "\n")
    out = vv("plan", str(book), "--vars-file", str(vars_file)).stdout
    assert "40 levels" in out


@pytest.mark.parametrize("command", ["plan", "run"])
def test_vars_file_dev_zero_is_not_read(book: Path, command: str) -> None:
    out = vv(command, str(book), "--vars-file", "/dev/zero").stdout
    assert "/dev/zero: --vars-file is a character device, not a regular file" in out


def test_vars_file_fifo_does_not_wait_for_a_writer(book: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "vars.fifo"
    os.mkfifo(fifo)
    out = vv("plan", str(book), "--vars-file", str(fifo)).stdout
    assert "--vars-file is a FIFO (named pipe), not a regular file" in out


def test_vars_file_folder(book: Path, tmp_path: Path) -> None:
    assert "--vars-file is a folder, not a regular file" in vv(
        "plan", str(book), "--vars-file", str(tmp_path)).stdout


def test_vars_file_too_large_says_the_limit_and_how_to_raise_it(book: Path,
                                                                 tmp_path: Path) -> None:
    vars_file = tmp_path / "big.yaml"
    with open(vars_file, "wb") as fh:  # sparse: 50 MiB of nothing costs no disk
        fh.truncate(50 * 1024 * 1024)
    out = vv("plan", str(book), "--vars-file", str(vars_file)).stdout
    assert "--vars-file is larger than 1 MiB (the limit)" in out
    assert "VVRUN_MAX_FILE_SIZE" in out


def test_vars_file_not_utf8_names_the_byte(book: Path, tmp_path: Path) -> None:
    vars_file = tmp_path / "latin1.yaml"
    vars_file.write_bytes(b"who: caf\xe9\n")
    out = vv("plan", str(book), "--vars-file", str(vars_file)).stdout
    assert f"{vars_file}:1:9: --vars-file is not valid UTF-8: byte 0xe9 at offset 8" in out


def test_vars_file_keeps_yaml_values(book: Path, tmp_path: Path) -> None:
    vars_file = tmp_path / "v.yaml"
    vars_file.write_text("who: world\nhosts: [db1, db2]\n")
    proc = subprocess.run([sys.executable, "-m", "vvrun", "plan", str(book), "--vars-file",
                           str(vars_file)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "hello world" in proc.stdout


# -- --var -------------------------------------------------------------------------------

def test_a_var_that_is_not_utf8_names_the_byte(book: Path) -> None:
    out = vv("plan", str(book), b"--var", b"who=caf\xe9").stdout
    assert "--var who is not valid UTF-8: byte 0xe9 at offset 3" in out


def test_an_environment_value_that_is_not_utf8_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(RUNBOOK.replace("who: {type: string, default: x}",
                                    "who: {type: string, env: WHO}"))
    env = {**os.environ}
    env_bytes = {k.encode(): v.encode("utf-8", "surrogateescape") for k, v in env.items()}
    env_bytes[b"WHO"] = b"caf\xe9"
    proc = subprocess.run([sys.executable, "-m", "vvrun", "run", str(path), "--yes",
                           "--state", str(tmp_path / "s.db")],
                          capture_output=True, env=env_bytes, preexec_fn=_limits)
    out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    assert proc.returncode == 2, out
    assert "$WHO is not valid UTF-8: byte 0xe9 at offset 3" in out
    assert "Traceback" not in out


def test_check_arg_on_text_that_never_was_bytes() -> None:
    from vvrun.language.source import SourceRefused, check_arg

    assert check_arg("café", "x") == "café"
    with pytest.raises(SourceRefused, match="not valid text"):
        check_arg("a\ud800", "x")


def test_a_var_list_alias_bomb(book: Path) -> None:
    inline = "[" + ", ".join(["&a0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]) + "]"
    out = vv("plan", str(book), "--var", f"hosts={inline}").stdout
    assert "input 'hosts' (--var) must be a list" in out


# -- runbooks ----------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["validate", "plan", "run"])
def test_a_runbook_that_is_not_a_regular_file(command: str, tmp_path: Path) -> None:
    fifo = tmp_path / "book.yaml"
    os.mkfifo(fifo)
    out = vv(command, str(fifo)).stdout
    assert "is a FIFO (named pipe), not a regular file" in out


@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_runbook_from_dev_zero(command: str) -> None:
    assert "/dev/zero: error: the file is a character device, not a regular file" in vv(
        command, "/dev/zero").stdout


def test_a_large_runbook_is_refused_unless_the_limit_is_raised(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(RUNBOOK.replace("title: T\n", "title: T\ndescription: |\n"
                                    + "  words words words words words\n" * 50_000))
    out = vv("validate", str(path)).stdout
    assert "the file is larger than 1 MiB (the limit)" in out
    assert "VVRUN_MAX_FILE_SIZE=4M" in out
    ok = subprocess.run([sys.executable, "-m", "vvrun", "validate", str(path)],
                        capture_output=True, text=True, env={**os.environ,
                                                             "VVRUN_MAX_FILE_SIZE": "4M"})
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_a_bad_size_limit_is_named(book: Path) -> None:
    out = vv("validate", str(book), env={"VVRUN_MAX_FILE_SIZE": "lots"}).stdout
    assert "$VVRUN_MAX_FILE_SIZE='lots' is not a size" in out


def test_a_syntax_error_on_a_huge_line_shows_a_bounded_excerpt(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 200_000 + "\n")
    out = vv("validate", str(path)).stdout
    assert "nesting" in out
    assert len(out) < 2000


# -- plan files --------------------------------------------------------------------------

def _run_with_plan(book: Path, plan: str) -> str:
    return vv("run", str(book), "--plan", plan, "--yes").stdout


def test_plan_file_from_dev_zero(book: Path) -> None:
    assert "/dev/zero: the plan file is a character device, not a regular file" in \
        _run_with_plan(book, "/dev/zero")


def test_plan_file_fifo(book: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)
    assert "the plan file is a FIFO (named pipe)" in _run_with_plan(book, str(fifo))


def test_plan_file_too_large(book: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    with open(plan, "wb") as fh:
        fh.truncate(200 * 1024 * 1024)
    assert "the plan file is larger than 16 MiB (the limit)" in _run_with_plan(book, str(plan))


def test_plan_file_nested_too_deep(book: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text("[" * 1_000_000 + "]" * 1_000_000)
    assert "the plan file nests deeper than JSON can be read" in _run_with_plan(book, str(plan))


def test_plan_file_not_utf8(book: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_bytes(b'{\n  "format": "caf\xe9"}\n')
    assert "the plan file is not valid UTF-8: byte 0xe9 at offset 18 (line 2, column 17)" in \
        _run_with_plan(book, str(plan))


@pytest.mark.parametrize(("text", "message"), [
    ('{"format": "vvrun-plan/1", "runbooks": [1]}', "`runbooks` is not a list of plans"),
    ('{"format": "vvrun-plan/1", "runbooks": [{"name": "t", "steps": [{}]}]}',
     "a step of runbook 't' has no id"),
    ('{"format": "vvrun-plan/1", "runbooks": [{"name": "t", "inputs": []}]}',
     "`inputs` of runbook 't' is not a dict"),
])
def test_a_damaged_plan_file_is_refused(book: Path, tmp_path: Path, text: str,
                                        message: str) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(text)
    assert f"the plan file is damaged: {message}" in _run_with_plan(book, str(plan))
