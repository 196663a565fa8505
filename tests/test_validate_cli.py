"""`vvrun validate` and `vvrun schema` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from vvrun.cli import cli

GOOD = "version: 1\nname: ok\ntitle: OK\nsteps:\n  - id: a\n    shell: 'true'\n"
WARN = "version: 1\nname: w\ntitle: W\nsteps:\n  - id: a\n    shell: rm -rf /tmp/x\n"
BAD = ("version: 1\nname: bad\ntitle: Bad\nsteps:\n  - id: a\n    shell: 'true'\n"
       "    tiemout: 5s\n  - id: a\n    shell: 'true'\n")


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "sub" / "warn.yml").write_text(WARN)
    (tmp_path / "notes.txt").write_text("not yaml")
    return tmp_path


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_clean_files_exit_0_with_a_summary(tmp_path: Path) -> None:
    _tree(tmp_path)
    result = _run("validate", str(tmp_path))
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[-1] == "2 files, 0 errors, 1 warning"
    assert lines[0] == (f"{tmp_path}/sub/warn.yml:6:12: warning: rm -rf deletes files "
                        "recursively; the step is not marked `danger: true` [a] (hint: add "
                        "`danger: true` so the operator confirms first (plans flag it too))")


def test_a_folder_walk_passes_over_ci_workflows_but_a_named_one_is_checked(
    tmp_path: Path,
) -> None:
    _tree(tmp_path)
    workflow = tmp_path / "ci" / "plan.yml"
    workflow.parent.mkdir()
    workflow.write_text("name: plan\non: pull_request\njobs:\n  plan:\n    runs-on: x\n")
    assert _run("validate", str(tmp_path)).output.splitlines()[-1] == (
        "2 files, 0 errors, 1 warning")
    named = _run("validate", str(workflow))
    assert named.exit_code == 2 and "unknown key 'jobs'" in named.output


def test_strict_makes_warnings_errors(tmp_path: Path) -> None:
    _tree(tmp_path)
    result = _run("validate", "--strict", str(tmp_path))
    assert result.exit_code == 2
    assert ": error: rm -rf" in result.output
    assert result.output.splitlines()[-1] == "2 files, 1 error, 0 warnings"


def test_errors_exit_2_and_every_problem_is_listed(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    result = _run("validate", str(path), str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"{tmp_path}/missing.yaml: error: no such file or folder (hint: give runbook files "
        "or folders)",
        f"{path}:7:5: error: unknown key 'tiemout' in the step — did you mean 'timeout'? [a]",
        f"{path}:8:9: error: duplicate step id 'a' (first at line 5) [a] (hint: step ids "
        "must be unique: rename one of them)",
        "1 file, 3 errors, 0 warnings",
    ]


def test_json_format(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    result = _run("validate", "--format", "json", str(path))
    assert result.exit_code == 2
    doc = json.loads(result.output)
    assert (doc["files"], doc["errors"], doc["warnings"]) == (1, 2, 0)
    assert doc["problems"][0] == {
        "file": str(path), "line": 7, "column": 5, "step": "a", "severity": "error",
        "code": "unknown-key", "message": "unknown key 'tiemout' in the step — did you mean "
        "'timeout'?", "hint": None}


def test_github_format(tmp_path: Path) -> None:
    path = tmp_path / "w,1.yaml"
    path.write_text(WARN)
    result = _run("validate", "--format", "github", str(path))
    assert result.exit_code == 0
    first = result.output.splitlines()[0]
    assert first.startswith(f"::warning file={tmp_path}/w%2C1.yaml,line=6,col=12,"
                            "title=vvrun danger::rm -rf deletes files recursively")
    assert "%0Ahint: add `danger: true`" in first


def test_a_broken_file_never_gives_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(b"steps: [\xff\n")
    proc = subprocess.run([sys.executable, "-m", "vvrun", "validate", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    assert f"{path}:1:9: error: the file is not valid UTF-8" in proc.stdout


def test_no_paths_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 2
    assert "Missing argument" in result.output


def test_schema_command_prints_the_committed_schema() -> None:
    result = _run("schema")
    assert result.exit_code == 0
    committed = Path(__file__).resolve().parent.parent / "schema" / "runbook.schema.json"
    assert result.output == committed.read_text()


def test_the_corpus_through_the_cli(tmp_path: Path) -> None:
    corpus = Path(__file__).parent / "invalid"
    result = _run("validate", "--format", "json", str(corpus))
    doc = json.loads(result.output)
    assert result.exit_code == 2
    assert doc["files"] == len(list(corpus.glob("*.yaml")))
    assert {p["file"] for p in doc["problems"]} == {str(p) for p in corpus.glob("*.yaml")}


def test_reference_doc_is_current() -> None:
    result = _run("schema", "--format", "markdown")
    assert result.exit_code == 0
    committed = Path(__file__).resolve().parent.parent / "docs" / "reference.md"
    assert result.output == committed.read_text(), (
        "docs/reference.md is stale: run `vvrun schema --format markdown > docs/reference.md`")
    for key in ("`statement_timeout`", "`for_each`", "`approvers`", "`delete_pattern`",
                "`type_to_confirm`", "`verify`", "`locks`"):
        assert key in result.output
