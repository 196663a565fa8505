"""The teaching examples: each validates, plans, and runs end to end against the real
servers of the test world (PostgreSQL, Redis, the local API) or plain bash."""

from __future__ import annotations

import subprocess

import pytest
from world.harness import EXAMPLES, REPO, VVRUN, World, json_events

pytest_plugins = ["world.fixtures"]  # the `world` fixtures

ALL = sorted(p.name for p in EXAMPLES.glob("*.yaml"))

FEATURES = {"quickstart.yaml", "inputs.yaml", "when.yaml", "retry-until.yaml",
            "expect-outputs.yaml", "on-failure.yaml", "sql.yaml", "redis.yaml", "http.yaml",
            "shell.yaml", "confirm.yaml", "manual.yaml", "secrets.yaml", "locks.yaml",
            "approvers.yaml", "for-each.yaml", "groups.yaml", "stop.yaml", "runbook-call.yaml",
            "key-lookup.yaml", "danger-loop.yaml"}


def _vvrun(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VVRUN, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)


def test_one_example_per_feature() -> None:
    assert set(ALL) >= FEATURES


def test_examples_validate_strictly() -> None:
    proc = _vvrun("validate", "--strict", *(f"examples/{n}" for n in ALL))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(ALL)} files, 0 errors, 0 warnings" in proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ALL)
def test_example_plans(name: str) -> None:
    proc = _vvrun("plan", f"examples/{name}")
    assert proc.returncode == 0, proc.stderr
    text = (EXAMPLES / name).read_text()
    assert text.startswith("# yaml-language-server: $schema=../schema/runbook.schema.json\n")


def _ex(name: str) -> str:
    return str(EXAMPLES / name)


def test_quickstart_runs_anywhere(world: World) -> None:
    out = world.run(_ex("quickstart.yaml"))
    assert out.status == "succeeded", out.error
    assert out.outputs("free_space")["mb"] >= 100
    assert out.status_of("tidy") == "succeeded"


def test_quickstart_fails_loudly(world: World) -> None:
    out = world.run(_ex("quickstart.yaml"), min_free_mb=10**12)
    assert out.exit_code == 1
    assert ">= inputs.min_free_mb" in out.step("free_space").error


def test_quickstart_through_the_cli(world: World) -> None:
    proc = world.cli("run", _ex("quickstart.yaml"), "--yes", "--output", "json")
    assert proc.returncode == 0, proc.stderr
    ended = [e for e in json_events(proc.stdout) if e["event"] == "run_ended"]
    assert ended[0]["status"] == "succeeded"


def test_inputs(world: World) -> None:
    out = world.run(_ex("inputs.yaml"), service="api", replicas="3", regions="iad1,sfo1",
                    dry="true")
    assert out.status == "succeeded", out.error
    stdout = out.result("show")["stdout"]
    assert "service=api" in stdout and "replicas=3" in stdout and "dry=True" in stdout
    assert "regions: iad1 sfo1" in stdout


def test_inputs_are_checked_before_anything_runs(world: World) -> None:
    proc = world.cli("run", _ex("inputs.yaml"), "--var", "since=yesterday")
    assert proc.returncode == 2
    assert "since" in proc.stderr
    proc = world.cli("run", _ex("inputs.yaml"), "--var", "service=db")
    assert proc.returncode == 2
    assert "web, api, worker" in proc.stderr or "one of" in proc.stderr


def test_when(world: World) -> None:
    out = world.run(_ex("when.yaml"))
    assert out.status == "succeeded", out.error
    assert out.status_of("many") == "succeeded"
    assert out.status_of("production_only") == "skipped"
    assert out.status_of("after_skip") == "succeeded"


def test_retry_until(world: World) -> None:
    out = world.run(_ex("retry-until.yaml"))
    assert out.status == "succeeded", out.error
    assert out.result("poll")["stdout"].strip() == "3"


def test_expect_outputs(world: World) -> None:
    out = world.run(_ex("expect-outputs.yaml"))
    assert out.status == "succeeded", out.error
    assert isinstance(out.outputs("load")["one_minute"], float)
    failed = world.run(_ex("expect-outputs.yaml"), max_load=-1)
    assert failed.exit_code == 1
    assert "< inputs.max_load" in failed.step("load").error


def test_on_failure(world: World) -> None:
    ok = world.run(_ex("on-failure.yaml"))
    assert ok.status == "succeeded", ok.error
    assert ok.status_of("optional_check") == "failed"
    assert ok.status_of("rollback") == "skipped"
    broken = world.run(_ex("on-failure.yaml"), break_change=True)
    assert broken.exit_code == 1
    assert broken.status_of("verify") == "skipped"
    assert broken.status_of("rollback") == "succeeded"


def test_sql(world: World) -> None:
    out = world.run(_ex("sql.yaml"), table="users")
    assert out.status == "succeeded", out.error
    assert out.outputs("count")["rows"] == 204
    assert out.result("in_a_transaction")["row"] == {"total": 55}


def test_sql_quotes_hostile_names(world: World) -> None:
    out = world.run(_ex("sql.yaml"), table="users; DROP TABLE users")
    assert out.exit_code == 1  # no such table: the name was one quoted identifier
    assert out.status_of("bound") == "succeeded"
    assert world.sql("SELECT count(*) FROM users") == [(204,)]


def test_redis(world: World) -> None:
    out = world.run(_ex("redis.yaml"), prefix=world.prefix)
    assert out.status == "succeeded", out.error
    assert world.redis().exists(world.prefix + "greeting") == 0


def test_http(world: World) -> None:
    out = world.run(_ex("http.yaml"))
    assert out.status == "succeeded", out.error
    assert world.api.reset_emails == ["user@example.com"]
    assert out.result("missing")["status"] == 404


def test_shell(world: World) -> None:
    out = world.run(_ex("shell.yaml"))
    assert out.status == "succeeded", out.error
    assert out.outputs("grep_nothing")["found"] is False
    assert out.status_of("pipefail") == "failed"


def test_confirm_with_yes_and_the_word(world: World) -> None:
    out = world.run(_ex("confirm.yaml"), confirm_word="example")
    assert out.status == "succeeded", out.error
    assert out.status_of("date") == "succeeded"


def test_confirm_no_continues_or_aborts(world: World) -> None:
    out = world.run(_ex("confirm.yaml"), yes=False, confirms=False)
    assert out.exit_code == 4  # `go` answered no


def test_confirm_pauses_without_a_terminal(world: World) -> None:
    proc = world.cli("run", _ex("confirm.yaml"))
    assert proc.returncode == 3
    assert "vvrun resume" in proc.stderr


def test_manual(world: World) -> None:
    out = world.run(_ex("manual.yaml"), fields={"error_rate": "0.4", "action": "restart"})
    assert out.status == "succeeded", out.error
    assert out.result("look")["fields"] == {"error_rate": "0.4"}
    assert out.status_of("restart") == "succeeded"


def test_manual_through_the_cli(world: World) -> None:
    first = world.cli("run", _ex("manual.yaml"), "--output", "json")
    assert first.returncode == 3, first.stderr
    run_id = next(e["run_id"] for e in json_events(first.stdout) if e["event"] == "run_started")
    second = world.cli("resume", run_id, "--ack", "look", "--field", "error_rate=0.2")
    assert second.returncode == 3, second.stderr
    third = world.cli("resume", run_id, "--ack", "decide", "--field", "action=leave")
    assert third.returncode == 0, third.stderr


def test_secrets_are_masked(world: World) -> None:
    proc = world.cli("run", _ex("secrets.yaml"), "--output", "json",
                     env={"API_TOKEN": "hunter2-very-secret"})
    assert proc.returncode == 0, proc.stderr
    assert "hunter2-very-secret" not in proc.stdout + proc.stderr
    assert "token of 19 characters" in proc.stdout
    assert "***" in proc.stdout


def test_locks(world: World) -> None:
    first = world.cli("run", _ex("locks.yaml"))
    assert first.returncode == 3  # paused at the confirm, still holding the lock
    second = world.cli("run", _ex("locks.yaml"))
    assert second.returncode == 5
    assert "library-tests" in second.stderr  # who holds it
    other_target = world.cli("run", _ex("locks.yaml"), "--var", "target=other")
    assert other_target.returncode == 5  # the runbook's own name is a lock too


def test_approvers_need_a_second_person(world: World) -> None:
    from tests.identity_keys import make_key, pub_text, write_signers

    keys = {n: make_key(world.tmp, n) for n in ("alice", "bob")}
    signers = write_signers(world.tmp / "allowed_signers",
                            *(f"{n}@example.com {pub_text(k)}" for n, k in keys.items()))

    def as_(who: str) -> dict[str, str]:
        return {"VVRUN_OPERATOR": who, "VVRUN_SIGNING_KEY": str(keys[who]),
                "VVRUN_ALLOWED_SIGNERS": str(signers)}

    first = world.cli("run", _ex("approvers.yaml"), "--yes", "--output", "json", env=as_("alice"))
    assert first.returncode == 3, first.stderr
    run_id = next(e["run_id"] for e in json_events(first.stdout) if e["event"] == "run_started")
    self_approval = world.cli("approve", run_id, "change", "--yes", env=as_("alice"))
    assert self_approval.returncode != 0
    approved = world.cli("approve", run_id, "change", "--yes", env=as_("bob"))
    assert approved.returncode == 0, approved.stderr
    done = world.cli("resume", run_id, "--yes", env=as_("alice"))
    assert done.returncode == 0, done.stderr


def test_for_each(world: World) -> None:
    out = world.run(_ex("for-each.yaml"), hosts=["web-1", "web-2", "web-3"])
    assert out.status == "succeeded", out.error
    items = out.result("each_host")["items"]
    assert len(items) == 3
    assert "checking web-3 (3 of 3)" in items[2]["stdout"]
    assert [i["stdout"].strip() for i in out.result("each_number")["items"]] == ["9", "25", "64"]


def test_danger_loop_asks_once_and_terminates_every_session(world: World) -> None:
    import threading
    import time

    import psycopg

    app = "example-stuck-worker"

    def sleep() -> None:
        try:
            with psycopg.connect(world.db_url, autocommit=True, application_name=app) as conn:
                conn.execute("SELECT pg_sleep(120)")
        except psycopg.Error:
            pass  # terminated by the runbook

    threads = [threading.Thread(target=sleep, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    active = "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND state = 'active'"
    deadline = time.monotonic() + 20
    while len(world.sql(active, (app,))) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)  # polling pg_stat_activity for the condition
    first = min(r[0] for r in world.sql(active, (app,)))
    out = world.run(_ex("danger-loop.yaml"), app=app, yes=False, confirms=True,
                    fields={"culprit": str(first), "ticket": ""})
    assert out.status == "succeeded", out.error
    assert out.result("note")["fields"] == {"culprit": str(first), "ticket": None}
    asked = [a for a in out.asked if a.startswith("confirm:")]
    assert asked == ["confirm: Run dangerous step 'terminate' for all 2 items?",
                     "confirm: Run dangerous step 'flush[0]'?",
                     "confirm: Run dangerous step 'flush[1]'?"]
    for t in threads:
        t.join(timeout=20)
    assert world.sql(active, (app,)) == []
