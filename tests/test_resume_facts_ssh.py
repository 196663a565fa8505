"""A remote shell step when vvrun is killed (`kill -KILL`): the resume must not run it again nor
take it as done while the ssh session that runs it lives, and must say so; once the session is
gone (which stops the command on the host), it says that too. A real sshd on loopback, real
processes and signals; the test waits on the processes themselves, never on the clock.

The operator's situation: the laptop's vvrun died mid-step; the host was told to stop the
command (its session's input closed), but the command takes its time to stop (it ignores
SIGTERM, and the step gives it a 10-minute grace), so it still runs there, and the ssh session
that runs it stays open meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.signal_runs import (
    alive,
    env_for,
    events,
    read_pid,
    start,
    vv,
    wait_for,
    write_runbook,
)
from tests.sshd import Sshd, running_sshd
from vvrun.engine.stray import live_process_group
from vvrun.state import open_store


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def _ledger_pgid(tmp_path: Path, run_id: str, key: str) -> int | None:
    store = open_store(env_for(tmp_path))
    try:
        entry = store.ledger_entry(run_id, key) or {}
        return entry.get("pgid")
    finally:
        store.close()


def test_a_killed_runs_remote_step_is_not_settled_while_its_ssh_session_lives(
        tmp_path: Path, sshd: Sshd) -> None:
    rb = write_runbook(tmp_path, f"""
        version: 1
        name: remotework
        title: Remote work
        connections:
          web1: {{ssh: {sshd.user}@{sshd.host}, port: {sshd.port},
                  identity_file: {sshd.identity_file}, known_hosts: {sshd.known_hosts}}}
        steps:
          - id: work
            grace: 10m
            shell:
              on: web1
              run: trap '' TERM; echo $$ > {tmp_path}/remote.pid; exec sleep 301
          - id: after
            shell: echo after-ran
    """)
    proc = start(tmp_path, "run", str(rb))
    pgid = remote = None
    try:
        assert proc.stdout is not None
        run_id = str(events(proc.stdout.readline())[0]["run_id"])
        remote = wait_for(lambda: read_pid(tmp_path / "remote.pid"), "the command to start")
        pgid = wait_for(lambda: _ledger_pgid(tmp_path, run_id, "work"), "the ledger's group")
        with open(f"/proc/{pgid}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[0].endswith(b"ssh")  # the step's ssh client
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert live_process_group(pgid) and alive(remote)

        blocked = vv(tmp_path, "resume", run_id, "--yes")
        assert blocked.returncode == 1, blocked.stdout + blocked.stderr
        assert (f"step 'work' may still be running on {sshd.host}: its ssh session "
                f"(process group {pgid} here)") in blocked.stderr
        assert f"kill -TERM -{pgid}" in blocked.stderr
        # one line says where and what, naming the step once
        first = blocked.stderr.splitlines()[0]
        assert first.startswith(f"vvrun: {rb}:") and first.count("step 'work'") == 1, first
        marked = vv(tmp_path, "resume", run_id, "--mark-done", "work")
        assert marked.returncode == 1 and "its ssh session" in marked.stderr
        assert "after-ran" not in blocked.stdout + marked.stdout
        assert alive(remote)  # the operator decides; vvrun touched nothing

        # the operator stops it there; the session ends and its ssh client exits
        os.kill(remote, signal.SIGKILL)
        wait_for(lambda: not alive(remote), "the remote command to end")
        wait_for(lambda: not live_process_group(pgid), "the ssh session to end")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if pgid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        if remote is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(remote, signal.SIGKILL)

    asked = vv(tmp_path, "resume", run_id, "--yes")
    assert asked.returncode == 1
    assert (f"its ssh session to {sshd.host} (process group {pgid}) has ended, which stops "
            "the command there") in asked.stderr
    done = vv(tmp_path, "resume", run_id, "--yes", "--mark-done", "work")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "after-ran" in done.stdout
