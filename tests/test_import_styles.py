"""`vvrun import` on Markdown written in other common styles: numbered lists of commands,
`psql -c`, `redis-cli`, `curl`, nested bullets, console prompts, sub-headings as steps."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from vvrun.cli import cli

HERE = Path(__file__).parent / "import"
GOLDEN = HERE / "golden"


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("styles")
    result = CliRunner().invoke(cli, ["import", str(HERE / "styles.md"), "--out", str(folder)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return folder


def load(out: Path, name: str) -> tuple[dict, dict]:
    data = yaml.safe_load((out / f"{name}.yaml").read_text())
    return data, {s["id"]: s for s in data["steps"]}


def test_procedures_found_and_valid(out: Path) -> None:
    assert sorted(p.stem for p in out.glob("*.yaml")) == [
        "clean-up-old-orders", "reset-a-user-s-password",
        "restart-the-worker", "restore-the-cache-after-a-failover"]
    result = CliRunner().invoke(cli, ["validate", "--strict", str(out)])
    assert result.exit_code == 0, result.output


def test_numbered_list_with_redis_cli(out: Path) -> None:
    data, steps = load(out, "restore-the-cache-after-a-failover")
    assert data["title"] == "🚨 Restore the cache after a failover!"
    assert data["description"].startswith("When the primary Redis fails over")
    # inline code in a list item; -h/-p make the connection
    assert steps["check_the_replica_answers"]["title"] == "Check the replica answers"
    assert steps["check_the_replica_answers"]["redis"] == {"command": "PING",
                                                           "connection": "cache"}
    assert data["connections"]["cache"] == {"redis": "redis://cache-replica.internal:6379/0"}
    assert data["connections"]["cache2"] == {"redis": "{{ inputs.cache_url }}"}
    assert data["inputs"]["cache_url"] == {
        "type": "string", "description": "Taken from $CACHE_URL, as the document uses it.",
        "env": "CACHE_URL", "secret": True}
    assert steps["del"]["redis"] == {"delete_pattern": "session:*", "connection": "cache2"}
    assert steps["del"]["danger"] is True
    # KEYS would block the server: the import walks with SCAN instead
    assert steps["keys"]["shell"]["run"] == "redis-cli -u \"$CACHE_URL\" --scan --pattern 'user:*'"
    assert steps["keys"]["shell"]["env"] == {"CACHE_URL": "{{ inputs.cache_url }}"}
    # nested bullets stay one manual step, nesting kept
    assert steps["tell_the_team_in_ops"]["manual"] == (
        "Tell the team in #ops\n\n- post the replica name\n- post the time of the failover\n"
        "  - with the timezone")


def test_curl_becomes_http_when_unambiguous(out: Path) -> None:
    data, steps = load(out, "reset-a-user-s-password")
    assert steps["request_a_reset_link"]["http"] == {
        "method": "POST", "url": "https://api.example.com/v1/auth/reset",
        "headers": {"Authorization": "Bearer {{ inputs.admin_token }}"},
        "json": {"email": "user@example.com"}}
    assert steps["request_a_reset_link"]["danger"] is True
    assert data["inputs"]["admin_token"]["secret"] is True
    assert steps["confirm_the_service_is_healthy"]["http"] == \
        "GET https://api.example.com/health"
    # an option the importer does not translate exactly: left as the shell command
    assert steps["fetch_the_audit_log_with_a_query_curl"]["shell"] == \
        "curl --retry 3 https://api.example.com/v1/audit"


def test_psql_and_literal_passwords(out: Path) -> None:
    text = (out / "clean-up-old-orders.yaml").read_text()
    assert "hunter2" not in text
    assert "# review: a literal password was written here" in text
    data, steps = load(out, "clean-up-old-orders")
    assert data["inputs"]["database_url"]["env"] == "DATABASE_URL"
    assert data["inputs"]["database_url"]["secret"] is True
    assert steps["count_what_would_go"]["sql"]["connection"] == "db"
    assert "danger" not in steps["count_what_would_go"]
    assert steps["delete_it"]["sql"] == {
        "query": "DELETE FROM orders WHERE created_at < now() - interval '2 years'",
        "connection": "db2"}
    assert data["connections"]["db2"] == {"postgres": "postgresql://ops@db.internal/orders"}
    assert steps["delete_it"]["danger"] is True
    assert steps["delete_it_2"] == {"id": "delete_it_2", "title": "Delete it", "danger": True,
                                    "shell": "rm -rf /var/cache/orders/*"}
    # a ```sql fence split at its -- comments; sub-headings title the steps
    assert steps["reclaim_space"]["title"] == "Vacuum — Reclaim space"
    assert steps["rebuild_statistics"]["sql"]["query"] == "ANALYZE"


def test_console_prompts(out: Path) -> None:
    _, steps = load(out, "restart-the-worker")
    assert [s.get("shell") for s in steps.values()] == [
        "systemctl status worker", "sudo systemctl restart worker",
        "kill -HUP $(cat /run/worker.pid)", None]
    assert steps["sudo_systemctl_restart"]["danger"] is True
    assert steps["kill_hup_cat"]["danger"] is True
    assert steps["read"]["manual"].startswith("Afterwards, watch the error rate")


def test_every_guess_is_a_review_comment(out: Path) -> None:
    text = (out / "restore-the-cache-after-a-failover.yaml").read_text()
    lines = text.splitlines()
    i = lines.index("  - id: del")
    assert lines[i - 3].startswith("  # review: DEL does not expand patterns")
    assert lines[i - 2] == ("  # review: marked danger: it changes or deletes things; "
                            "confirm before it runs")
    assert "# review: built from redis-cli's -h/-p/-n options" in text


@pytest.mark.parametrize("name", ["clean-up-old-orders", "restore-the-cache-after-a-failover"])
def test_matches_golden(out: Path, name: str) -> None:
    text = (out / f"{name}.yaml").read_text().replace(str(HERE / "styles.md"), "styles.md")
    golden = GOLDEN / f"styles-{name}.yaml"
    if os.environ.get("VVRUN_REGEN_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text()


def test_template_syntax_in_the_document_stays_literal(tmp_path: Path) -> None:
    doc = tmp_path / "t.md"
    doc.write_text("## Print braces\n\n```bash\necho '{{ not a template }}' {% x %}\n```\n")
    result = CliRunner().invoke(cli, ["import", str(doc), "--out", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    plan = CliRunner().invoke(cli, ["plan", str(tmp_path / "print-braces.yaml")],
                              catch_exceptions=False)
    assert plan.exit_code == 0, plan.output
    assert "{{ not a template }}" in plan.output and "{% x %}" in plan.output
