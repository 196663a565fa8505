"""Destructive user-data and security steps need two people (issue 19): real ed25519 keys,
a real allowed_signers file, `vvrun run` / `approve` / `resume` as processes, the real
database. Nothing is erased or locked on one person's word."""

from __future__ import annotations

from pathlib import Path

from world.harness import RUNBOOKS, World, json_events

pytest_plugins = ["world.fixtures"]




def _run_id(stdout: str) -> str:
    return next(e["run_id"] for e in json_events(stdout) if e["event"] == "run_started")


def _footprint(world: World, user_id: str) -> dict[str, int]:
    tables = {"users": "id", "user_activity": "user_id", "user_progress": "user_id",
              "audit_logs": "user_id", "session_logs": "user_id", "accounts": "user_id",
              "sessions": "user_id"}
    return {t: world.sql(f"SELECT count(*) FROM {t} WHERE {c} = %s", (user_id,))[0][0]
            for t, c in tables.items()}


def test_gdpr_erasure_waits_for_a_second_person(world: World, keys: dict[str, Path]) -> None:
    signers = str(world.tmp / "allowed_signers")
    before = _footprint(world, "user_901")
    assert before["accounts"] == 1 and before["sessions"] == 1
    first = world.cli("run", str(RUNBOOKS / "user-delete.yaml"),
                      "--var", "email=amelie.durand@example.com", "--var", "mode=hard",
                      "--yes", "--confirm-word", "delete-user", "--key", str(keys["alice"]),
                      "--allowed-signers", signers, "--output", "json")
    assert first.returncode == 3, first.stdout[-2000:] + first.stderr
    assert "hard_delete" in first.stdout + first.stderr
    assert _footprint(world, "user_901") == before  # one person's word erased nothing

    run_id = _run_id(first.stdout)
    # alice cannot be the second approver
    again = world.cli("approve", run_id, "hard_delete", "--key", str(keys["alice"]),
                      "--allowed-signers", signers, "--yes")
    assert again.returncode != 0
    approved = world.cli("approve", run_id, "hard_delete", "--key", str(keys["bob"]),
                         "--allowed-signers", signers, "--yes")
    assert approved.returncode == 0, approved.stderr
    done = world.cli("resume", run_id, "--yes", "--confirm-word", "delete-user",
                     "--allowed-signers", signers, "--output", "json")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert all(n == 0 for n in _footprint(world, "user_901").values())
    assert _footprint(world, "user_123")["accounts"] == 1  # nobody else's rows


def test_locking_a_compromised_account_revokes_sessions_and_google_sign_in(
        world: World, keys: dict[str, Path]) -> None:
    signers = str(world.tmp / "allowed_signers")
    args = ["run", str(RUNBOOKS / "security-breach.yaml"),
            "--var", "compromised_emails=user@example.com", "--var",
            f"evidence_dir={world.tmp}", "--yes", "--allowed-signers", signers,
            "--output", "json"]
    first = world.cli(*args, "--key", str(keys["alice"]))
    assert first.returncode == 3, first.stdout[-2000:] + first.stderr
    run_id = _run_id(first.stdout)
    resumed = world.cli("resume", run_id, "--yes", "--ack", "declare",
                        "--field", "incident_url=https://inc.example.com/1",
                        "--key", str(keys["alice"]), "--allowed-signers", signers,
                        "--output", "json")
    assert resumed.returncode == 3, resumed.stdout[-2000:] + resumed.stderr
    assert "lock_accounts" in resumed.stdout + resumed.stderr
    assert world.sql("SELECT count(*) FROM sessions WHERE user_id = 'user_123'") == [(2,)]

    approved = world.cli("approve", run_id, "lock_accounts", "--key", str(keys["bob"]),
                         "--allowed-signers", signers, "--yes")
    assert approved.returncode == 0, approved.stderr
    locked = world.cli("resume", run_id, "--yes", "--allowed-signers", signers,
                       "--output", "json")
    ended = {e["step_id"]: e for e in json_events(locked.stdout) if e["event"] == "step_ended"}
    assert ended["lock_accounts"]["status"] == "succeeded", locked.stdout[-3000:]
    assert ended["verify_locked"]["status"] == "succeeded"
    row = ended["lock_accounts"]["result"]["rows"][0]
    assert (row["session_rows_deleted"], row["oauth_links_removed"]) == (2, 1)
    assert world.sql("SELECT password_hash FROM users WHERE id = 'user_123'") == [(None,)]
    assert world.sql("SELECT count(*) FROM sessions WHERE user_id = 'user_123'") == [(0,)]
    assert world.sql("SELECT count(*) FROM accounts WHERE user_id = 'user_123'") == [(0,)]
    # the other users keep their sessions and Google links
    assert world.sql("SELECT count(*) FROM sessions") == [(2,)]
    assert world.sql("SELECT count(*) FROM accounts") == [(2,)]
