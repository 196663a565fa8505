"""Remote shell steps in whole runbooks: `for_each` over hosts, validate's messages, plans that
touch nothing, and a vvrun killed mid-step leaving nothing running on the host."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sshd import Sshd, running_sshd
from tests.test_engine_support import write_runbook

VVRUN = [sys.executable, "-m", "vvrun"]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VVRUN_")}
    env.update(VVRUN_STATE=str(tmp_path / "state.db"), VVRUN_OPERATOR="op@test", NO_COLOR="1")
    return env


def vv(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VVRUN, *args], capture_output=True, text=True, timeout=120,
                          env=_env(tmp_path), cwd=tmp_path, stdin=subprocess.DEVNULL)


def runbook(tmp_path: Path, sshd: Sshd, steps: str, extra_connections: str = "") -> Path:
    conn = (f"{{ssh: {sshd.user}@{sshd.host}, port: {sshd.port}, "
            f"identity_file: {sshd.identity_file}, known_hosts: {sshd.known_hosts}}}")
    return write_runbook(tmp_path, f"""
        version: 1
        name: remote
        title: Remote
        inputs:
          hosts: {{type: list, default: [web1, web2]}}
          out: {{default: {tmp_path}}}
        connections:
          web1: {conn}
          web2: {conn}
{extra_connections}
        steps:
{steps}
    """)


FOR_EACH = """
          - id: stamp
            for_each: inputs.hosts
            shell:
              on: "{{ item }}"
              run: echo "{{ item }} $SSH_CONNECTION" | tee {{ inputs.out }}/{{ item }}.txt
"""


def test_for_each_runs_on_each_named_host(tmp_path: Path, sshd: Sshd) -> None:
    rb = runbook(tmp_path, sshd, FOR_EACH)
    out = vv(tmp_path, "run", str(rb), "--output", "json")
    assert out.returncode == 0, out.stderr
    for host in ("web1", "web2"):
        assert (tmp_path / f"{host}.txt").read_text().startswith(f"{host} 127.0.0.1 ")
    finished = [json.loads(line) for line in out.stdout.splitlines()
                if line.startswith("{") and '"step_ended"' in line]
    assert finished, out.stdout


def test_a_templated_on_that_names_no_connection_fails_before_connecting(
        tmp_path: Path, sshd: Sshd) -> None:
    rb = runbook(tmp_path, sshd, FOR_EACH)
    out = vv(tmp_path, "run", str(rb), "--var", "hosts=web1,web9")
    assert out.returncode == 1
    assert "`on:` gave 'web9', which names no ssh connection" in out.stderr
    assert "ssh connections: web1, web2" in out.stderr


def test_plan_shows_host_and_command_and_runs_nothing(tmp_path: Path,
                                                      sshd: Sshd) -> None:
    rb = runbook(tmp_path, sshd, """
          - id: restart
            shell: {on: web1, run: "touch {{ inputs.out }}/touched"}
""" + FOR_EACH)
    out = vv(tmp_path, "plan", str(rb))
    assert out.returncode == 0, out.stderr
    assert f"ssh {sshd.user}@127.0.0.1:{sshd.port}" in out.stdout
    assert f"touch {tmp_path}/touched" in out.stdout
    assert "ssh ⟨item⟩" in out.stdout
    assert not (tmp_path / "touched").exists()
    assert not list(tmp_path.glob("web*.txt"))


def test_validate_on_names_an_ssh_connection(tmp_path: Path, sshd: Sshd) -> None:
    rb = runbook(tmp_path, sshd, """
          - id: typo
            shell: {on: web, run: uptime}
          - id: wrong_kind
            shell: {on: db, run: uptime}
          - id: templated
            shell: {on: "{{ inputs.hosts[0] }}", run: uptime}
""", extra_connections="          db: {postgres: postgresql://x@localhost/x}")
    out = vv(tmp_path, "validate", str(rb))
    assert out.returncode == 2
    text = out.stdout + out.stderr
    assert "`on: web` names no ssh connection — did you mean" in text, text
    assert "`on: db` names a postgres connection; a shell step runs on an ssh one" in text
    assert re.search(r"rb\.yaml:\d+:17: error: `on: web` ", text)  # where, to the column
    assert "templated" not in text


def test_validate_rejects_a_bad_ssh_connection(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, """
        version: 1
        name: bad
        title: Bad
        connections:
          web1: {ssh: deploy@web1, prot: 22}
        steps:
          - {id: a, shell: {on: web1, run: uptime}}
    """)
    out = vv(tmp_path, "validate", str(rb))
    assert out.returncode == 2
    assert "did you mean 'port'" in out.stdout + out.stderr


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(condition: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)  # polling a condition, bounded by the deadline


def test_vvrun_killed_mid_step_leaves_nothing_running_on_the_host(
        tmp_path: Path, sshd: Sshd) -> None:
    pidfile = tmp_path / "sleeper.pid"
    rb = runbook(tmp_path, sshd, f"""
          - id: hang
            shell: {{on: web1, run: "sleep 300 & echo $! > {pidfile}; wait"}}
""")
    proc = subprocess.Popen([*VVRUN, "run", str(rb)], env=_env(tmp_path), cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(),
                  "the remote command to start")
        pid = int(pidfile.read_text())
        assert _alive(pid)
        os.kill(proc.pid, signal.SIGKILL)  # a crash: no cleanup code runs in vvrun
        proc.wait(10)
        _wait_for(lambda: not _alive(pid), f"remote sleep {pid} to end")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_example_runs_against_a_real_sshd(tmp_path: Path, sshd: Sshd) -> None:
    example = Path(__file__).parent.parent / "examples" / "ssh.yaml"
    out = vv(tmp_path, "run", str(example), "--output", "json",
             "--var", f"user={sshd.user}", "--var", f"port={sshd.port}",
             "--var", f"identity_file={sshd.identity_file}",
             "--var", f"known_hosts={sshd.known_hosts}",
             "--var", "web1_host=127.0.0.1", "--var", "web2_host=127.0.0.1")
    assert out.returncode == 0, out.stdout + out.stderr
    ended = {e["step_id"]: e["status"] for e in map(json.loads, out.stdout.splitlines())
             if e.get("event") == "step_ended"}
    assert ended == {"uptime": "succeeded", "disk[0]": "succeeded", "disk[1]": "succeeded",
                     "disk": "succeeded"}
    assert '"step_skipped"' in out.stdout  # the restart: not asked for
