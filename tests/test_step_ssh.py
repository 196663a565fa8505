"""The `shell` step on a remote host (`on:`), against a real sshd on loopback."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ListConsole, ScriptedPrompter
from tests.sshd import Sshd, running_sshd
from vvrun.errors import ConnectFailed, Location, StepFailed
from vvrun.language.build import _connection
from vvrun.language.templates import Templater
from vvrun.steps import shell
from vvrun.steps.base import Clients, StepIO

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
       "HOME": os.environ.get("HOME", "/root")}
WHERE = Location("test.yaml", 1, 1, "t")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def conns(sshd: Sshd, **extra: Any) -> dict[str, Any]:
    raw = {"web1": sshd.connection(), "web2": sshd.connection(), **extra}
    return {name: _connection(name, r, WHERE) for name, r in raw.items()}


@pytest.fixture
def clients() -> Iterator[Clients]:
    c = Clients()
    yield c
    c.close()


def run(sshd: Sshd, body: Any, clients: Clients, *, context: Mapping[str, Any] | None = None,
        console: ListConsole | None = None, timeout: float | None = 30.0,
        cancel: threading.Event | None = None, secret_env: Mapping[str, str] | None = None,
        connections: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    spec = shell.parse(body, WHERE)
    tpl = Templater(context or {"inputs": {}, "env": {}, "steps": {}}, where=WHERE)
    action = shell.render(spec, tpl, connections or conns(sshd))
    shell.describe(action)
    io = StepIO(run_id="test", step_id="t", timeout=timeout, clients=clients,
                console=console or ListConsole(), prompter=ScriptedPrompter(),
                cancel=cancel or threading.Event(), env=ENV, secret_env=dict(secret_env or {}),
                where=WHERE, templater=tpl)
    return shell.execute(action, io)


def test_a_command_runs_remotely_and_streams(sshd: Sshd, clients: Clients,
                                             tmp_path: Path) -> None:
    console = ListConsole()
    marker = tmp_path / "ran-here"
    result = run(sshd, {"run": f"echo one; echo two >&2; touch {marker}; echo $SSH_CONNECTION",
                               "on": "web1"}, clients, console=console)
    assert result["exit_code"] == 0
    assert result["stdout"].splitlines()[0] == "one"
    assert result["stdout"].splitlines()[1].startswith("127.0.0.1 ")  # it ran in an ssh session
    assert result["stderr"] == "two"
    assert result["host"] == f"ssh {sshd.user}@127.0.0.1:{sshd.port}"
    assert ("stdout", "one") in console.lines and ("stderr", "two") in console.lines
    assert marker.exists()


def wait_for(condition: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)  # polling a condition, bounded by the deadline


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_exit_codes_and_ok_codes(sshd: Sshd, clients: Clients) -> None:
    with pytest.raises(StepFailed, match=r"command exited with 3 \(ok: 0\)") as info:
        run(sshd, {"run": "echo bad >&2; exit 3", "on": "web1"}, clients)
    assert type(info.value) is StepFailed
    assert "    bad" in info.value.message
    assert run(sshd, {"run": "exit 3", "on": "web1", "ok_codes": [0, 3]},
               clients)["exit_code"] == 3
    # the same bash flags as a local step: -e and pipefail
    with pytest.raises(StepFailed, match="command exited with 1"):
        run(sshd, {"run": "false\necho after", "on": "web1"}, clients)
    with pytest.raises(StepFailed, match="command exited with 4"):
        run(sshd, {"run": "(exit 4) | cat", "on": "web1"}, clients)


def test_exit_255_from_the_command_is_the_commands_not_a_connection_problem(
        sshd: Sshd, clients: Clients) -> None:
    with pytest.raises(StepFailed, match="command exited with 255") as info:
        run(sshd, {"run": "exit 255", "on": "web1"}, clients)
    assert not isinstance(info.value, ConnectFailed)


def test_templated_values_are_quoted_as_for_a_local_step(sshd: Sshd, clients: Clients,
                                                         tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    value = f"a  b'; touch {pwned}; echo \"$(touch {pwned})\" `touch {pwned}` *"
    result = run(sshd, {"run": "printf '%s\\n' {{ inputs.x }}", "on": "web1",
                               "cwd": str(tmp_path)},
                 clients, context={"inputs": {"x": value}, "env": {}, "steps": {}})
    assert result["stdout"] == value
    assert not pwned.exists()


def test_cwd_is_on_the_host(sshd: Sshd, clients: Clients, tmp_path: Path) -> None:
    assert run(sshd, {"run": "pwd", "on": "web1", "cwd": str(tmp_path)},
               clients)["stdout"] == str(tmp_path)
    with pytest.raises(StepFailed, match="exited with 1"):
        run(sshd, {"run": "pwd", "on": "web1", "cwd": str(tmp_path / "nope")}, clients)


SECRET = "s3cret-Value-that-must-not-leak-42"


def test_secrets_reach_the_host_through_the_environment_never_argv(
        sshd: Sshd, clients: Clients, tmp_path: Path) -> None:
    ready, release = tmp_path / "ready", tmp_path / "release"
    body = {"run": f'[ "$VVRUN_SECRET_TOKEN" = "$API_TOKEN" ] && echo same\n'
                   f'printf %s "$API_TOKEN" | wc -c\n'
                   f'echo $$ > {ready}\n'
                   f'while [ ! -e {release} ]; do sleep 0.05; done',
            "on": "web1", "env": {"API_TOKEN": "{{ inputs.token }}", "MULTI": "a\nb"}}
    leaks: list[str] = []
    seen: list[str] = []

    def attacker() -> None:
        wait_for(ready.exists, "the remote command to start")
        remote_bash = int(ready.read_text())
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            name = os.path.basename(argv[0].decode(errors="replace"))
            if name == "ssh" or int(pid) == remote_bash:
                seen.append(name)
            if any(SECRET.encode() in a for a in argv):
                leaks.append(f"{pid}: {argv[0]!r}")
        release.touch()

    t = threading.Thread(target=attacker)
    t.start()
    result = run(sshd, body, clients,
                 context={"inputs": {"token": SECRET}, "env": {}, "steps": {}},
                 secret_env={"VVRUN_SECRET_TOKEN": SECRET})
    t.join()
    assert result["stdout"].split() == ["same", str(len(SECRET))]
    assert "ssh" in seen and "bash" in seen  # the local client and the remote command were read
    assert leaks == []


def test_unknown_host_key_is_refused_with_the_keyscan_hint(sshd: Sshd,
                                                            clients: Clients) -> None:
    c = conns(sshd, web3={**sshd.connection(),
                                 "known_hosts": sshd.empty_known_hosts})
    with pytest.raises(ConnectFailed, match="is not in") as info:
        run(sshd, {"run": "echo hi", "on": "web3"}, clients, connections=c)
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {sshd.empty_known_hosts}" in (
        info.value.hint or "")


def test_a_changed_host_key_is_refused(sshd: Sshd, clients: Clients) -> None:
    c = conns(sshd, web3={**sshd.connection(),
                                 "known_hosts": sshd.wrong_known_hosts})
    with pytest.raises(ConnectFailed, match="does not match") as info:
        run(sshd, {"run": "echo hi", "on": "web3"}, clients, connections=c)
    assert "intercepting" in (info.value.hint or "")


def test_a_key_the_server_does_not_accept_is_refused(sshd: Sshd,
                                                      clients: Clients) -> None:
    c = conns(sshd, web3={**sshd.connection(),
                                 "identity_file": sshd.stranger_key})
    with pytest.raises(ConnectFailed, match="refused the key") as info:
        run(sshd, {"run": "echo hi", "on": "web3"}, clients, connections=c)
    assert "authorized_keys" in (info.value.hint or "")


def test_connection_refused_and_missing_files(sshd: Sshd, clients: Clients) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        c = conns(sshd, web3={**sshd.connection(), "port": port})
        with pytest.raises(ConnectFailed, match="refused the connection"):
            run(sshd, {"run": "echo hi", "on": "web3"}, clients, connections=c)
    c = conns(sshd, web3={**sshd.connection(), "ssh": "root@no-such-host.invalid"})
    with pytest.raises(ConnectFailed, match=r"cannot resolve the host name no-such-host\.invalid"):
        run(sshd, {"run": "echo hi", "on": "web3"}, clients, connections=c)
    c = conns(sshd, web3={**sshd.connection(), "known_hosts": "/nonexistent/kh"})
    with pytest.raises(ConnectFailed, match="known_hosts file '/nonexistent/kh' does not exist"):
        run(sshd, {"run": "echo hi", "on": "web3"}, clients, connections=c)


def test_a_host_that_looks_like_an_option_is_refused(sshd: Sshd, clients: Clients,
                                                      tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    c = conns(sshd, web3={**sshd.connection(),
                                 "ssh": f"root@-oProxyCommand=touch {pwned}"})
    from vvrun.errors import RunbookError

    with pytest.raises(RunbookError, match="is not a host name"):
        run(sshd, {"run": "echo hi", "on": "web3"}, clients, connections=c)
    assert not pwned.exists()


def _remote_sleeper(tmp_path: Path, trap: str = "") -> tuple[dict[str, Any], Path]:
    pidfile = tmp_path / "sleeper.pid"
    return {"run": f"{trap}sleep 300 & echo $! > {pidfile}; wait", "on": "web1"}, pidfile


def test_timeout_stops_the_remote_process(sshd: Sshd, clients: Clients,
                                          tmp_path: Path) -> None:
    from vvrun.errors import StepTimeout

    body, pidfile = _remote_sleeper(tmp_path)
    with pytest.raises(StepTimeout, match=r"still running on ssh .* after 1s"):
        run(sshd, body, clients, timeout=1.0)
    pid = int(pidfile.read_text())
    wait_for(lambda: not alive(pid), f"remote sleep {pid} to end")


def test_cancel_stops_the_remote_process_even_one_that_ignores_sigterm(
        sshd: Sshd, clients: Clients, tmp_path: Path) -> None:
    from vvrun.errors import Cancelled

    body, pidfile = _remote_sleeper(tmp_path, trap="trap '' TERM; ")
    cancel = threading.Event()

    def press_ctrl_c() -> None:
        wait_for(pidfile.exists, "the remote command to start")
        cancel.set()

    t = threading.Thread(target=press_ctrl_c)
    t.start()
    with pytest.raises(Cancelled, match="interrupted"):
        run(sshd, body, clients, cancel=cancel)
    t.join()
    pid = int(pidfile.read_text())
    wait_for(lambda: not alive(pid), f"remote sleep {pid} to end (SIGKILL after the grace)")


def test_one_control_master_per_host_is_reused_and_closed_with_the_run(
        sshd: Sshd, tmp_path: Path) -> None:
    import subprocess

    clients = Clients()
    run(sshd, {"run": "true", "on": "web1"}, clients)
    control = clients.get("shell:ssh-control", lambda: None)
    sockets = os.listdir(control.path)
    assert len(sockets) == 1
    (base,) = control.masters.values()

    def master() -> str:
        out = subprocess.run([*base[:-1], "-O", "check", base[-1]], capture_output=True,
                             text=True, env=ENV)
        assert out.returncode == 0, out.stderr
        return out.stderr.strip()  # "Master running (pid=N)"

    first = master()
    assert first.startswith("Master running")
    run(sshd, {"run": "true", "on": "web1"}, clients)
    assert os.listdir(control.path) == sockets
    assert master() == first  # the same master process served the second step
    clients.close()
    assert not os.path.exists(control.path)
    pid = int(first.split("pid=")[1].rstrip(")"))
    wait_for(lambda: not alive(pid), "the master to exit")


def test_plan_description_shows_the_host_and_command(sshd: Sshd) -> None:
    spec = shell.parse({"run": "systemctl restart {{ inputs.unit }}", "on": "web1"}, WHERE)
    tpl = Templater({"inputs": {"unit": "app"}, "env": {}, "steps": {}}, where=WHERE)
    desc = shell.describe(shell.render(spec, tpl, conns(sshd)))
    assert desc.target == f"ssh {sshd.user}@127.0.0.1:{sshd.port}"
    assert desc.body == "systemctl restart app"
