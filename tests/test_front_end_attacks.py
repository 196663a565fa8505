"""What an exploratory tester threw at the front end (SPEC §8): each attack gets one error with
`file:line:col`, what is wrong and what to do — exit 2, never "internal error" or a traceback.

Every case runs the real CLI in a child process under an address-space and a CPU-time limit
(`RLIMIT_AS`, `RLIMIT_CPU`): a bound that does not hold shows as a kill or a MemoryError, not
as a slow test. No wall-clock assertions.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

MEMORY = 768 * 1024 * 1024
CPU_SECONDS = 20  # RLIMIT_CPU kills a child that runs away; nothing here needs a second
HEAD = "version: 1\nname: t\ntitle: T\n"


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def vv(*args: str, cwd: Path | None = None, code: int = 2) -> str:
    """Run `vvrun ARGS`; the combined output, after checking the exit code and that nothing
    crashed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VVRUN_")}
    proc = subprocess.run([sys.executable, "-m", "vvrun", *args], capture_output=True,
                          text=True, errors="replace", preexec_fn=_limits, cwd=cwd, env=env,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "internal error" not in out, out
    assert "MemoryError" not in out, out
    assert proc.returncode == code, (proc.returncode, out)
    return out


def write(tmp_path: Path, text: str | bytes, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return path


def validate(tmp_path: Path, text: str | bytes) -> str:
    path = write(tmp_path, text)
    return vv("validate", str(path)).replace(str(path), "t.yaml")


# -- 1. durations are finite and bounded -------------------------------------------------------

STEP = "steps:\n  - id: a\n    shell: echo\n"


@pytest.mark.parametrize(("extra", "where", "written"), [
    ("    timeout: .inf\n", "7:14", "timeout must be a finite duration from 0 to 30 d, not .inf"),
    ("    timeout: 1e400\n", "7:14", "not 1e400"),
    ("    timeout: .nan\n", "7:14", "timeout must be a finite duration from 0 to 30 d, not .nan"),
    ("    timeout: 99999999999999999999999h\n", "7:14", "not '99999999999999999999999h'"),
    ("    timeout: 99999999999999999999999999999\n", "7:14", "from 0 to 30 d"),
    ("    timeout: 31d\n", "7:14", "timeout must be a finite duration from 0 to 30 d"),
    ("    retry: {delay: .inf}\n", "7:20", "delay must be a finite duration"),
    ("    watch: .inf\n", "7:12", "watch must be a finite duration"),
    ("    grace: .nan\n", "7:12", "grace must be a finite duration"),
    ("    retry: {attempts: 3, delay: 1s, backoff: 1e308}\n", "7:46",
     "backoff must be at most 10, not 1e+308"),
    ("    retry: {attempts: 3, delay: 1s, backoff: .nan}\n", "7:46",
     "backoff must be a finite number from 1 to 10, not .nan"),
    ("    retry: {attempts: 40, delay: 10s, backoff: 2}\n", "7:12",
     "retry: the wait before attempt 40 would be"),
])
def test_a_duration_that_is_not_finite_or_too_long_is_an_error(
        tmp_path: Path, extra: str, where: str, written: str) -> None:
    out = validate(tmp_path, HEAD + STEP + extra)
    assert f"t.yaml:{where}: error: " in out and written in out, out
    assert out.count("error:") == 1, out
    assert "hint:" in out


def test_non_finite_defaults_are_errors_at_the_default(tmp_path: Path) -> None:
    out = validate(tmp_path, HEAD + "defaults: {timeout: .inf, grace: .nan}\n" + STEP)
    assert "t.yaml:4:21: error: timeout must be a finite duration from 0 to 30 d, not .inf" \
        in out, out
    assert "t.yaml:4:34: error: grace must be a finite duration" in out, out


def test_a_connection_duration_over_the_limit_is_an_error(tmp_path: Path) -> None:
    out = validate(tmp_path, HEAD + "connections:\n  db: {postgres: 'postgres://h/d', "
                   "statement_timeout: 9999999h}\n" + STEP)
    assert "t.yaml:5:55: error: statement_timeout must be a finite duration" in out, out


def test_a_huge_backoff_never_reaches_run(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "steps:\n  - id: a\n    shell: exit 1\n"
                 "    retry: {attempts: 3, delay: 1s, backoff: 1e308}\n")
    out = vv("run", str(path), "--yes", "--state", str(tmp_path / "s.db"), cwd=tmp_path)
    assert "t.yaml:7:46" in out and "backoff must be at most 10" in out, out


def test_the_longest_durations_allowed_still_validate(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "defaults: {timeout: 30d}\nsteps:\n  - id: a\n"
                 "    shell: exit 1\n    retry: {attempts: 10, delay: 1h, backoff: 2}\n")
    vv("validate", str(path), code=0)


# -- 2. aliases are bounded, scalar ones included ----------------------------------------------


def _scalar_aliases(size: int, uses: int) -> str:
    steps = "".join(f"  - {{id: s{i}, shell: *s}}\n" for i in range(uses))
    return HEAD + f"description: &s {'x' * size}\nsteps:\n" + steps


def test_a_long_scalar_repeated_by_aliases_stops_at_the_text_bound(tmp_path: Path) -> None:
    out = validate(tmp_path, _scalar_aliases(200_000, 2000))  # 400 MB once expanded
    # the sixth alias (line 11) passes 1,000,000 repeated characters
    assert "t.yaml:11:21: error: aliases repeat more than 1,000,000 characters of text" in out
    assert "instead of repeating it with `*alias`" in out


def test_scalar_aliases_count_as_alias_uses(tmp_path: Path) -> None:
    out = validate(tmp_path, _scalar_aliases(1, 300))
    assert "t.yaml:206:23: error: more than 200 alias uses" in out, out  # the 201st


def test_a_large_file_without_aliases_is_not_blamed_on_aliases(tmp_path: Path) -> None:
    out = validate(tmp_path, HEAD + "x: [" + ", ".join(["1"] * 100_001) + "]\n"
                   + "steps: [{id: a, shell: echo}]\n")
    assert "error: the file holds more than 100,000 values" in out, out
    assert "alias" not in out and "split it into several runbooks" in out


def test_many_values_through_aliases_say_so(tmp_path: Path) -> None:
    out = validate(tmp_path, HEAD + "a: &a [" + ", ".join(["1"] * 5000) + "]\n"
                   + "b: [" + ", ".join(["*a"] * 25) + "]\nsteps: [{id: s, manual: x}]\n")
    assert "t.yaml:5:77: error: the document expands to more than 100,000 values through its " \
        "aliases" in out, out
    assert "use fewer `*alias` references" in out


def test_deep_nesting_is_refused_where_it_is(tmp_path: Path) -> None:
    out = validate(tmp_path, HEAD + "x: " + "[" * 500 + "]" * 500 + "\nsteps: []\n")
    assert "t.yaml:4:44: error: nesting deeper than 40 levels" in out, out


# -- 3. positions of control characters and of what an alias repeats --------------------------


@pytest.mark.parametrize(("char", "name", "col"), [
    (b"\x00", "NUL", 17), (b"\x1b", "ESC", 17), (b"\x07", "U+0007", 17)])
def test_a_control_character_is_shown_where_it_is(
        tmp_path: Path, char: bytes, name: str, col: int) -> None:
    text = HEAD.encode() + b"steps:\n  - id: a\n    shell: echo " + char + b"[2J hi\n"
    out = validate(tmp_path, text)
    assert f"t.yaml:6:{col}: error: the file holds a control character ({name})" in out, out
    picture = chr(0x2400 + char[0])
    assert f"  6 |     shell: echo {picture}[2J hi\n    | {' ' * (col - 1)}^" in out, out
    assert "\x1b" not in out  # the terminal is not driven by the file


def test_a_control_character_after_multibyte_text_is_at_its_column(tmp_path: Path) -> None:
    text = (HEAD + "description: ééé 😀\nsteps:\n  - id: a\n    shell: 'x é \x1b'\n").encode()
    out = validate(tmp_path, text)
    assert "t.yaml:7:17: error: the file holds a control character (ESC)" in out, out


def test_a_duplicate_id_made_by_an_alias_is_shown_at_the_alias(tmp_path: Path) -> None:
    out = validate(tmp_path, HEAD + "steps:\n  - &a\n    id: a\n    shell: echo\n  - *a\n")
    assert "t.yaml:8:5: error: duplicate step id 'a' (first at line 6)" in out, out


def test_a_problem_inside_an_aliased_mapping_is_shown_at_the_alias(tmp_path: Path) -> None:
    out = validate(tmp_path, HEAD + "defaults: {retry: &r {delay: 99999h}}\nsteps:\n  - id: a\n"
                   "    shell: echo\n    retry: *r\n")
    assert "t.yaml:4:30: error: delay must be a finite duration" in out, out  # the anchor's
    assert "t.yaml:8:12: error: delay must be a finite duration" in out, out  # and the alias


# -- 4. a template error inside a string is shown at its column, whatever the string's style ----

STYLES = [
    ("literal", "    shell: |\n      echo one\n      two {{ inputs.nope }}\n", "8:14"),
    ("literal with indentation indicator",
     "    shell: |2\n        x\n       {{ inputs.nope }}\n", "8:11"),
    ("folded", "    shell: >\n      echo one\n      two {{ inputs.nope }}\n", "8:14"),
    ("folded with blank and more-indented lines",
     "    shell: >-\n\n      first\n\n        more\n      {{ inputs.nope }}\n", "11:10"),
    ("multi-line double-quoted", '    shell: "echo one\n      two {{ inputs.nope }}"\n', "7:14"),
    ("double-quoted escapes", '    shell: "\\u00e9\\U0001F600 {{ inputs.nope }}"\n', "6:33"),
    ("double-quoted escaped line break",
     '    shell: "a\\\n      b\\tc {{ inputs.nope }}"\n', "7:15"),
    ("multi-line plain", "    shell: echo one\n      two {{ inputs.nope }}\n", "7:14"),
    ("single-quoted with a doubled quote", "    shell: 'it''s {{ inputs.nope }}'\n", "6:22"),
    ("plain on one line", "    shell: echo {{ inputs.nope }}\n", "6:20"),
]


@pytest.mark.parametrize(("style", "body", "where"), STYLES, ids=[s[0] for s in STYLES])
def test_a_template_error_is_at_its_column_in_every_string_style(
        tmp_path: Path, style: str, body: str, where: str) -> None:
    out = validate(tmp_path, HEAD + "steps:\n  - id: a\n" + body)
    assert f"t.yaml:{where}: error: unknown input 'nope'" in out, (style, out)


def test_crlf_line_ends_keep_columns_in_folded_strings(tmp_path: Path) -> None:
    text = HEAD + 'steps:\n  - id: a\n    shell: "echo one\n      two {{ inputs.nope }}"\n'
    out = validate(tmp_path, text.replace("\n", "\r\n"))
    assert "t.yaml:7:14: error: unknown input 'nope'" in out, out


def test_an_offset_the_walk_cannot_place_falls_back_to_the_start() -> None:
    from vvrun.language.load import load_bytes

    got = load_bytes(b'q: "a\\x41 {{ x }}"\n', "f.yaml")
    assert got.data == {"q": "aA {{ x }}"}
    assert got.positions.at_offset(("q",), "aA {{ x }}", 3) == (1, 11)
    # a value that is not the one loaded cannot be walked: the scalar's start, not a guess
    assert got.positions.at_offset(("q",), "zz {{ x }}", 3) == (1, 4)


# -- 5. a --vars-file value is shown at its line in that file; only ASCII digits make numbers -----

INPUTS = HEAD + ("inputs:\n  n: {type: integer}\n  f: {type: number, default: 1}\n"
                 "steps:\n  - id: a\n    shell: echo {{ inputs.n }}\n")


@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_bad_vars_file_value_is_shown_in_the_vars_file(tmp_path: Path, command: str) -> None:
    book = write(tmp_path, INPUTS)
    values = write(tmp_path, "# values\nf: 2\n\nn: abc\n", "v.yaml")
    extra = ["--yes", "--state", str(tmp_path / "s.db")] if command == "run" else []
    out = vv(command, str(book), "--vars-file", str(values), *extra, cwd=tmp_path)
    assert f"{values}:4:4: input 'n' (--vars-file) must be an integer, got 'abc'" in out, out
    assert f"in {values}, write n: 42" in out and "--var " not in out and "(--var)" not in out


def test_a_var_given_again_on_the_command_line_is_the_vars(tmp_path: Path) -> None:
    book = write(tmp_path, INPUTS)
    values = write(tmp_path, "n: 1\n", "v.yaml")
    out = vv("plan", str(book), "--vars-file", str(values), "--var", "n=x", cwd=tmp_path)
    assert "input 'n' (--var) must be an integer, got 'x'" in out and "v.yaml" not in out, out


def test_an_unknown_name_in_a_vars_file_is_shown_there(tmp_path: Path) -> None:
    book = write(tmp_path, INPUTS)
    values = write(tmp_path, "n: 1\nzz: 2\n", "v.yaml")
    out = vv("run", str(book), "--vars-file", str(values), "--yes", "--state",
             str(tmp_path / "s.db"), cwd=tmp_path)
    assert f"{values}:2:5: unknown input 'zz'" in out and "--vars-file" in out, out


@pytest.mark.parametrize(("name", "value"), [
    ("n", "١٢٣"),  # Arabic-Indic digits
    ("n", "１２３"),  # fullwidth digits
    ("f", "١.٥"),
    ("f", "٣"),
])
def test_only_ascii_digits_make_a_number(tmp_path: Path, name: str, value: str) -> None:
    book = write(tmp_path, INPUTS)
    out = vv("plan", str(book), "--var", f"{name}={value}", "--var", "n=1" if name == "f"
             else "f=1", cwd=tmp_path)
    kind = "an integer" if name == "n" else "a number"
    assert f"t.yaml:{5 if name == 'n' else 6}:6: input '{name}' (--var) must be {kind}, " \
        f"got '{value}'" in out, out


def test_ascii_numbers_still_work() -> None:
    from vvrun.language.inputs import _integer, _number

    assert [_integer(t) for t in ("42", " -7 ", "+3", "1_000")] == [42, -7, 3, 1000]
    assert [_number(t) for t in ("1.5", "2", "-0.25", "1e3")] == [1.5, 2, -0.25, 1000.0]


# -- 6. what would fail every run fails validation -----------------------------------------------


@pytest.mark.parametrize(("written", "kind"), [
    ('"42"', "a number"), ("42", "a number"), ("\"'abc'\"", "text"), ("true", "true or false"),
    ('"none"', "empty"),
])
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_for_each_constant_that_is_not_a_list_is_an_error(
        tmp_path: Path, written: str, kind: str, command: str) -> None:
    path = write(tmp_path, HEAD + f"steps:\n  - id: a\n    for_each: {written}\n"
                 "    shell: echo {{ item }}\n")
    out = vv(command, str(path), cwd=tmp_path)
    assert f"t.yaml:6:15: error: for_each `{written.strip(chr(34))}` is always {kind}, never a " \
        "list" in out, out
    assert "give an expression that gives a list" in out


@pytest.mark.parametrize("written", ['"[1, 2]"', '"{\'a\': 1}"', "inputs.hosts",
                                     '"range(3)"'])
def test_a_for_each_that_can_give_a_list_or_a_mapping_still_validates(
        tmp_path: Path, written: str) -> None:
    path = write(tmp_path, HEAD + "inputs:\n  hosts: {type: list, default: [a]}\n"
                 f"steps:\n  - id: a\n    for_each: {written}\n    shell: echo {{{{ item }}}}\n")
    vv("validate", str(path), code=0)


def test_a_manual_field_recorded_twice_is_an_error(tmp_path: Path) -> None:
    out = validate(tmp_path, HEAD + "steps:\n  - id: m\n    manual:\n      instructions: x\n"
                   "      record: [a, {name: b}, {name: a}]\n")
    assert "t.yaml:8:30: error: the field 'a' is recorded twice (first as item 1 of `record`)" \
        in out, out
    assert "result.fields.a" in out
