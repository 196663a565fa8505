"""Inputs: --var parsing, --vars-file, types, pattern, choices, env, defaults, asking."""

from __future__ import annotations

import json

import pytest

from vvrun.errors import Location, UsageError
from vvrun.language.inputs import parse_vars, resolve_inputs
from vvrun.language.model import Input, Runbook
from vvrun.language.templates import Unknown


def book(*inputs: Input) -> Runbook:
    return Runbook(path="rb.yaml", name="rb", title="t", inputs={i.name: i for i in inputs})


def inp(name: str, **kw) -> Input:
    return Input(name=name, where=Location("rb.yaml", 3, 3), **kw)


# -- parse_vars ---------------------------------------------------------------------------

def test_parse_vars_pairs_keep_everything_after_the_first_equals() -> None:
    assert parse_vars(["a=1", "url=postgresql://x?a=b", "empty="], None) == {
        "a": "1", "url": "postgresql://x?a=b", "empty": ""}


@pytest.mark.parametrize("pair", ["novalue", "=x"])
def test_parse_vars_without_equals_is_a_usage_error(pair: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_vars([pair], None)
    assert "is not name=value" in str(err.value)
    assert "hint: write it as --var" in str(err.value)


def test_vars_file_yaml_and_json_with_var_overriding(tmp_path) -> None:
    y = tmp_path / "v.yaml"
    y.write_text("a: 1\nb: [x, y]\n")
    j = tmp_path / "v.json"
    j.write_text(json.dumps({"a": 2, "c": True}))
    assert parse_vars(["a=9"], str(y)) == {"a": "9", "b": ["x", "y"]}
    assert parse_vars([], str(j)) == {"a": 2, "c": True}


def test_vars_file_errors(tmp_path) -> None:
    with pytest.raises(UsageError, match="cannot read --vars-file"):
        parse_vars([], str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1\n")
    with pytest.raises(UsageError) as err:
        parse_vars([], str(bad))
    assert "not valid YAML or JSON" in str(err.value)
    assert str(bad) in str(err.value)
    lst = tmp_path / "list.yaml"
    lst.write_text("- a\n- b\n")
    with pytest.raises(UsageError, match="must hold a mapping"):
        parse_vars([], str(lst))
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert parse_vars([], str(empty)) == {}


# -- types --------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "raw", "want"), [
    ("string", "x", "x"),
    ("string", 5, "5"),
    ("integer", "42", 42),
    ("integer", 7, 7),
    ("number", "1.5", 1.5),
    ("number", "3", 3),
    ("boolean", "yes", True),
    ("boolean", "false", False),
    ("boolean", True, True),
    ("list", "a, b,c", ["a", "b", "c"]),
    ("list", "[1, 2]", [1, 2]),
    ("list", ["x"], ["x"]),
    ("list", "", []),
])
def test_coercion_to_declared_type(kind: str, raw, want) -> None:
    got = resolve_inputs(book(inp("x", type=kind)), {"x": raw}, {})["x"]
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize(("kind", "raw", "message"), [
    ("integer", "abc", "must be an integer, got 'abc'"),
    ("integer", "1.5", "must be an integer"),
    ("number", "nan", "must be a number"),
    ("boolean", "maybe", "must be true or false"),
    ("list", "[1,", "must be a list"),
])
def test_bad_values_say_what_and_where(kind: str, raw: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        resolve_inputs(book(inp("x", type=kind)), {"x": raw}, {})
    text = str(err.value)
    assert message in text
    assert text.startswith("rb.yaml:3:3: input 'x' (--var)")
    assert "hint: --var x=" in text


def test_pattern_and_choices() -> None:
    rb = book(inp("age", pattern=r"^\d+ (seconds|minutes)$"),
              inp("mode", choices=("cancel", "terminate")),
              inp("hosts", type="list", pattern=r"^h\d$"))
    ok = resolve_inputs(rb, {"age": "5 minutes", "mode": "cancel", "hosts": "h1,h2"}, {})
    assert ok == {"age": "5 minutes", "mode": "cancel", "hosts": ["h1", "h2"]}
    with pytest.raises(UsageError, match=r"must match the pattern"):
        resolve_inputs(rb, {"age": "soon", "mode": "cancel", "hosts": "h1"}, {})
    with pytest.raises(UsageError, match=r"must be one of 'cancel', 'terminate'"):
        resolve_inputs(rb, {"age": "1 seconds", "mode": "kill", "hosts": "h1"}, {})
    with pytest.raises(UsageError, match=r"must match the pattern"):
        resolve_inputs(rb, {"age": "1 seconds", "mode": "cancel", "hosts": "h1,evil"}, {})


def test_a_bad_secret_value_is_not_echoed() -> None:
    rb = book(inp("pw", secret=True, pattern="^x"))
    with pytest.raises(UsageError) as err:
        resolve_inputs(rb, {"pw": "canary-s3cr3t"}, {})
    assert "canary-s3cr3t" not in str(err.value)
    assert "***" in str(err.value)


# -- precedence and missing values ---------------------------------------------------------

def test_given_then_env_then_default() -> None:
    rb = book(inp("url", env="DATABASE_URL", default="d", has_default=True),
              inp("n", type="integer", default=5, has_default=True))
    assert resolve_inputs(rb, {"url": "given"}, {"DATABASE_URL": "e"})["url"] == "given"
    assert resolve_inputs(rb, {}, {"DATABASE_URL": "e"})["url"] == "e"
    assert resolve_inputs(rb, {}, {}) == {"url": "d", "n": 5}


def test_env_values_are_coerced_too() -> None:
    rb = book(inp("n", type="integer", env="N"))
    assert resolve_inputs(rb, {}, {"N": "12"}) == {"n": 12}
    with pytest.raises(UsageError, match=r"input 'n' \(\$N\) must be an integer"):
        resolve_inputs(rb, {}, {"N": "x"})


def test_missing_required_input() -> None:
    with pytest.raises(UsageError) as err:
        resolve_inputs(book(inp("x")), {}, {})
    assert "input 'x' is required" in str(err.value)
    assert "hint: give it with --var x=..." in str(err.value)
    with pytest.raises(UsageError, match=r"or set \$DATABASE_URL"):
        resolve_inputs(book(inp("db", env="DATABASE_URL")), {}, {})


def test_missing_asks_when_it_can_and_coerces_the_answer() -> None:
    asked = []

    def ask(spec: Input) -> str:
        asked.append(spec.name)
        return "7"

    rb = book(inp("n", type="integer"), inp("given"))
    assert resolve_inputs(rb, {"given": "g"}, {}, ask=ask) == {"n": 7, "given": "g"}
    assert asked == ["n"]


def test_missing_as_unknown_for_plans() -> None:
    got = resolve_inputs(book(inp("x")), {}, {}, missing="unknown")["x"]
    assert isinstance(got, Unknown) and str(got) == "⟨inputs.x⟩"


def test_unknown_var_names_suggest_the_closest() -> None:
    rb = book(inp("stuck_after"))
    with pytest.raises(UsageError) as err:
        resolve_inputs(rb, {"stuck_afer": "1"}, {})
    assert "unknown input 'stuck_afer'" in str(err.value)
    assert "did you mean 'stuck_after'?" in str(err.value)
    with pytest.raises(UsageError, match="declare the input"):
        resolve_inputs(rb, {"zzz": "1"}, {})
