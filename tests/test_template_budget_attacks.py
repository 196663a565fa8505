"""Templates that reach for time, memory, files or randomness are refused through the real
CLI with one message and exit 2 — in `validate`, `plan` and `run` — and never shown "as
written" (SPEC §4, §7, §8). Each runs in a child whose address space is capped, so an attack
that got through would fail with a MemoryError instead of the refusal asserted here."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

MEMORY = 768 * 1024 * 1024  # the child's address space: Python and its imports fit easily
CPU_SECONDS = 30  # only a safety net that kills a runaway child; nothing is timed

HEAD = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: a\n"


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def vv(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "vvrun", *args], capture_output=True,
                          text=True, errors="replace", preexec_fn=_limits, timeout=120,
                          env={**os.environ, "VVRUN_OPERATOR": "op@test", **(env or {})})
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "MemoryError" not in out, out
    assert "internal error" not in out, out
    return proc.returncode, proc.stdout, out


def _book(tmp_path: Path, shell: str) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + f"    shell: {shell}\n")
    return path


# the attack, and what the refusal says
BUDGET_ATTACKS = [
    ("echo {{ range(10) | slice(10**8) | list | length }}",
     "slice() into 100000000 lists is more than the 100000"),
    ("echo {{ {'a': [1, 2]} | tojson(indent=10**8) }}",
     "tojson's indent of 100000000 is more than the 32"),
    ("echo {{ ('ab ' * 200000) | wordwrap(1, wrapstring='y' * 1000) | length }}",
     "a text of 600601000 characters is longer than the 1048576"),
    ("echo {{ [1] | batch(10**7, 'x') | list | length }}",
     "batch() of 10000000 items is more than the 100000"),
    ("echo {{ 'a' * 10**9 }}", "the result of `*` would hold 1000000000 items or characters"),
    ("echo {{ ['a'] * 10**9 }}", "the result of `*` would hold 1000000000 items or characters"),
    ("echo {{ 'ab' | center(10**9) }}", "a text of 1000000002 characters is longer than"),
    ("echo {{ ('a ' * 500000) | split | length }}",
     "a list of 500000 items is more than the 100000"),
    ("echo {{ [[1]] * 1000 | sum(start=[]) | length }}", "sum() adds numbers"),
    # a list that holds another twice, forty times over: 2**40 items once written out
    ("echo {% set a = [1] %}" + "{% set a = [a, a] %}" * 40 + "{{ a }}",
     "a list (with the lists inside it) of more than 100000 items"),
    # calls that double at each level, and a loop that calls itself
    ("echo {% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
     "{{ f(40) }}", "the loops of one template take more than 100000 turns"),
    ("echo {% for x in [1, 1] recursive %}{{ loop([1, 1]) }}{% endfor %}",
     "the template nests or calls itself too deeply"),
    ("echo {% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
     "the template nests or calls itself too deeply"),
    # each text within its budget, ten thousand of them
    ("echo {% for i in range(10000) %}{{ ('x' * 1000000) | upper | length }}{% endfor %}",
     "the template builds more than 67108864 characters in all"),
]


@pytest.mark.parametrize(("shell", "says"), BUDGET_ATTACKS,
                         ids=[f"attack{i}" for i in range(len(BUDGET_ATTACKS))])
def test_a_plan_refuses_what_would_outgrow_the_budget(tmp_path: Path, shell: str,
                                                      says: str) -> None:
    path = _book(tmp_path, f'"{shell}"')
    rc, _, out = vv("plan", str(path))
    assert rc == 2, out
    assert f"{path}:5:5: step 'a': template " in out and "is refused: " in out, out
    assert says in out, out
    assert "hint: a runbook's templates render short texts" in out
    assert "shown as written" not in out and "warning" not in out


def test_lipsum_is_gone_so_its_text_bomb_is_an_unknown_name(tmp_path: Path) -> None:
    for call in ("lipsum(10**9, min=10**9, max=10**9+1)", "lipsum(20000)"):
        path = _book(tmp_path, f'"echo {{{{ {call} | length }}}}"')
        for command in ("validate", "plan"):
            rc, _, out = vv(command, str(path))
            assert rc == 2 and f"{path}:6:21: error: unknown name 'lipsum'" in out, out


@pytest.mark.parametrize(("shell", "says"), [
    ("echo {{ 'a' * 10**9 }}", "the result of `*` would hold 1000000000"),
    ("echo {{ {'a': 1} | tojson(indent=10**8) }}", "tojson's indent of 100000000"),
])
def test_a_run_refuses_the_same_with_exit_2(tmp_path: Path, shell: str, says: str) -> None:
    path = _book(tmp_path, f'"{shell}"')
    rc, _, out = vv("run", str(path), "--yes", env={"VVRUN_STATE": "memory"})
    assert rc == 2, out
    assert says in out and "is refused" in out, out


@pytest.mark.parametrize(("shell", "at", "says"), [
    ("echo {% include '/etc/passwd' %}", "include",
     "`{% include %}` reads another template, which a runbook's templates never do"),
    ("echo {% import 'x' as y %}", "import", "`{% import %}` reads another template"),
    ("echo {% from 'x' import y %}", "from", "`{% from %}` reads another template"),
    ("{% extends 'base' %}echo", "extends", "`{% extends %}` reads another template"),
    ("echo {{ range(100) | list | random }}", "random", "unknown filter 'random'"),
    ("echo {{ [1, 2] | joinn(',') }}", "joinn", "unknown filter 'joinn' — did you mean 'join'?"),
    ("echo {{ 3 is odder }}", "odder", "unknown test 'odder' — did you mean 'odd'?"),
    ("echo {{ joiner() }}", "joiner", "unknown name 'joiner'"),
    ("echo {{ cycler }}", "cycler", "unknown name 'cycler'"),
    ("echo {{ namespace(a=1) }}", "namespace", "unknown name 'namespace'"),
    ("echo {{ dict(a=1) }}", "dict", "unknown name 'dict'"),
])
def test_validate_rejects_what_can_never_work_where_it_is_written(
        tmp_path: Path, shell: str, at: str, says: str) -> None:
    path = _book(tmp_path, f'"{shell}"')
    column = len('    shell: "') + shell.index(at) + 1
    for command in ("validate", "plan"):
        rc, _, out = vv(command, str(path))
        assert rc == 2, out
        assert f"{path}:6:{column}: error: {says}" in out, out
        assert "as written" not in out


def test_plans_are_byte_identical_and_show_no_python_object(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + "    shell: \"echo {{ range }} {{ ['b', 'a'] | map('upper') }} "
                    "{{ range(3) | select('odd') }} {{ [3, 1] | batch(1) }}\"\n"
                    "  - id: b\n    shell: \"echo {{ ['x', 'y'] | map('upper') | join }}\"\n")
    runs = [vv("plan", str(path), "--format", fmt) for fmt in ("json", "json", "text")]
    assert runs[0][0] == 0 and runs[0][1] == runs[1][1], runs[0][2]
    text = runs[2][1]
    assert "0x" not in runs[0][1] and "<generator" not in text and "object at" not in text
    # a list lands in a shell command one word per item; a function shows as its name
    assert "echo '<range()>' B A 1 '[3]' '[1]'" in text, text
    assert "echo XY" in text, text


def test_ordinary_filters_still_work_in_a_run(tmp_path: Path) -> None:
    path = _book(tmp_path, "\"echo {{ ['b', 'a'] | sort | join(',') }} "
                 "{{ {'k': [1, 2]} | tojson(indent=2) | length }} "
                 "{{ 'a b c' | wordwrap(3) | length }} {{ range(5) | batch(2) | list | length }}"
                 " {{ range(5) | slice(2) | list | length }} {{ [1, 2] | sum }}\"")
    rc, _, out = vv("run", str(path), "--yes", env={"VVRUN_STATE": "memory"})
    assert rc == 0, out
    assert "a,b 29 5 3 2 3" in out, out
