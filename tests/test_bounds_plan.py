"""Plans and templates are bounded: `range()`, loop turns and text per render, text per plan,
`for_each` items listed (SPEC §8, issue 14). Through the CLI, in a memory-limited child."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_bounds import vv

from vvrun.errors import VvrunError
from vvrun.language.templates import Templater
from vvrun.language.templates.budget import MAX_ITERATIONS, MAX_OUTPUT, MAX_RANGE

HEAD = "version: 1\nname: t\ntitle: T\n"


def _book(tmp_path: Path, steps: str, inputs: str = "") -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + (f"inputs:\n{inputs}" if inputs else "") + "steps:\n" + steps)
    return path


def test_nested_range_loops_in_a_plan_stop_at_the_loop_budget(tmp_path: Path) -> None:
    path = _book(tmp_path, "  - id: a\n    manual: \"{% for i in range(10000) %}"
                 "{% for j in range(10000) %}{% for k in range(10000) %}x{% endfor %}"
                 "{% endfor %}{% endfor %}\"\n")
    out = vv("plan", str(path)).stdout
    assert f"{path}:" in out and "step 'a'" in out
    assert f"the loops of one template take more than {MAX_ITERATIONS} turns" in out
    assert "hint:" in out


def test_a_range_too_long(tmp_path: Path) -> None:
    path = _book(tmp_path, "  - id: a\n    manual: \"{{ range(10**9) | list | length }}\"\n")
    assert f"range() of 1000000000 numbers is more than the {MAX_RANGE}" in vv(
        "plan", str(path)).stdout


def test_one_render_larger_than_a_mebibyte(tmp_path: Path) -> None:
    path = _book(tmp_path, "  - id: a\n    manual: \"{% for i in range(2000) %}"
                 "{{ 'x' * 1000 }}{% endfor %}\"\n")
    assert f"the template renders more than {MAX_OUTPUT} characters" in vv(
        "plan", str(path)).stdout


def test_a_plan_larger_than_its_limit_names_the_step(tmp_path: Path) -> None:
    steps = "".join(f"  - id: s{i}\n    manual: \"{{{{ 'x' * 500000 }}}}\"\n" for i in range(40))
    out = vv("plan", str(_book(tmp_path, steps))).stdout
    assert "step 's2': the plan is larger than 2 MiB of text by step 's2'" in out


def test_the_run_refuses_the_same_template(tmp_path: Path) -> None:
    path = _book(tmp_path, "  - id: a\n    shell: \"echo {{ 'x' | center(10**9) }}\"\n")
    out = vv("run", str(path), "--yes", "--state", str(tmp_path / "s.db")).stdout
    assert "a text of 1000000001 characters is longer than the" in out


@pytest.mark.parametrize("source", [
    "{{ 'x' | center(10**9) }}",
    "{{ 'x' | indent(10**9) }}",
    "{{ ('x' * 1000000) | replace('x', 'xx') }}",
    "{{ (['x' * 1000000] * 100) | join }}",
    "{{ (['x' * 1000000] * 100) | map('string') | join }}",
    "{{ '%1000000000s' % 'x' }}",
    "{{ '%1000000000s' | format('x') }}",
    "{% set a = 'x' * 1000000 %}{% set a = a ~ a %}{{ a | length }}",
    "{% set a = 'x' * 1000000 %}{{ (a + a) | length }}",
    "{% macro m() %}{% for i in range(9000) %}{{ i }}{% endfor %}{% endmacro %}"
    "{% for k in range(100) %}{{ m() }}{% endfor %}",
])
def test_text_multipliers_are_refused_before_they_build(source: str) -> None:
    with pytest.raises(VvrunError) as err:
        Templater({}).text(source)
    assert err.value.exit_code == 2
    assert "is refused:" in err.value.message


def test_ordinary_templates_are_untouched() -> None:
    source = ("{{ 'a,b' | replace(',', ';') }} {{ [1, 2] | join('-') }} "
              "{{ range(3) | map('string') | join('+') }} {{ 'x' | center(5) }}|"
              "{{ 'a\nb' | indent(2) }} {{ '%05d' % 42 }} {{ 'a' ~ 'b' }} "
              "{% for i in range(3) %}{{ loop.index }}/{{ loop.length }} {% endfor %}")
    assert Templater({}).text(source) == "a;b 1-2 0+1+2   x  |a\n  b 00042 ab 1/3 2/3 3/3 "
    assert Templater({}).expr("range(3) | list") == [0, 1, 2]


def test_for_each_items_in_a_plan_are_listed_then_counted(tmp_path: Path) -> None:
    path = _book(tmp_path, "  - id: each\n    for_each: inputs.hosts\n"
                 "    shell: echo {{ item }}\n",
                 inputs="  hosts: {type: list, default: []}\n")
    hosts = ",".join(f"db{i}" for i in range(100))
    proc = subprocess.run([sys.executable, "-m", "vvrun", "plan", str(path), "--var",
                           f"hosts={hosts}", "--format", "json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)["runbooks"][0]["steps"][0]["for_each"]
    assert shown.startswith("inputs.hosts (100 items: 'db0', 'db1', ")
    assert shown.endswith("'db19' … and 80 more)")
    few = subprocess.run([sys.executable, "-m", "vvrun", "plan", str(path), "--var",
                          "hosts=a,b"], capture_output=True, text=True)
    assert "for each item of: inputs.hosts (2 items: 'a', 'b')" in few.stdout
