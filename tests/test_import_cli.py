"""`vvrun import` at the command line: summary, --force, and bad input as one clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from vvrun.cli import cli

HERE = Path(__file__).parent / "import"
PROC = "## Check the cache\n\n```bash\nredis-cli -u $REDIS_URL PING\n```\n"


def vvrun(*args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point in a subprocess: exit codes and messages as an operator sees them."""
    return subprocess.run([sys.executable, "-m", "vvrun", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "VVRUN_DEBUG": ""})


def test_summary_lists_each_file_its_steps_and_reviews(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["import", str(HERE / "styles.md"), "--out", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == [str(tmp_path / "restore-the-cache-after-a-failover.yaml"),
                                "5", "steps", "9", "to", "review"]
    assert lines[-1] == ("4 runbooks written, 30 review notes: read each `# review:` comment, "
                         "then `vvrun validate --strict`")
    assert len(lines) == 5


def test_default_out_is_the_current_folder(tmp_path: Path, monkeypatch) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(PROC)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["import", "doc.md"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "check-the-cache.yaml").is_file()
    assert "1 step " in result.output and "1 runbook written" in result.output


def test_never_overwrites_without_force(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(PROC)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "check-the-cache.yaml"
    target.write_text("mine\n")
    proc = vvrun("import", str(doc), "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr == (f"vvrun: {target} already exists; nothing was written\n"
                           "  hint: pass --force to overwrite, or --out another folder\n")
    assert target.read_text() == "mine\n"
    proc = vvrun("import", str(doc), "--out", str(out), "--force")
    assert proc.returncode == 0, proc.stderr
    assert "redis: PING" in target.read_text()
    assert [p.name for p in out.iterdir()] == ["check-the-cache.yaml"]  # no temp file left


def test_a_file_without_procedures_says_what_one_is(tmp_path: Path) -> None:
    proc = vvrun("import", str(HERE / "noproc.md"), "--out", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"vvrun: {HERE / 'noproc.md'}: no procedure found\n  hint: ")
    assert list(tmp_path.iterdir()) == []


def test_not_utf8_names_the_byte_offset(tmp_path: Path) -> None:
    doc = tmp_path / "latin1.md"
    doc.write_bytes(PROC.encode() + "## Café\n".encode("latin-1"))
    proc = vvrun("import", str(doc), "--out", str(tmp_path))
    assert proc.returncode == 2
    offset = len(PROC.encode()) + len("## Caf")
    assert proc.stderr == (f"vvrun: {doc} is not valid UTF-8: byte 0xe9 at offset {offset} "
                           "(line 6)\n  hint: save the file as UTF-8\n")


def test_huge_file_is_refused(tmp_path: Path) -> None:
    doc = tmp_path / "huge.md"
    doc.write_text(PROC + "x" * (1024 * 1024))
    proc = vvrun("import", str(doc), "--out", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"vvrun: {doc} is larger than 1024 KiB\n")
    assert "Traceback" not in proc.stderr


def test_missing_file_and_folder_as_file(tmp_path: Path) -> None:
    proc = vvrun("import", str(tmp_path / "nope.md"))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"vvrun: cannot read {tmp_path / 'nope.md'}: ")
    proc = vvrun("import", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"vvrun: {tmp_path} is not a regular file")


def test_markdown_parser_is_loaded_only_by_an_import() -> None:
    code = ("import sys, vvrun.cli, vvrun.commands.import_md, vvrun.language.importer; "
            "print('markdown_it' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert proc.stdout.strip() == "False"
