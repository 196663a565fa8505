"""`approvers: 2` over a dangerous loop: the whole table of items is signed once, by each
approver — real processes, real ed25519 keys, the real PostgreSQL."""

from __future__ import annotations

import re
import textwrap

from tests.test_approvals_cli import World, pytestmark, world  # noqa: F401 (fixture, skips)


def _loop_book(world: World) -> None:  # noqa: F811
    world.book.write_text(textwrap.dedent(f"""\
        version: 1
        name: signed-loop-{world.table.replace('_', '-')}
        title: Signed loop
        inputs:
          database_url: {{type: string, env: DATABASE_URL, secret: true}}
          labels: {{type: list, default: [one, two, three]}}
        connections:
          db: {{postgres: "{{{{ inputs.database_url }}}}"}}
        steps:
          - id: fix
            danger: true
            approvers: 2
            for_each: inputs.labels
            sql: INSERT INTO {world.table} (label) VALUES ({{{{ item }}}})
        """))


def test_two_signatures_over_the_whole_table_run_every_item(world: World) -> None:  # noqa: F811
    _loop_book(world)
    first = world.vv("run", str(world.book), "--yes", key="alice")
    assert first.returncode == 3, first.stdout + first.stderr
    assert "waits for approvals: needs 2 approvals by different people" in first.stdout
    run_id = re.findall(r"run (\S+) paused", first.stdout)[-1]
    assert world.labels() == []

    approved = world.vv("approve", run_id, "fix", "--yes", operator="bob", key="bob")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    # bob read and signed every item's action, as one table
    assert "dangerous step 'fix', 3 items" in approved.stdout
    for i, label in enumerate(("one", "two", "three")):
        assert f"fix[{i}] | INSERT INTO {world.table} (label) VALUES ($1) | $1 = '{label}'" \
            in approved.stdout

    done = world.vv("resume", run_id, key="alice")
    assert done.returncode == 0, done.stdout + done.stderr
    assert world.labels() == ["one", "two", "three"]
    signed = world.events(run_id, "approval_signed")
    assert [(e["data"]["step_id"], e["data"]["principal"]) for e in signed] == [
        ("fix", "alice@example.com"), ("fix", "bob@example.com")]
