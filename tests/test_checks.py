"""The invalid-runbook corpus (tests/invalid/*.yaml, each with its `# expect:` lines) and the
meaning checks and SQL scanner directly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vvrun.language.pipeline import check_file

CORPUS = Path(__file__).parent / "invalid"
EXPECT = re.compile(rb"^# expect: (?:(warning) )?(\d+):(\d+) (.+)$", re.M)


def _cases() -> list[Path]:
    return sorted(CORPUS.glob("*.yaml"))


def test_the_corpus_is_large_enough() -> None:
    assert len(_cases()) >= 50


@pytest.mark.parametrize("path", _cases(), ids=lambda p: p.stem)
def test_invalid_runbook_gives_its_message_at_its_line(path: Path) -> None:
    expected = EXPECT.findall(path.read_bytes())
    assert expected, f"{path.name} has no `# expect: line:col message` header"
    runbook, problems = check_file(str(path))
    shown = "\n".join(p.format() for p in problems)
    for severity, line, col, fragment in expected:
        severity = (severity or b"error").decode()
        hits = [
            p for p in problems
            if fragment.decode() in p.message and p.severity == severity
            and (p.where.line, p.where.column) == (int(line), int(col))
        ]
        assert hits, f"expected {severity} at {line.decode()}:{col.decode()} " \
                     f"{fragment.decode()!r}; got:\n{shown}"
        assert all(p.where.file == str(path) for p in problems)
    if all(sev == b"warning" for sev, *_ in expected):
        assert runbook is not None  # warnings alone do not stop a runbook from loading
    else:
        assert runbook is None


def test_every_check_code_has_a_corpus_case() -> None:
    codes = set()
    for path in _cases():
        codes |= {p.code for p in check_file(str(path))[1]}
    wanted = {
        "duplicate-id", "template-syntax", "expression-syntax", "expression-braces",
        "unknown-input", "unknown-step", "step-order", "unknown-name", "unknown-output",
        "result-outside", "item-outside", "on-failure", "no-connection", "ambiguous-connection",
        "unknown-connection", "connection-kind", "sql-quoted-value", "sql-ddl-value",
        "sql-multi-value", "shell-raw", "danger", "input-default", "lock-template", "watch",
        "approvers", "secret-default", "yaml-duplicate-key", "yaml-tag", "yaml-aliases",
        "yaml-depth", "yaml-empty", "yaml-top", "yaml-syntax", "yaml-encoding",
        "unknown-key", "missing-key", "bad-type", "bad-value", "bad-name", "step-type",
        "bad-form", "verify-writes", "shell-inner",
    }
    assert wanted <= codes, f"no corpus case for: {sorted(wanted - codes)}"


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "rb.yaml"
    path.write_text(text)
    return str(path)


HEAD = "version: 1\nname: t\ntitle: T\n"


def test_all_problems_of_a_file_come_in_one_pass(tmp_path: Path) -> None:
    text = HEAD + (
        "titel: x\n"
        "steps:\n"
        "  - id: a\n    shell: echo {{ inputs.nope }}\n"
        "  - id: a\n    shell: 'true'\n    tiemout: 5s\n"
        "  - id: c\n    sql: SELECT 1\n"
    )
    _, problems = check_file(_write(tmp_path, text))
    codes = sorted(p.code for p in problems)
    assert codes == ["duplicate-id", "no-connection", "unknown-input", "unknown-key",
                     "unknown-key"]


def test_a_clean_runbook_builds_with_defaults_merged(tmp_path: Path) -> None:
    text = HEAD + (
        "defaults: {timeout: 2m, on_failure: continue, retry: {attempts: 3, delay: 1s}}\n"
        "inputs:\n  version: {type: string, default: 1.10}\n"
        "steps:\n"
        "  - id: a\n    shell: echo {{ inputs.version }}\n"
        "  - id: b\n    shell: 'true'\n    timeout: 5s\n    on_failure: abort\n"
        "    retry: {attempts: 1}\n"
    )
    runbook, problems = check_file(_write(tmp_path, text))
    assert problems == []
    assert runbook is not None
    a, b = runbook.steps
    assert (a.timeout.seconds, a.on_failure, a.retry.attempts) == (120.0, "continue", 3)
    assert (b.timeout.seconds, b.on_failure, b.retry.attempts) == (5.0, "abort", 1)
    assert runbook.inputs["version"].default == "1.10"  # as written, not the float 1.1


def test_for_each_steps_may_use_item_and_loop(tmp_path: Path) -> None:
    text = HEAD + (
        "steps:\n"
        "  - id: a\n    shell: 'true'\n    outputs: {names: result.stdout | split}\n"
        "  - id: b\n    for_each: steps.a.outputs.names\n"
        "    shell: echo {{ item }} {{ loop.index }}\n    expect: result.exit_code == 0\n"
    )
    assert check_file(_write(tmp_path, text))[1] == []


def test_template_locals_are_not_unknown_names(tmp_path: Path) -> None:
    text = HEAD + (
        "steps:\n"
        "  - id: a\n    shell: 'true'\n"
        "  - id: b\n    manual: |\n"
        "      {% for line in steps.a.result.stdout | splitlines %}- {{ line }} "
        "({{ loop.index }})\n      {% endfor %}{% set n = 1 %}{{ n }}\n"
    )
    assert check_file(_write(tmp_path, text))[1] == []


def test_warnings_do_not_block_loading_but_are_reported(tmp_path: Path) -> None:
    from vvrun.language.pipeline import load_runbook

    text = HEAD + "steps:\n  - id: a\n    shell: rm -rf /tmp/x\n"
    path = _write(tmp_path, text)
    runbook, problems = check_file(path)
    assert runbook is not None
    assert [p.severity for p in problems] == ["warning"]
    assert load_runbook(path).steps[0].id == "a"


def test_danger_true_silences_the_lint(tmp_path: Path) -> None:
    text = HEAD + "steps:\n  - id: a\n    shell: rm -rf /tmp/x\n    danger: true\n"
    assert check_file(_write(tmp_path, text))[1] == []


def test_ident_values_may_go_where_values_cannot(tmp_path: Path) -> None:
    text = HEAD + (
        "connections:\n  db: {postgres: x}\n"
        "inputs:\n  table: {type: string, default: words}\n"
        "steps:\n"
        "  - id: a\n    sql: VACUUM ANALYZE {{ inputs.table | ident }}; SELECT 1\n"
    )
    assert check_file(_write(tmp_path, text))[1] == []


def test_a_templated_url_start_may_be_absolute(tmp_path: Path) -> None:
    text = HEAD + (
        "inputs:\n  base: {type: string, default: 'https://x.example'}\n"
        "steps:\n  - id: a\n    http: GET {{ inputs.base }}/health\n"
    )
    assert check_file(_write(tmp_path, text))[1] == []


def test_load_runbook_raises_every_error_at_once(tmp_path: Path) -> None:
    from vvrun.errors import EXIT_INVALID, RunbookInvalid
    from vvrun.language.pipeline import load_runbook

    text = HEAD + "steps:\n  - id: a\n    shell: echo {{ inputs.x }}\n  - id: a\n    sql: x\n"
    with pytest.raises(RunbookInvalid) as info:
        load_runbook(_write(tmp_path, text))
    assert info.value.exit_code == EXIT_INVALID
    assert sorted(p.code for p in info.value.problems) == [
        "duplicate-id", "no-connection", "sql-syntax", "unknown-input"]
    assert "rb.yaml:6:20: error: unknown input 'x'" in str(info.value)
