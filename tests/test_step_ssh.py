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
from tests.sshd import Sshd, sshd_server  # noqa: F401  (the fixture)
from vvrun.errors import ConnectFailed, Location, StepFailed
from vvrun.language.build import _connection
from vvrun.language.templates import Templater
from vvrun.steps import shell
from vvrun.steps.base import Clients, StepIO

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
       "HOME": os.environ.get("HOME", "/root")}
WHERE = Location("test.yaml", 1, 1, "t")


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


def test_a_command_runs_remotely_and_streams(sshd_server: Sshd, clients: Clients,
                                             tmp_path: Path) -> None:
    console = ListConsole()
    marker = tmp_path / "ran-here"
    result = run(sshd_server, {"run": f"echo one; echo two >&2; touch {marker}; echo $SSH_CONNECTION",
                               "on": "web1"}, clients, console=console)
    assert result["exit_code"] == 0
    assert result["stdout"].splitlines()[0] == "one"
    assert result["stdout"].splitlines()[1].startswith("127.0.0.1 ")  # it ran in an ssh session
    assert result["stderr"] == "two"
    assert result["host"] == f"ssh {sshd_server.user}@127.0.0.1:{sshd_server.port}"
    assert ("stdout", "one") in console.lines and ("stderr", "two") in console.lines
    assert marker.exists()
