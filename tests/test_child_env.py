"""A shell step's process, attacked from outside (SPEC §3.4): its command line
(`/proc/PID/cmdline`, what `ps` shows every user) never holds a secret, even one templated
into `run:`; its environment is the operator's minus vvrun's own variables and the secrets it
was not given — it gets what it declares in `env:` and the secrets its command templates."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.sshd import Sshd, running_sshd
from tests.test_run_cli import VVRUN, _env
from vvrun.secrets import Masker
from vvrun.steps.shell.childenv import scrubbed

TOKEN = "Argv-Canary-Token-31"
API = "Api-Canary-Secret-77"
PGPASS = "Pg-Canary-Pass-55"


def _wait_for(cond: Callable[[], bool], what: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"vvrun ended before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _proc_strings(pid: int, name: str) -> list[str]:
    return Path(f"/proc/{pid}/{name}").read_bytes().decode(errors="replace").split("\0")


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").iterdir():
            children = (task / "children").read_text().split()
            todo += [int(c) for c in children]
    return out


def _start(tmp_path: Path, runbook: dict, env: dict[str, str]) -> subprocess.Popen[str]:
    rb = tmp_path / "rb.yaml"
    rb.write_text(json.dumps(runbook))
    return subprocess.Popen([*VVRUN, "run", str(rb)], env=env, cwd=tmp_path, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _wait_for_pid(pidfile: Path, what: str, proc: subprocess.Popen[str]) -> None:
    _wait_for(lambda: pidfile.exists() and pidfile.read_text().strip().isdigit(), what, proc)


def _held_step(tmp_path: Path, runbook: dict, env: dict[str, str], pidfile: Path,
               release: Path) -> tuple[dict[int, list[str]], dict[str, str], str, str]:
    """Run `runbook` until its holding step has started a child; read that step's argv (its
    own and its children's) and environment from /proc, then let it finish. Returns (argv by
    pid, environment, stdout, stderr) of a run that must succeed."""
    proc = _start(tmp_path, runbook, env)
    try:
        _wait_for_pid(pidfile, "the holding step to start", proc)
        bash = int(pidfile.read_text())
        _wait_for(lambda: len(_descendants(bash)) > 1, "the step's child", proc)
        cmdlines = {p: _proc_strings(p, "cmdline") for p in _descendants(bash)}
        environ = dict(e.split("=", 1) for e in _proc_strings(bash, "environ") if "=" in e)
    finally:
        release.touch()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return cmdlines, environ, out, err


def test_a_running_step_holds_no_secret_in_argv_and_only_what_it_was_given(
        tmp_path: Path) -> None:
    pidfile, release = tmp_path / "step.pid", tmp_path / "release"
    runbook = {
        "version": 1, "name": "argv", "title": "Argv",
        "secrets": {"api": {"from": "env", "name": "DEPLOY_API"}},
        "inputs": {"token": {"type": "string", "secret": True, "env": "API_TOKEN"}},
        "steps": [{"id": "hold", "shell": {
            "run": (f"echo $$ > {pidfile}\n"
                    # secrets templated into the command: they must come by environment
                    ": {{ inputs.token }} {{ secrets.api | upper }} {{ inputs.token[::-1] }}\n"
                    "sleep 30 & child=$!\n"
                    f"while [ ! -e {release} ]; do sleep 0.02; done\n"
                    "kill $child || true; echo done"),
            "env": {"DECLARED": "yes", "MY_PG": "{{ env.PGPASSWORD }}"}}}],
    }
    env = _env(tmp_path, API_TOKEN=TOKEN, DEPLOY_API=API, PGPASSWORD=PGPASS,
               DATABASE_URL=f"postgres://app:{PGPASS}@db/app", OTHER_TOKEN="other-tok-1",
               SOME_URL="redis://:url-pass-9@cache:6379/0", COPY_OF_TOKEN=TOKEN,
               PLAIN_VAR="hello")
    cmdlines, environ, out, err = _held_step(tmp_path, runbook, env, pidfile, release)
    for pid, argv in cmdlines.items():
        joined = " ".join(argv)
        for secret in (TOKEN, API, API.upper(), TOKEN[::-1]):
            assert secret not in joined, f"{secret} in the argv of {pid}: {argv}"
    assert any("$VVRUN_SECRET_TOKEN" in " ".join(a) for a in cmdlines.values())
    # given: its declared env, and the secrets its command templates (by variable)
    assert environ["DECLARED"] == "yes" and environ["MY_PG"] == PGPASS
    assert environ["VVRUN_SECRET_TOKEN"] == TOKEN
    assert API.upper() in environ.values() and TOKEN[::-1] in environ.values()
    assert environ["PLAIN_VAR"] == "hello" and "PATH" in environ
    # withheld: vvrun's own, credentials, secret-looking names, secret values
    for name in ("VVRUN_STATE", "VVRUN_OPERATOR", "PGPASSWORD", "DATABASE_URL", "OTHER_TOKEN",
                 "SOME_URL", "API_TOKEN", "DEPLOY_API", "COPY_OF_TOKEN"):
        assert name not in environ, name
    assert TOKEN not in out + err and API.upper() not in out + err and "done" in out


def test_a_secret_a_step_printed_reaches_a_later_command_by_env_not_argv(
        tmp_path: Path) -> None:
    """The attack: a step prints a secret (a query of a token, a CLI echoing a key); a later
    step templates that output into its command. The value must travel by environment: the
    second command's argv, read from /proc as `ps` would, never holds it."""
    pidfile, release = tmp_path / "step.pid", tmp_path / "release"
    runbook = {
        "version": 1, "name": "relay", "title": "Relay",
        "secrets": {"api": {"from": "env", "name": "DEPLOY_API"}},
        "steps": [
            {"id": "leak", "shell": {"run": "printf '%s' \"$KEY\"",
                                     "env": {"KEY": "{{ secrets.api }}"}}},
            {"id": "hold", "shell": (
                f"echo $$ > {pidfile}\n"
                ": {{ steps.leak.result.stdout }}\n"
                "sleep 30 & child=$!\n"
                f"while [ ! -e {release} ]; do sleep 0.02; done\n"
                "kill $child || true; echo done")},
        ],
    }
    cmdlines, _, out, err = _held_step(tmp_path, runbook, _env(tmp_path, DEPLOY_API=API),
                                       pidfile, release)
    for pid, argv in cmdlines.items():
        assert API not in " ".join(argv), f"the printed secret in the argv of {pid}: {argv}"
    assert any("$VVRUN_SECRET_" in " ".join(a) for a in cmdlines.values())
    assert API not in out + err and "done" in out


def test_scrubbed_keeps_the_ordinary_and_drops_the_secret() -> None:
    masker = Masker(["registered-secret-1"])
    environ = {"PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "SSH_AUTH_SOCK": "/s",
               "VVRUN_STATE": "postgres://x@db/state", "VVRUN_OPERATOR": "ann",
               "PGPASSWORD": "x1y2z3", "REDISCLI_AUTH": "a1b2c3", "GITHUB_TOKEN": "ghp_1",
               "AWS_SECRET_ACCESS_KEY": "aws1", "STRIPE_KEY": "sk_1", "DB_PASSWORD": "pw1",
               "BACKUP_URL": "s3://u:secretpw@bucket/x", "SAFE_URL": "https://example.com/x",
               "COPY": "registered-secret-1"}
    kept = scrubbed(environ, masker.is_secret)
    assert kept == {"PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8",
                    "SSH_AUTH_SOCK": "/s", "SAFE_URL": "https://example.com/x"}


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def _all_cmdlines() -> dict[int, str]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                out[int(entry.name)] = " ".join(_proc_strings(int(entry.name), "cmdline"))
    return out


def test_a_remote_step_holds_no_secret_in_any_argv_and_ssh_gets_a_scrubbed_env(
        tmp_path: Path, sshd: Sshd) -> None:
    pidfile, release, envfile = tmp_path / "r.pid", tmp_path / "release", tmp_path / "r.env"
    runbook = {
        "version": 1, "name": "remote", "title": "Remote",
        "inputs": {"token": {"type": "string", "secret": True, "env": "API_TOKEN"}},
        "connections": {"web": sshd.connection()},
        "steps": [{"id": "hold", "shell": {
            "on": "web", "env": {"DECLARED": "yes"},
            "run": (f"echo $$ > {pidfile}; env > {envfile}\n"
                    ": {{ inputs.token }} {{ inputs.token | upper }}\n"
                    f"while [ ! -e {release} ]; do sleep 0.02; done")}}],
    }
    env = _env(tmp_path, API_TOKEN=TOKEN, PGPASSWORD=PGPASS, OTHER_TOKEN="other-tok-1")
    proc = _start(tmp_path, runbook, env)
    try:
        _wait_for_pid(pidfile, "the remote step to start", proc)
        cmdlines = _all_cmdlines()  # every process on this machine: vvrun, ssh, sshd, bash
        ssh_clients = [p for p, c in cmdlines.items()
                       if c.split(" ", 1)[0].endswith("ssh") and str(sshd.port) in c]
        ssh_environs = {p: _proc_strings(p, "environ") for p in ssh_clients}
    finally:
        release.touch()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert TOKEN not in out + err
    for pid, line in cmdlines.items():
        assert TOKEN not in line and TOKEN.upper() not in line, f"secret in argv of {pid}"
    assert ssh_clients, "no local ssh client was seen"
    for pid, environ in ssh_environs.items():
        names = {e.split("=", 1)[0] for e in environ}
        assert not names & {"VVRUN_STATE", "PGPASSWORD", "API_TOKEN", "OTHER_TOKEN"}, pid
        assert TOKEN not in "\0".join(environ), f"the secret in ssh {pid}'s environment"
    remote = dict(line.split("=", 1) for line in envfile.read_text().splitlines() if "=" in line)
    assert remote["DECLARED"] == "yes" and TOKEN in remote.values()
    assert not {"VVRUN_STATE", "PGPASSWORD", "OTHER_TOKEN"} & set(remote)
