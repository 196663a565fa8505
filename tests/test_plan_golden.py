"""Golden files: the Markdown plan of runbooks/db-emergency.yaml (and of SPEC §2's example),
byte for byte. After an intended change, regenerate with `VVRUN_REGEN_GOLDEN=1 pytest
tests/test_plan_golden.py` and review the diff like any other change."""

from __future__ import annotations

import os

import pytest
from test_plan import REPO, vv

GOLDEN = REPO / "tests" / "golden"

CASES = [
    ("runbooks/db-emergency.yaml", (), "db-emergency.plan.md", "markdown"),
    ("runbooks/db-emergency.yaml", ("--var", "stuck_after=10 minutes"),
     "db-emergency.10min.plan.md", "markdown"),
    ("runbooks/db-emergency.yaml", (), "db-emergency.plan.txt", "text"),
    ("tests/golden/spec-example.yaml", (), "spec-example.plan.md", "markdown"),
]


@pytest.mark.parametrize(("runbook", "args", "golden", "fmt"), CASES)
def test_plan_matches_its_golden_file(runbook: str, args: tuple[str, ...], golden: str,
                                      fmt: str, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    # an environment with secrets in it: the golden file proves none of them shows
    env = {"DATABASE_URL": "postgresql://app:golden-password@db.internal:5432/app",
           "GITHUB_TOKEN": "ghp_golden_token_value"}
    result = vv("plan", runbook, "--format", fmt, *args, env=env)
    assert result.exception is None, result.exception
    path = GOLDEN / golden
    if os.environ.get("VVRUN_REGEN_GOLDEN") == "1":
        path.write_text(result.stdout, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert result.stdout == expected, (
        f"the plan differs from {path.relative_to(REPO)}; if the change is intended, "
        "regenerate with VVRUN_REGEN_GOLDEN=1 and review the diff")
    assert "golden-password" not in expected and "ghp_golden" not in expected
    assert "db.internal" not in expected
