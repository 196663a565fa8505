"""YAML mistakes as an author sees them: the real line and column, the source line, a caret
under the column, and a hint that says `tab` when a tab is the cause (SPEC §8)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CASES = {
    "tab": ("version: 1\nname: t\ntitle: T\nsteps:\n  - id: a\n\tshell: echo hi\n",
            "6:1", ["  6 |  shell: echo hi", "    | ^"], "tab"),
    "quote": ('version: 1\nname: t\ntitle: "T\nsteps:\n  - id: a\n    shell: echo hi\n',
              "3:8", ['  3 | title: "T', "    |        ^"], "not closed"),
    "colon": ("version: 1\nname: t\ntitle T\nsteps:\n  - id: a\n    shell: echo hi\n",
              "3:1", ["  3 | title T", "    | ^"], "ends with ':'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_yaml_mistake_points_at_its_line_with_a_caret(tmp_path: Path, case: str) -> None:
    text, position, snippet, hint = CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    out = subprocess.run([sys.executable, "-m", "vvrun", "validate", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    shown = out.stdout + out.stderr
    assert f"{path}:{position}: error: YAML syntax" in shown
    lines = shown.splitlines()
    first = lines.index(snippet[0])
    assert lines[first + 1].startswith(snippet[1])
    assert hint in shown and "Traceback" not in shown
