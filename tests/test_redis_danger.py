"""Attacks on redis danger gating (issue 13 item 5), written as the attacks.

Each dangerous command — hidden in an EVAL script, in lower or mixed case, wrapped in
MULTI…EXEC — is flagged by `validate` and asked for at run time; when the operator says no, or
there is no terminal to ask, nothing reaches the server: its `INFO commandstats` never counts
the command and a canary key is intact. The attacks run against a private `redis-server` (a
SHUTDOWN that slipped through must not take down the machine's shared one).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ScriptedPrompter
from tests.test_engine_support import Runner, write_runbook
from vvrun.language.pipeline import check_file

redis_py = pytest.importorskip("redis")


@pytest.fixture
def victim(tmp_path: Path) -> Iterator[tuple[str, object]]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not on PATH: install it (Debian: redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp_path / "data"
    data.mkdir()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(data), "--daemonize", "no", "--logfile", str(tmp_path / "log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis_py.Redis.from_url(url, socket_timeout=5, decode_responses=True)
    try:
        for _ in range(500):
            try:
                client.ping()
                break
            except redis_py.ConnectionError:
                time.sleep(0.01)
        client.set("canary", "alive")
        client.config_resetstat()
        yield url, client
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


#: (name, the step's redis body as YAML, the commands the server must never have run)
ATTACKS = [
    ("eval-single-quotes", """'EVAL "return redis.call(''FLUSHALL'')" 0'""", ["flushall", "eval"]),
    ("eval-double-quotes-lower", """{eval: {script: 'return redis.call("flushall")'}}""",
     ["flushall", "eval"]),
    ("eval-variable", """{eval: {script: "local c = ARGV[1]\\nreturn redis.call(c)",
                          args: [FLUSHALL]}}""", ["flushall", "eval"]),
    ("eval-aliased", """{eval: {script: "local f = redis.pcall\\nreturn f('FLUSHALL')"}}""",
     ["flushall", "eval"]),
    ("eval-long-string", """{eval: {script: "return redis.call([[FLUSHALL]])"}}""",
     ["flushall", "eval"]),
    ("eval-words-mixed-case", """{command: [EvAl, "return redis.call('fLuShAlL')", "0"]}""",
     ["flushall", "eval"]),
    ("shutdown-nosave", "SHUTDOWN NOSAVE", ["shutdown"]),
    ("debug-sleep", "DEBUG SLEEP 0", ["debug"]),
    ("config-set-dir", "CONFIG SET dir /tmp", ["config|set"]),
    ("lowercase", "flushall", ["flushall"]),
    ("mixed-case", "FlUsHdB ASYNC", ["flushdb"]),
    ("templated-name", "'{{ inputs.cmd }}'", ["flushall"]),
    ("evalsha", "EVALSHA 3b2a6d8e6f0b6ff6ad0b8a6d5a1f0b8f3f6e4c21 0", ["evalsha"]),
    ("unknown", "NOTACOMMAND x", ["notacommand"]),
]


def _book(tmp_path: Path, body: str) -> Path:
    return write_runbook(tmp_path, f"""
        version: 1
        name: attack
        title: Attack
        inputs:
          cmd: {{type: string, default: FLUSHALL}}
        connections:
          cache: {{redis: "{{{{ env.REDIS }}}}"}}
        steps:
          - id: look
            redis: GET canary
          - id: attack
            redis: {body}
    """)


def _ran(client: object, names: list[str]) -> dict[str, int]:
    stats = client.info("commandstats")  # type: ignore[attr-defined]
    return {n: stats[f"cmdstat_{n}"]["calls"] for n in names if f"cmdstat_{n}" in stats}


@pytest.mark.parametrize("name,body,commands", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_validate_flags_it(tmp_path: Path, name: str, body: str, commands: list[str]) -> None:
    book, problems = check_file(str(_book(tmp_path, body)))
    assert book is not None, [p.format() for p in problems]
    assert book.step("attack").danger, "a dangerous command must be confirmed"
    assert not book.step("look").danger
    flagged = [p for p in problems if p.code == "danger" and p.where.step_id == "attack"]
    assert flagged and flagged[0].severity == "warning", [p.format() for p in problems]
    assert "asked to confirm it at run time" in flagged[0].message


@pytest.mark.parametrize("name,body,commands", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_the_operator_says_no_and_nothing_happens(tmp_path: Path, victim: tuple[str, object],
                                                  name: str, body: str,
                                                  commands: list[str]) -> None:
    url, client = victim
    prompter = ScriptedPrompter(confirms=[False])
    out = Runner(environ={"REDIS": url}).run(_book(tmp_path, body), prompter=prompter)
    assert out.status == "aborted", out.result.error
    assert prompter.asked == ["Run dangerous step 'attack'?"]
    assert _ran(client, ["get"]) == {"get": 1}  # the counter works: `look` was counted
    assert _ran(client, commands) == {}
    assert client.get("canary") == "alive"  # type: ignore[attr-defined]
    assert client.config_get("dir")["dir"].endswith("data")  # type: ignore[attr-defined]


@pytest.mark.parametrize("name,body,commands", ATTACKS[:8], ids=[a[0] for a in ATTACKS[:8]])
def test_without_a_terminal_it_pauses(tmp_path: Path, victim: tuple[str, object], name: str,
                                      body: str, commands: list[str]) -> None:
    url, client = victim
    out = Runner(environ={"REDIS": url}).run(_book(tmp_path, body))  # nobody to answer
    assert out.status == "paused", out.result.error
    assert _ran(client, commands) == {}
    assert client.get("canary") == "alive"  # type: ignore[attr-defined]


def test_multi_exec_wrapping_asks_at_every_step(tmp_path: Path,
                                                victim: tuple[str, object]) -> None:
    url, client = victim
    path = write_runbook(tmp_path, """
        version: 1
        name: wrap
        title: Wrap
        connections:
          cache: {redis: "{{ env.REDIS }}"}
        steps:
          - {id: begin, redis: MULTI}
          - {id: wipe, redis: FLUSHALL}
          - {id: commit, redis: EXEC}
    """)
    book, problems = check_file(str(path))
    assert book is not None
    assert [s.danger for s in book.steps] == [True, True, True]
    assert {p.where.step_id for p in problems if p.code == "danger"} == {"begin", "wipe",
                                                                          "commit"}
    prompter = ScriptedPrompter(confirms=[True, False])  # MULTI yes, FLUSHALL no
    out = Runner(environ={"REDIS": url}).run(path, prompter=prompter)
    assert out.status == "aborted"
    assert prompter.asked == ["Run dangerous step 'begin'?", "Run dangerous step 'wipe'?"]
    assert _ran(client, ["flushall", "exec"]) == {}
    assert client.get("canary") == "alive"  # type: ignore[attr-defined]


def test_danger_false_runs_unattended_and_validate_says_why(
        tmp_path: Path, victim: tuple[str, object]) -> None:
    url, client = victim
    path = write_runbook(tmp_path, """
        version: 1
        name: ok
        title: OK
        connections:
          cache: {redis: "{{ env.REDIS }}"}
        steps:
          - {id: bump, redis: INCR counter, danger: false}
          - {id: read, redis: GET counter}
          - {id: script, redis: {eval: {script: "return redis.call('GET', KEYS[1])",
                                        keys: [counter]}}}
    """)
    book, problems = check_file(str(path))
    assert book is not None and not any(s.danger for s in book.steps)
    [warning] = [p for p in problems if p.code == "danger"]
    assert warning.where.step_id == "bump"
    assert warning.message == ("`danger: false`, but INCR writes data: it runs without asking")
    out = Runner(environ={"REDIS": url}).run(path)  # no terminal, and nothing to ask
    assert out.status == "succeeded", out.result.error
    assert out.step("script").result["value"] == "1"
    assert client.get("counter") == "1"  # type: ignore[attr-defined]


def test_yes_confirms_a_write_like_any_danger_step(tmp_path: Path,
                                                   victim: tuple[str, object]) -> None:
    url, client = victim
    out = Runner(environ={"REDIS": url}).run(_book(tmp_path, "DEL canary"), yes=True)
    assert out.status == "succeeded", out.result.error
    assert client.get("canary") is None  # type: ignore[attr-defined]
    assert [e["data"]["via"] for e in out.audit("confirmed")] == ["--yes"]


def test_danger_false_on_a_command_vvrun_refuses_is_an_error(tmp_path: Path) -> None:
    path = write_runbook(tmp_path, """
        version: 1
        name: no
        title: No
        connections:
          cache: {redis: "redis://127.0.0.1:1/0"}
        steps:
          - {id: wipe, redis: flushall, danger: false}
    """)
    _book, problems = check_file(str(path))
    [error] = [p for p in problems if p.code == "danger"]
    assert error.severity == "error" and "vvrun refuses to run it" in error.message
