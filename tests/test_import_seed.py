"""`vvrun import` on the seed: every procedure section found, each validates --strict."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from vvrun.cli import cli

HERE = Path(__file__).parent / "import"
GOLDEN = HERE / "golden"

# Read from the seed by hand: each heading whose own text holds commands or numbered steps.
# Sections of only prose, tables, diagrams, YAML alert rules or `NAME=value` listings
# (Overview, System Architecture, Performance Metrics, Alert Configuration, Contact
# Information) are not procedures.
SEED_SLUGS = [
    "morning-checklist", "weekly-checklist", "monthly-checklist",
    "deploy-to-production", "rollback-deployment", "scale-application",
    "connect-to-database", "run-database-migration", "database-backup", "database-vacuum",
    "redis-cache", "vercel-edge-cache",
    "check-user-account", "reset-user-password", "delete-user-account",
    "application-health", "monitoring-dashboards", "viewing-logs",
    "high-response-times", "high-error-rate", "database-connection-pool-exhausted",
    "cache-not-working", "ssl-certificate-issues",
    "preparation", "during-maintenance", "post-maintenance",
    "weekly-maintenance", "monthly-maintenance", "rotate-secrets", "security-audit",
    "complete-site-down", "database-emergency", "security-breach",
    "quick-reference", "database-queries",
]


def run_import(src: Path, out: Path, *extra: str):
    return CliRunner().invoke(cli, ["import", str(src), "--out", str(out), *extra],
                              catch_exceptions=False)


@pytest.fixture(scope="module")
def seed_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("seed")
    result = run_import(HERE / "seed.md", out)
    assert result.exit_code == 0, result.output
    return out


def test_every_procedure_section_becomes_one_runbook(seed_out: Path) -> None:
    assert sorted(p.stem for p in seed_out.glob("*.yaml")) == sorted(SEED_SLUGS)


def test_every_imported_runbook_validates_strict(seed_out: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", "--strict", str(seed_out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"{len(SEED_SLUGS)} files, 0 errors, 0 warnings")


def test_ids_are_unique_and_well_formed(seed_out: Path) -> None:
    for path in seed_out.glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        ids = [s["id"] for s in data["steps"]]
        assert len(ids) == len(set(ids)), path
        assert all(re.fullmatch(r"[a-z][a-z0-9_]*", i) for i in ids), (path, ids)
        assert data["name"] == path.stem and data["version"] == 1


def test_destructive_commands_are_danger(seed_out: Path) -> None:
    def step(name: str, sid: str) -> dict:
        data = yaml.safe_load((seed_out / f"{name}.yaml").read_text())
        return next(s for s in data["steps"] if s["id"] == sid)

    assert step("redis-cache", "clear_all_cache") == {
        "id": "clear_all_cache", "title": "Clear all cache (caution!)", "danger": True,
        "redis": "FLUSHDB"}
    # DEL does not expand a pattern: the document's intent is a SCAN + UNLINK
    assert step("redis-cache", "clear_specific_cache")["redis"] == {
        "delete_pattern": "cache:words:*"}
    assert step("monthly-maintenance", "clean_up_old_data")["danger"] is True
    assert step("database-emergency", "kill_problematic_queries")["danger"] is True
    assert step("delete-user-account", "soft_delete")["danger"] is True
    assert "danger" not in step("database-emergency", "check_database_status")


def test_alternatives_become_a_choice(seed_out: Path) -> None:
    data = yaml.safe_load((seed_out / "rollback-deployment.yaml").read_text())
    steps = {s["id"]: s for s in data["steps"]}
    assert steps["choose_an_option"]["manual"]["record"] == [
        {"name": "option", "choices": ["1", "2", "3"]}]
    assert steps["option_3_git_revert"]["when"] == \
        "steps.choose_an_option.result.fields.option == '3'"
    assert "when" not in steps["verify_rollback"]  # after the options: always runs
    assert data["inputs"]["deployment_url"] == {
        "type": "string", "description": "The document's placeholder [deployment-url].",
        "pattern": r"^[^-\s]"}  # a value the operator types, never an option


def test_connection_urls_come_from_secret_inputs(seed_out: Path) -> None:
    data = yaml.safe_load((seed_out / "high-response-times.yaml").read_text())
    assert data["inputs"]["database_url"]["env"] == "DATABASE_URL"
    assert data["inputs"]["database_url"]["secret"] is True
    assert data["connections"] == {"db": {"postgres": "{{ inputs.database_url }}"}}
    # `redis-cli --latency` runs until Ctrl-C: a manual step, so no redis connection
    latency = next(s for s in data["steps"] if s["id"] == "check_redis_latency")
    assert latency["manual"]["instructions"].endswith("redis-cli -u $REDIS_URL --latency")


@pytest.mark.parametrize("name", ["redis-cache", "database-connection-pool-exhausted",
                                  "deploy-to-production"])
def test_matches_golden(seed_out: Path, name: str) -> None:
    text = (seed_out / f"{name}.yaml").read_text().replace(str(HERE / "seed.md"), "seed.md")
    golden = GOLDEN / f"seed-{name}.yaml"
    if os.environ.get("VVRUN_REGEN_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text()
