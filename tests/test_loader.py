"""The loader: strict YAML with positions, and YAML 1.1 surprises kept as written."""

from __future__ import annotations

import pytest

from vvrun.language import load as loader
from vvrun.language.load import load_bytes


def _codes(raw: bytes) -> list[str]:
    return [p.code for p in load_bytes(raw, "f.yaml").problems]


def test_positions_of_keys_and_values_are_one_based() -> None:
    got = load_bytes(b"a: 1\nsteps:\n  - id: x\n    sql: |\n      SELECT 1\n", "f.yaml")
    assert got.problems == []
    assert got.positions.value(("a",)) == (1, 4)
    assert got.positions.key(("steps", 0, "sql")) == (4, 5)
    assert got.positions.value(("steps", 0, "id")) == (3, 9)
    # an unknown path falls back to its nearest ancestor
    assert got.positions.value(("steps", 0, "nope", 3)) == (3, 5)


def test_offsets_inside_a_literal_block_point_at_their_line_and_column() -> None:
    got = load_bytes(b"q: |\n  SELECT 1\n  FROM {{ x }}\n", "f.yaml")
    text = got.data["q"]
    assert got.positions.at_offset(("q",), text, text.index("{{")) == (3, 8)


def test_offsets_inside_a_quoted_scalar() -> None:
    got = load_bytes(b'q: "a {{ x }}"\n', "f.yaml")
    assert got.positions.at_offset(("q",), got.data["q"], 2) == (1, 7)


@pytest.mark.parametrize(("text", "value"), [
    ("NO", "NO"), ("on", "on"), ("yes", "yes"), ("Off", "Off"), ("1:30", "1:30"),
    ("2024-01-01", "2024-01-01"), ("1_000", "1_000"), ("010", 10), ("0x1f", 31),
    ("1.10", 1.1), ("true", True), ("False", False), ("~", None), ("null", None),
    ("-3", -3), ("1e3", 1000.0),
])
def test_scalars_resolve_like_yaml_1_2(text: str, value: object) -> None:
    got = load_bytes(f"v: {text}\n".encode(), "f.yaml")
    assert got.data["v"] == value
    assert type(got.data["v"]) is type(value)


def test_the_text_of_numbers_and_booleans_is_kept() -> None:
    got = load_bytes(b"a: 1.10\nb: '1.10'\nc: 010\n", "f.yaml")
    assert got.texts == {("a",): "1.10", ("c",): "010"}


def test_keys_are_kept_as_written() -> None:
    assert load_bytes(b"on: 1\n1: 2\ntrue: 3\n", "f.yaml").data == {"on": 1, "1": 2, "true": 3}


def test_duplicate_keys_cite_both_lines() -> None:
    got = load_bytes(b"a: 1\nb: 2\na: 3\n", "f.yaml")
    (problem,) = got.problems
    assert problem.code == "yaml-duplicate-key"
    assert (problem.where.line, problem.where.column) == (3, 1)
    assert "first at line 1" in problem.message
    assert "lines 1 and 3" in (problem.hint or "")


@pytest.mark.parametrize("raw", [
    b"a: !!python/object/apply:os.system [ls]\n",
    b"a: !!binary aGk=\n",
    b"a: !!timestamp 2024-01-01\n",
    b"a: !include other.yaml\n",
    b"a: !!set {x}\n",
])
def test_non_standard_tags_are_refused(raw: bytes) -> None:
    got = load_bytes(raw, "f.yaml")
    assert got.data is None
    assert _codes(raw) == ["yaml-tag"]
    assert "is not allowed" in got.problems[0].message


def test_explicit_standard_tags_are_fine() -> None:
    assert load_bytes(b"a: !!str 010\nb: !!int '7'\n", "f.yaml").data == {"a": "010", "b": 7}


def test_a_wrong_explicit_tag_is_an_error() -> None:
    got = load_bytes(b"a: !!int seven\n", "f.yaml")
    assert got.problems[0].message == "'seven' is not an integer"


def test_billion_laughs_stops_early() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    got = load_bytes("\n".join(lines).encode(), "f.yaml")
    assert got.data is None
    assert got.problems[0].code == "yaml-aliases"


def test_many_values_through_few_aliases_stop_at_the_node_bound(monkeypatch) -> None:
    monkeypatch.setattr(loader, "MAX_ALIASES", 10_000)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 7):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    got = load_bytes("\n".join(lines).encode(), "f.yaml")
    assert "expands to more than" in got.problems[0].message


def test_a_few_aliases_and_merge_keys_work() -> None:
    got = load_bytes(b"base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n", "f.yaml")
    assert got.problems == []
    assert got.data["c"] == {"x": 1, "y": 3}


def test_recursive_aliases_hit_the_depth_bound() -> None:
    got = load_bytes(b"a: &x [1, *x]\n", "f.yaml")
    assert got.problems[0].code == "yaml-depth"


def test_depth_bound() -> None:
    deep = b"a: " + b"[" * 50 + b"]" * 50 + b"\n"
    got = load_bytes(deep, "f.yaml")
    assert got.problems[0].code == "yaml-depth"
    assert "40 levels" in got.problems[0].message


def test_size_bound(tmp_path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: '" + b"x" * (loader.MAX_BYTES + 10) + b"'\n")
    got = loader.load_file(str(path))
    assert got.problems[0].code == "yaml-size"
    assert "larger than 1 MiB (the limit)" in got.problems[0].message


def test_invalid_utf8_names_the_position() -> None:
    got = load_bytes(b"a: 1\nb: caf\xe9\n", "f.yaml")
    p = got.problems[0]
    assert (p.code, p.where.line, p.where.column) == ("yaml-encoding", 2, 7)


def test_a_utf8_bom_is_fine() -> None:
    assert load_bytes(b"\xef\xbb\xbfa: 1\n", "f.yaml").data == {"a": 1}


@pytest.mark.parametrize(("raw", "fragment"), [
    (b"", "the file is empty"),
    (b"\n\n# only a comment\n", "the file is empty"),
    (b"- a\n- b\n", "the top level is a list"),
    (b"hello\n", "the top level is a single value"),
    (b"~\n", "the top level is a single value"),
])
def test_not_a_mapping(raw: bytes, fragment: str) -> None:
    assert fragment in load_bytes(raw, "f.yaml").problems[0].message


def test_syntax_errors_have_a_position_and_a_hint() -> None:
    got = load_bytes(b"a: 1\nb: Note: this\n", "f.yaml")
    p = got.problems[0]
    assert (p.code, p.where.line) == ("yaml-syntax", 2)
    assert p.hint == "a value containing ': ' must be quoted"


def test_an_unreadable_file_is_a_problem(tmp_path) -> None:
    got = loader.load_file(str(tmp_path / "missing.yaml"))
    assert got.problems[0].code == "io"


def test_the_c_loader_is_used_when_present() -> None:
    import yaml

    if getattr(yaml, "CSafeLoader", None) is None:  # pragma: no cover
        pytest.fail("libyaml is expected in this environment")
    assert issubclass(loader._Loader, yaml.CSafeLoader)


def test_the_pure_python_loader_gives_the_same_result(monkeypatch) -> None:
    import yaml

    class Pure(yaml.SafeLoader):
        yaml_implicit_resolvers = loader._Loader.yaml_implicit_resolvers

    monkeypatch.setattr(loader, "_Loader", Pure)
    got = load_bytes(b"a: yes\nb: 010\nc: [1, 2]\nd: 1\nd: 2\n", "f.yaml")
    assert got.data == {"a": "yes", "b": 10, "c": [1, 2], "d": 1}
    assert got.positions.value(("c", 1)) == (3, 8)
    assert [p.code for p in got.problems] == ["yaml-duplicate-key"]
