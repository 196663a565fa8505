"""security-breach against the real world, for what a review found: the sign-in rows it
deletes are kept as evidence first; locked accounts are signed out by rotating NEXTAUTH_SECRET
(VocaVision's sessions are JWTs: deleting `sessions` rows signs nobody out), checked against
Vercel; a runtime-logs stream that stays open is cut at `logs_for` without losing the
evidence, while any other error still fails the snapshot."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from world.harness import RUNBOOKS, World, json_events

pytest_plugins = ["world.fixtures"]

BREACH_TIME_DEPLOYMENT = "dpl_7f3k2l9qpXyZ"




def _ended(stdout: str) -> dict[str, dict[str, Any]]:
    return {e["step_id"]: e for e in json_events(stdout) if e["event"] == "step_ended"}


def _lock(world: World, keys: dict[str, Path]) -> tuple[str, str, str]:
    """Run security-breach for user@example.com up to the lock, approved by two people:
    (run id, the output up to the approval, the output after it)."""
    signers = str(world.tmp / "allowed_signers")
    first = world.cli("run", str(RUNBOOKS / "security-breach.yaml"),
                      "--var", "compromised_emails=user@example.com",
                      "--var", f"evidence_dir={world.tmp}", "--yes", "--key", str(keys["alice"]),
                      "--allowed-signers", signers, "--output", "json")
    assert first.returncode == 3, first.stdout[-2000:] + first.stderr
    run_id = next(e["run_id"] for e in json_events(first.stdout) if e["event"] == "run_started")
    asked = world.cli("resume", run_id, "--yes", "--ack", "declare",
                      "--field", "incident_url=https://inc.example.com/1",
                      "--key", str(keys["alice"]), "--allowed-signers", signers,
                      "--output", "json")
    assert asked.returncode == 3, asked.stdout[-2000:] + asked.stderr
    approved = world.cli("approve", run_id, "lock_accounts", "--key", str(keys["bob"]),
                         "--allowed-signers", signers, "--yes")
    assert approved.returncode == 0, approved.stderr
    locked = world.cli("resume", run_id, "--yes", "--allowed-signers", signers,
                       "--output", "json")
    assert _ended(locked.stdout)["lock_accounts"]["status"] == "succeeded", locked.stdout[-3000:]
    return run_id, asked.stdout, locked.stdout


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- 1. evidence before deletion -------------------------------------------------------------


def test_the_sign_in_rows_are_in_the_audit_trail_before_they_are_deleted(
        world: World, keys: dict[str, Path]) -> None:
    run_id, before_lock, _ = _lock(world, keys)
    events = json_events(before_lock)
    kept = next(e for e in events if e["event"] == "step_ended"
                and e["step_id"] == "sign_in_evidence")
    assert kept["status"] == "succeeded"
    # recorded before the lock was even asked for
    assert events.index(kept) < next(i for i, e in enumerate(events)
                                     if e.get("step_id") == "lock_accounts")
    rows = {r["id"]: r for r in kept["result"]["rows"]}
    assert set(rows) == {"acc_1", "ses_1", "ses_2"}  # user_123's rows, nobody else's
    google = rows["acc_1"]
    assert (google["kind"], google["provider"], google["provider_account_id"]) == (
        "google_link", "google", "104857600000000000123")
    assert rows["ses_1"]["token_sha256"] == _sha256("tok-user123-laptop")
    assert google["token_sha256"] == _sha256("ya29.placeholder-123")
    # the rows are gone from the database now, but the keyed audit trail holds them
    assert world.sql("SELECT count(*) FROM accounts WHERE user_id = 'user_123'") == [(0,)]
    shown = world.cli("show", run_id, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    trail = json.loads(shown.stdout)
    assert trail["chain"]["verified"] is True
    recorded = json.dumps([e for e in trail["events"]
                           if "sign_in_evidence" in json.dumps(e, default=str)], default=str)
    assert "104857600000000000123" in recorded and "ses_2" in recorded
    # credentials are kept only as hashes
    for secret in ("ya29.placeholder-123", "tok-user123-laptop", "tok-user123-phone"):
        assert secret not in shown.stdout + before_lock


# -- 2. JWT sessions end only with a new NEXTAUTH_SECRET -------------------------------------


def test_locked_accounts_are_signed_out_by_rotating_nextauth_secret(
        world: World, keys: dict[str, Path]) -> None:
    run_id, _, locked = _lock(world, keys)
    ended = _ended(locked)
    assert ended["verify_locked"]["status"] == "succeeded"
    # deleting rows is not the end of it: the run waits for the rotation
    waiting = world.cli("show", run_id, "--format", "json")
    assert "sign_out" in locked and "snapshot" not in ended, waiting.stdout[-2000:]

    # acknowledged without rotating: the check fails (it can), nothing is claimed
    untrue = world.cli("resume", run_id, "--yes", "--ack", "sign_out",
                       "--field", "rotation_run=261207-054907-76f5", "--output", "json")
    assert untrue.returncode == 1, untrue.stdout[-2000:] + untrue.stderr
    assert _ended(untrue.stdout)["sign_out"]["status"] == "failed"
    assert "targets.production.id != steps.live.outputs.id" in untrue.stdout + untrue.stderr
    assert world.vercel.env_value("NEXTAUTH_SECRET") == "old-nextauth"

    # the operator rotates NEXTAUTH_SECRET with rotate-secrets, in a run of its own
    rotation = world.cli("run", str(RUNBOOKS / "rotate-secrets.yaml"),
                         "--var", "secret_name=NEXTAUTH_SECRET", "--yes", "--output", "json")
    rotation_id = next(e["run_id"] for e in json_events(rotation.stdout)
                       if e["event"] == "run_started")
    assert _ended(rotation.stdout)["redeploy"]["status"] == "succeeded", rotation.stdout[-2000:]
    new_secret = world.vercel.env_value("NEXTAUTH_SECRET")
    assert new_secret != "old-nextauth"
    assert world.vercel.live()["env"]["NEXTAUTH_SECRET"] == new_secret

    done = world.cli("resume", run_id, "--yes", "--ack", "sign_out",
                     "--field", f"rotation_run={rotation_id}", "--output", "json")
    ended = _ended(done.stdout)
    assert ended["sign_out"]["status"] == "succeeded", done.stdout[-3000:] + done.stderr
    assert ended["sign_out"]["result"]["verified"] is True
    assert ended["sign_out"]["result"]["fields"]["rotation_run"] == rotation_id
    # the evidence is the logs of the deployment that served during the breach, not the new one
    assert ended["snapshot"]["status"] == "succeeded"
    logs = [r["path"] for r in world.vercel.requests if r["path"].endswith("/runtime-logs")]
    assert logs == [f"/v1/projects/prj_vocavisionWeb1/deployments/{BREACH_TIME_DEPLOYMENT}"
                    "/runtime-logs"]


# -- 3. a runtime-logs stream that stays open ------------------------------------------------


@pytest.fixture
def open_stream(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Vercel's runtime-logs as the real API sends them when there is more to come: a chunked
    `application/stream+json` body that stays open. Only this world's stand-in is changed."""
    release = threading.Event()
    handler = world.vercel.server.RequestHandlerClass
    plain = handler.do_GET

    def do_get(self: Any) -> None:
        if not self.path.split("?")[0].endswith("/runtime-logs"):
            return plain(self)
        status, payload = self.api.answer("GET", self.path, self.headers, b"")
        if status != 200:
            return plain(self)
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/stream+json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        data = str(payload).encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
        release.wait(30)  # the stream stays open: more logs may come
        with contextlib.suppress(OSError):  # the reader hung up at its time limit
            self.wfile.write(b"0\r\n\r\n")
        return None

    monkeypatch.setattr(handler, "do_GET", do_get)
    yield release
    release.set()


def test_an_open_runtime_logs_stream_is_cut_and_the_evidence_completed(
        world: World, open_stream: threading.Event) -> None:
    out = world.run("security-breach", evidence_dir=str(world.tmp), logs_for=2)
    assert out.status == "succeeded", out.error
    snapshot = out.result("snapshot")
    assert "stream was cut after 2s" in snapshot["stderr"]
    evidence = Path(out.outputs("snapshot")["dir"])
    sums = (evidence / "SHA256SUMS").read_text()
    assert {"database.sql.gz", "vercel-runtime-logs.jsonl", "vercel-build-events.json"} == {
        line.split()[1] for line in sums.splitlines()}
    logs = [json.loads(line) for line in
            (evidence / "vercel-runtime-logs.jsonl").read_text().splitlines()]
    assert any(r["level"] == "error" and "PrismaClient" in r["message"] for r in logs)
    assert out.status_of("audit_trail") == "succeeded"


def test_a_runtime_logs_error_still_fails_the_snapshot(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(world.vercel, "_runtime_logs", lambda project, deployment: (
        500, {"error": {"code": "internal_server_error", "message": "try again"}}))
    out = world.run("security-breach", evidence_dir=str(world.tmp), logs_for=2)
    assert out.exit_code == 1
    assert out.status_of("snapshot") == "failed"
    assert "reading the runtime logs failed (curl exit 22)" in out.result("snapshot")["stderr"]
    assert not list(world.tmp.glob("evidence_*/SHA256SUMS"))  # no checksums for half evidence
    assert "audit_trail" not in out.steps
