"""`vvrun runs`, `show`, `approve`, `unlock` through the real entry point, on SQLite and
PostgreSQL — and the four-eyes rule end to end with `vvrun run` and `vvrun resume`."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_state_support import DURABLE, Stores, make_stores, run_record
from vvrun.cli import main
from vvrun.results import Status, StepResult

HOST = socket.gethostname()


@pytest.fixture(params=DURABLE)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    yield from make_stores(request, tmp_path)


class Cli:
    def __init__(self, stores: Stores, monkeypatch: pytest.MonkeyPatch,
                 capsys: pytest.CaptureFixture[str]) -> None:
        self.stores, self.monkeypatch, self.capsys = stores, monkeypatch, capsys
        for name in ("VVRUN_STATE", "VVRUN_STATE_SCHEMA", "VVRUN_OPERATOR", "NO_COLOR"):
            monkeypatch.delenv(name, raising=False)
        for name, value in stores.env().items():
            monkeypatch.setenv(name, value)

    def __call__(self, *args: str, operator: str = "alice@h1") -> tuple[int, str, str]:
        self.monkeypatch.setenv("VVRUN_OPERATOR", operator)
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exit_:
            main(list(args))
        out, err = self.capsys.readouterr()
        return int(exit_.value.code or 0), out, err


@pytest.fixture
def cli(stores: Stores, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(stores, monkeypatch, capsys)


def _seed(stores: Stores) -> None:
    store = stores.open()
    store.create_run(run_record("260101-000001-aaaa", runbook="backup", status="succeeded",
                                started_at=1767225601.0, updated_at=1767225660.0))
    store.create_run(run_record("260101-000002-bbbb", status="paused", operator="carol@h3",
                                started_at=1767225602.0, updated_at=1767225700.0,
                                error="step 'escalate' waits for an operator"))
    store.step_finished("260101-000002-bbbb", "version", StepResult(
        "version", Status.SUCCEEDED, result={"value": "PostgreSQL 16.2"}, attempts=1,
        started_at=1767225603.0, ended_at=1767225603.25))
    store.step_finished("260101-000002-bbbb", "kill", StepResult(
        "kill", Status.FAILED, error="canceling statement due to statement timeout",
        attempts=3, started_at=1767225604.0, ended_at=1767225634.0))
    for kind, data, operator in (
        ("run_started", {"runbook": "db-emergency"}, "carol@h3"),
        ("confirmed", {"step_id": "kill", "action_hash": "c0ffee" * 10, "by": "carol@h3"},
         "carol@h3"),
        ("acknowledged", {"step_id": "escalate", "fields": {"ticket_url": "https://t/1"},
                          "notes": "provider called back"}, "dave@h4"),
    ):
        store.append_event("260101-000002-bbbb", kind, data, operator=operator, host="h3")


# -- runs ------------------------------------------------------------------------------------

def test_runs_lists_newest_first(cli: Cli) -> None:
    _seed(cli.stores)
    code, out, err = cli("runs")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "RUNBOOK", "STATUS", "OPERATOR", "STARTED", "UPDATED"]
    assert lines[1].split()[:4] == ["260101-000002-bbbb", "db-emergency", "paused", "carol@h3"]
    assert lines[2].split()[:4] == ["260101-000001-aaaa", "backup", "succeeded", "alice@h1"]
    assert "2026-01-01 00:00:01Z" in lines[2]


def test_runs_filters_and_json(cli: Cli) -> None:
    _seed(cli.stores)
    code, out, _ = cli("runs", "--runbook", "backup", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [r["id"] for r in data] == ["260101-000001-aaaa"]
    assert "source" not in data[0] and data[0]["locks"] == ["db-emergency"]
    code, out, _ = cli("runs", "--status", "paused", "--limit", "1")
    assert "260101-000002-bbbb" in out and "aaaa" not in out
    code, out, _ = cli("runs", "--status", "running")
    assert (code, out.strip()) == (0, "no running runs recorded yet")


# -- show ------------------------------------------------------------------------------------

def test_show_text_has_the_run_and_its_steps(cli: Cli) -> None:
    _seed(cli.stores)
    code, out, _ = cli("show", "260101-000002-bbbb")
    assert code == 0
    assert out.startswith("run 260101-000002-bbbb: db-emergency — paused\n")
    assert "operator  carol@h3" in out
    assert "error     step 'escalate' waits for an operator" in out
    rows = [line.split(None, 5) for line in out.splitlines() if line.startswith(("version",
                                                                               "kill"))]
    assert rows[0][:5] == ["version", "succeeded", "1", "250", "ms"]
    assert rows[1][:5] == ["kill", "failed", "3", "30", "s"]
    assert "canceling statement due to statement timeout" in rows[1][5]
    assert "audit" not in out  # the trail only with --events


def test_show_events_prints_the_trail_and_verifies_it(cli: Cli) -> None:
    _seed(cli.stores)
    code, out, _ = cli("show", "260101-000002-bbbb", "--events")
    assert code == 0
    assert "step `kill` confirmed by carol@h3 (action c0ffeec0ffee)" in out
    assert "dave@h4" in out and "ticket_url = https://t/1" in out
    assert out.rstrip().endswith("audit trail: 3 events, hash chain verifies")


def test_show_finds_an_edited_trail_and_fails(cli: Cli) -> None:
    _seed(cli.stores)
    if cli.stores.kind == "sqlite":
        conn = sqlite3.connect(cli.stores.path)
        conn.execute("UPDATE events SET operator = 'mallory' WHERE n = 2")
        conn.commit()
        conn.close()
    else:
        with cli.stores.open().raw().cursor() as cur:
            cur.execute(f'UPDATE "{cli.stores.schema}".events SET operator = %s WHERE n = 2',
                        ("mallory",))
    code, out, _ = cli("show", "260101-000002-bbbb", "--events")
    assert code == 1
    assert ("audit trail: does NOT verify — 1 problem(s) in 3 events; it was edited after it "
            "was written") in out
    assert ("  - event 2 (confirmed): its content does not match its keyed hash (it was "
            "changed, or written without the audit key)") in out
    code, out, _ = cli("show", "260101-000002-bbbb")  # said even without --events
    assert code == 1 and "does NOT verify" in out
    code, out, _ = cli("show", "260101-000002-bbbb", "--format", "json")
    assert json.loads(out)["chain"]["verified"] is False


def test_show_json(cli: Cli) -> None:
    _seed(cli.stores)
    code, out, _ = cli("show", "260101-000002-bbbb", "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["run"]["status"] == "paused"
    assert [s["step_id"] for s in data["steps"]] == ["version", "kill"]
    assert [e["kind"] for e in data["events"]] == ["run_started", "confirmed", "acknowledged"]
    assert data["chain"] == {"verified": True, "problems": []}


def test_show_markdown_is_an_incident_timeline(cli: Cli) -> None:
    _seed(cli.stores)
    code, out, _ = cli("show", "260101-000002-bbbb", "--format", "markdown")
    assert code == 0
    assert out.startswith("# Incident timeline: db-emergency (run 260101-000002-bbbb)\n")
    assert "- **People:** carol@h3, dave@h4" in out
    assert "## Timeline (UTC)" in out and "| time | who | what |" in out
    assert "## Decisions, approvals and acknowledgements" in out
    assert "**dave@h4**: step `escalate` acknowledged: ticket_url = https://t/1" in out
    assert "  > provider called back" in out
    assert "| `kill` | failed | 3 |" in out
    assert "audit trail: 3 events, hash chain verifies." in out


def test_show_an_unknown_run(cli: Cli) -> None:
    _seed(cli.stores)
    code, out, err = cli("show", "260101-000009-zzzz")
    assert (code, out) == (2, "")
    assert err == ("vvrun: no run with id '260101-000009-zzzz' in the state store\n"
                   "  hint: list runs with `vvrun runs` (latest: 260101-000002-bbbb, "
                   "260101-000001-aaaa)\n")


# -- approve ---------------------------------------------------------------------------------

def test_approve_refuses_a_request_that_does_not_match_its_hash(cli: Cli) -> None:
    _seed(cli.stores)
    # the attack: edit what the run asked approval for, so the approver signs something else
    cli.stores.open().append_event("260101-000002-bbbb", "approval_requested", {
        "step_id": "kill", "attempt": 1, "type": "sql", "body": "SELECT 1", "target": None,
        "params": [], "action_hash": "c0ffee" * 10, "approvers": {"count": 2, "group": None}},
        operator="mallory", host="h6")
    code, _, err = cli("approve", "260101-000002-bbbb", "kill", "--yes", operator="bob@h2")
    assert code == 1
    assert err.startswith("vvrun: run 260101-000002-bbbb: the action recorded for step 'kill' "
                          "does not match its hash (the audit trail was altered); nothing was "
                          "signed\n")
    kinds = [e["kind"] for e in cli.stores.open().events("260101-000002-bbbb")]
    assert "approval_signed" not in kinds


def test_approve_with_nothing_pending(cli: Cli) -> None:
    _seed(cli.stores)
    code, _, err = cli("approve", "260101-000002-bbbb", "version")
    assert code == 2
    assert err.startswith("vvrun: run 260101-000002-bbbb: nothing waits for approval at step "
                          "'version' (step 'version' has not asked for approvals)\n")
    code, _, err = cli("approve", "260101-000001-aaaa", "x")
    assert code == 2 and "(the run has succeeded)" in err
    code, _, err = cli("approve", "nope", "x")
    assert code == 2 and "no run with id 'nope'" in err


# -- unlock ----------------------------------------------------------------------------------

def test_unlock_breaks_and_audits(cli: Cli) -> None:
    store = cli.stores.open()
    store.create_run(run_record("260101-000003-cccc"))
    store.acquire_locks("260101-000003-cccc", ("pg:db1",), operator="carol@h3",
                        host="other-host", pid=4242, ttl=60)
    code, out, err = cli("unlock", "pg:db1", "--why", "other-host was rebooted",
                         operator="bob@h2")
    assert (code, err) == (0, "")
    assert out.startswith("broke lock 'pg:db1' held by run 260101-000003-cccc (carol@h3 on "
                          "other-host, pid 4242, since ")
    assert "vvrun resume 260101-000003-cccc" in out
    assert store.lock_info("pg:db1") is None
    event = store.events("260101-000003-cccc")[-1]
    assert (event["kind"], event["operator"], event["data"]["why"]) == (
        "lock_broken", "bob@h2", "other-host was rebooted")


def test_unlock_refuses_a_live_holder_here_unless_forced(cli: Cli) -> None:
    store = cli.stores.open()
    store.acquire_locks("r-live", ("k",), operator="carol", host=HOST, pid=os.getpid(), ttl=60)
    code, _, err = cli("unlock", "k", "--why", "stuck")
    assert code == 1
    assert "is still running on this host" in err and "--force" in err
    code, _, _ = cli("unlock", "k", "--why", "stuck", "--force")
    assert code == 0 and store.lock_info("k") is None


def test_unlock_errors(cli: Cli) -> None:
    store = cli.stores.open()
    store.acquire_locks("r1", ("held-one",), operator="c", host="x", pid=1, ttl=60)
    code, _, err = cli("unlock", "nope", "--why", "x")
    assert (code, err) == (2, "vvrun: no lock named 'nope' is held\n  hint: held locks: "
                              "held-one\n")
    code, _, err = cli("unlock", "held-one", "--why", "  ")
    assert code == 2 and "--why must say why" in err
    code, _, err = cli("unlock", "held-one")
    assert code == 2 and "--why" in err


# -- four eyes, end to end -------------------------------------------------------------------

def test_four_eyes_through_run_approve_resume(stores: Stores, tmp_path: Path) -> None:
    from tests.identity_keys import make_key, pub_text, write_signers

    book = tmp_path / "fix.yaml"
    marker = tmp_path / "done.txt"
    book.write_text(textwrap.dedent(f"""\
        version: 1
        name: four-eyes-{stores.kind}
        title: Four eyes
        steps:
          - id: fix
            danger: true
            approvers: 2
            shell: echo fixed >> {marker}
        """))
    keys = {n: make_key(tmp_path, n) for n in ("alice", "bob")}
    signers = write_signers(tmp_path / "allowed_signers",
                            *(f"{n}@example.com {pub_text(k)}" for n, k in keys.items()))

    def vvrun(*args: str, operator: str, key: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **stores.env(), "VVRUN_OPERATOR": operator,
               "VVRUN_SIGNING_KEY": str(keys[key]), "VVRUN_ALLOWED_SIGNERS": str(signers)}
        return subprocess.run([sys.executable, "-m", "vvrun", *args], env=env, text=True,
                              capture_output=True, stdin=subprocess.DEVNULL, check=False)

    first = vvrun("run", str(book), "--yes", operator="alice@h1", key="alice")
    assert first.returncode == 3, first.stderr
    run_id = stores.open().list_runs(limit=1)[0].id
    # the same person again, whatever name they give: refused
    assert vvrun("approve", run_id, "fix", "--yes", operator="bob@h2",
                 key="alice").returncode == 1
    approved = vvrun("approve", run_id, "fix", "--yes", operator="bob@h2", key="bob")
    assert approved.returncode == 0, approved.stderr
    assert not marker.exists()
    done = vvrun("resume", run_id, "--yes", operator="alice@h1", key="alice")
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "fixed\n"
    shown = vvrun("show", run_id, "--format", "markdown", operator="alice@h1", key="alice")
    assert "**bob@h2**: step `fix` approval signed as bob@example.com" in shown.stdout
    assert "hash chain verifies" in shown.stdout


def test_history_commands_load_no_driver(tmp_path: Path) -> None:
    code = ("import sys\nfrom vvrun.cli import main\n"
            "for args in (['runs'], ['show', 'nope']):\n"
            "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
            "print('LOADED', [m for m in ('psycopg', 'redis', 'httpx') if m in sys.modules])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "VVRUN_STATE": str(tmp_path / "s.db")},
                          check=False)
    assert proc.stdout.strip().splitlines()[-1] == "LOADED []", proc.stderr
