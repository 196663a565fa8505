"""The `redis` step against a real Redis: replies, words, delete_pattern, refusals, timeouts.

The shared Redis (db 0) is used only under a unique key prefix; anything that needs a whole
server (BGSAVE, FLUSHDB) runs on a private `redis-server` started by this module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py
from helpers import ListConsole, ScriptedPrompter, connections, run_step

from vvrun.errors import Cancelled, Location, RunbookError, StepFailed, StepTimeout
from vvrun.language.model import Connection
from vvrun.language.templates import Templater
from vvrun.steps import redis as redis_step
from vvrun.steps.base import Clients, StepIO

WHERE = Location("test.yaml", 1, 1, "t")


def ctx(**inputs: Any) -> dict[str, Any]:
    return {"inputs": inputs, "env": {}, "steps": {}}


@pytest.fixture
def cache(redis_url: str) -> dict[str, Connection]:
    return connections(cache=redis_url)


@pytest.fixture
def direct(redis_url: str) -> Iterator[redis_py.Redis]:
    client = redis_py.Redis.from_url(redis_url, decode_responses=True, socket_timeout=10)
    yield client
    client.close()


@pytest.fixture
def prefix(direct: redis_py.Redis) -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys are removed afterwards."""
    p = f"t:sqlredis:{uuid.uuid4().hex}:"
    yield p
    keys = list(direct.scan_iter(match=p + "*", count=1000))
    for start in range(0, len(keys), 1000):
        direct.unlink(*keys[start : start + 1000])


def make_io(clients: Clients, *, console: Any = None, cancel: threading.Event | None = None,
            timeout: float | None = 30.0, danger: bool = False, run_id: str = "rtest") -> StepIO:
    return StepIO(run_id=run_id, step_id="t", timeout=timeout, clients=clients,
                  console=console or ListConsole(), prompter=ScriptedPrompter(),
                  cancel=cancel or threading.Event(), danger=danger, where=WHERE)


def action_for(body: Any, conns: dict[str, Connection], **inputs: Any) -> redis_step.RedisAction:
    spec = redis_step.parse(body, WHERE)
    return redis_step.render(spec, Templater(ctx(**inputs), where=WHERE), conns)


# -- a private redis-server for whole-server operations -------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not on PATH: install it (Debian: redis-server)")
    port = _free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path), "--daemonize", "no", "--logfile", str(tmp_path / "log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis_py.Redis.from_url(url, socket_timeout=5)
    try:
        for _ in range(500):
            try:
                client.ping()
                break
            except redis_py.ConnectionError:
                time.sleep(0.01)
        client.ping()
        yield url, proc
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


# -- replies --------------------------------------------------------------------------------------


def test_replies_are_decoded_json(cache: dict[str, Connection], prefix: str) -> None:
    def value(command: str) -> Any:
        return run_step("redis", command.format(p=prefix), conns=cache)["value"]

    assert value("SET {p}s hello") is True
    assert value("GET {p}s") == "hello"
    assert value("GET {p}missing") is None
    assert value("INCRBY {p}n 5") == 5
    assert value("HSET {p}h a 1 b 2") == 2
    assert value("HGETALL {p}h") == {"a": "1", "b": "2"}
    assert value("SADD {p}set z a m") == 3
    assert value("SMEMBERS {p}set") == ["a", "m", "z"]
    assert value("RPUSH {p}l x y") == 2
    assert value("LRANGE {p}l 0 -1") == ["x", "y"]
    assert value("ZADD {p}z 1.5 a") == 1
    assert value("ZSCORE {p}z a") == 1.5
    assert value("SCAN 0 MATCH {p}s COUNT 1000")[1] in ([], [f"{prefix}s"])
    assert value("DBSIZE") >= 1
    assert value("PING") is True


def test_info_section_is_a_parsed_mapping(cache: dict[str, Connection]) -> None:
    result = run_step("redis", {"info": "server"}, conns=cache)
    assert isinstance(result["value"], dict) and "redis_version" in result["value"]
    assert isinstance(result["value"]["tcp_port"], int)
    json.dumps(result)
    everything = run_step("redis", {"info": ""}, conns=cache)["value"]
    assert "used_memory" in everything


def test_info_as_a_command_is_parsed_too(cache: dict[str, Connection]) -> None:
    assert "used_memory" in run_step("redis", "INFO memory", conns=cache)["value"]


def test_binary_values_read_as_escaped_text(cache: dict[str, Connection], prefix: str,
                                            redis_url: str) -> None:
    raw = redis_py.Redis.from_url(redis_url, socket_timeout=10)
    raw.set(f"{prefix}bin", b"ok\xff\xfe")
    raw.close()
    result = run_step("redis", f"GET {prefix}bin", conns=cache)
    assert result["value"] == "ok\\xff\\xfe"
    json.dumps(result)


# -- a value is one argument ----------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "two words", "line\r\nSET {p}evil 1", '" quoted \' mixed', "", "*", "--flag", "{{ 7*7 }}",
])
def test_a_templated_value_is_one_argument(cache: dict[str, Connection], prefix: str,
                                           direct: redis_py.Redis, value: str) -> None:
    value = value.replace("{p}", prefix)
    run_step("redis", f"SET {prefix}k {{{{ inputs.v }}}}", conns=cache, context=ctx(v=value))
    assert direct.get(f"{prefix}k") == value  # whole, never re-rendered as a template
    assert not direct.exists(f"{prefix}evil")


def test_quoted_words_and_values_inside_a_word(cache: dict[str, Connection], prefix: str,
                                               direct: redis_py.Redis) -> None:
    run_step("redis", f'SET {prefix}user:{{{{ inputs.id }}}} "hello world {{{{ inputs.x }}}}"',
             conns=cache, context=ctx(id="4 2", x="a b"))
    assert direct.get(f"{prefix}user:4 2") == "hello world a b"


def test_words_list_form(cache: dict[str, Connection], prefix: str,
                         direct: redis_py.Redis) -> None:
    body = {"command": ["HSET", f"{prefix}h", "{{ inputs.f }}", "{{ inputs.v }}", 3, "x"]}
    result = run_step("redis", body, conns=cache, context=ctx(f="a field", v="x\r\ny"))
    assert result["value"] == 2
    assert direct.hgetall(f"{prefix}h") == {"a field": "x\r\ny", "3": "x"}


# -- delete_pattern -------------------------------------------------------------------------------


def _fill(direct: redis_py.Redis, keys: list[str]) -> None:
    pipe = direct.pipeline(transaction=False)
    for k in keys:
        pipe.set(k, "1")
    pipe.execute()


def test_delete_pattern_deletes_exactly_the_pattern(cache: dict[str, Connection], prefix: str,
                                                    direct: redis_py.Redis) -> None:
    doomed = [f"{prefix}cache:words:{i}" for i in range(3000)]
    kept = ([f"{prefix}cache:word:{i}" for i in range(300)]
            + [f"{prefix}cache:wordsX{i}" for i in range(100)]
            + [f"{prefix}other:{i}" for i in range(100)])
    _fill(direct, doomed + kept)
    console = ListConsole()
    result = run_step("redis", {"delete_pattern": {"pattern": f"{prefix}cache:words:*",
                                                   "batch": 500}},
                      conns=cache, console=console)
    assert result == {"scanned": 3000, "deleted": 3000}
    assert not any(direct.exists(k) for k in doomed[:50])
    assert direct.exists(*kept) == len(kept)
    assert console.progress_calls and console.progress_calls[-1][0] == 3000
    assert "cache:words:*" in console.progress_calls[-1][2]


def test_delete_pattern_with_nothing_to_delete(cache: dict[str, Connection], prefix: str) -> None:
    result = run_step("redis", {"delete_pattern": f"{prefix}nothing:*"}, conns=cache)
    assert result == {"scanned": 0, "deleted": 0}


def test_delete_pattern_throttled(cache: dict[str, Connection], prefix: str,
                                  direct: redis_py.Redis) -> None:
    _fill(direct, [f"{prefix}t:{i}" for i in range(2000)])
    console = ListConsole()
    result = run_step("redis", {"delete_pattern": {"pattern": f"{prefix}t:*",
                                                   "max_per_second": 10000}},
                      conns=cache, console=console)
    assert result == {"scanned": 2000, "deleted": 2000}
    # throttled flushes are small (max_per_second / 10): several progress updates, not one
    done = [d for d, _, _ in console.progress_calls]
    steps = [b - a for a, b in zip([0, *done], done, strict=False)]
    assert len(set(done)) >= 2 and max(steps) <= 1000


def test_templated_values_in_a_pattern_match_literally(cache: dict[str, Connection],
                                                       prefix: str,
                                                       direct: redis_py.Redis) -> None:
    _fill(direct, [f"{prefix}u:*:1", f"{prefix}u:alice:1", f"{prefix}u:bob:1"])
    result = run_step("redis", {"delete_pattern": prefix + "u:{{ inputs.user }}:*"},
                      conns=cache, context=ctx(user="*"))
    assert result["deleted"] == 1
    assert not direct.exists(f"{prefix}u:*:1")
    assert direct.exists(f"{prefix}u:alice:1", f"{prefix}u:bob:1") == 2


def test_delete_everything_needs_danger(cache: dict[str, Connection]) -> None:
    with pytest.raises(StepFailed, match="would delete every key") as err:
        run_step("redis", {"delete_pattern": "*"}, conns=cache)
    assert "danger: true" in (err.value.hint or "")


class _CancelOnProgress(ListConsole):
    def __init__(self, cancel: threading.Event):
        super().__init__()
        self.cancel = cancel

    def progress(self, done: int, total: int | None, label: str = "") -> None:
        super().progress(done, total, label)
        self.cancel.set()


def test_delete_pattern_stops_at_cancel(cache: dict[str, Connection], prefix: str,
                                        direct: redis_py.Redis) -> None:
    _fill(direct, [f"{prefix}c:{i}" for i in range(3000)])
    cancel = threading.Event()
    with pytest.raises(Cancelled) as err:
        run_step("redis", {"delete_pattern": {"pattern": f"{prefix}c:*", "batch": 100}},
                 conns=cache, console=_CancelOnProgress(cancel), cancel=cancel)
    left = len(list(direct.scan_iter(match=f"{prefix}c:*", count=1000)))
    assert 0 < left < 3000  # it stopped part-way, and says how far it got
    assert f"after deleting {3000 - left} " in err.value.message
    assert "idempotent" in (err.value.hint or "")


def test_delete_pattern_stops_at_the_step_timeout(cache: dict[str, Connection], prefix: str,
                                                  direct: redis_py.Redis) -> None:
    _fill(direct, [f"{prefix}slow:{i}" for i in range(5)])
    # one key a second: the second flush would start after the 0.3 s step timeout
    with pytest.raises(StepTimeout, match="ran past the step's timeout") as err:
        run_step("redis", {"delete_pattern": {"pattern": f"{prefix}slow:*",
                                              "max_per_second": 1}},
                 conns=cache, timeout=0.3)
    assert "after deleting 1 " in err.value.message


class _KillSaveWhenPaused(ListConsole):
    """When delete_pattern says it is paused, end the server's BGSAVE (kill its child)."""

    def __init__(self, server_pid: int):
        super().__init__()
        self.server_pid = server_pid

    def status(self, text: str) -> None:
        super().status(text)
        if text.startswith("paused"):
            children = Path(f"/proc/{self.server_pid}/task/{self.server_pid}/children")
            for pid in children.read_text().split():
                os.kill(int(pid), signal.SIGKILL)


def test_delete_pattern_pauses_during_bgsave(private_redis: tuple[str, Any]) -> None:
    url, proc = private_redis
    client = redis_py.Redis.from_url(url, decode_responses=True, socket_timeout=10)
    try:
        _fill(client, [f"k:{i}" for i in range(20)] + ["other"])
        client.config_set("rdb-key-save-delay", 1_000_000)  # a BGSAVE that lasts 21 s
        client.bgsave()
        assert client.info("persistence")["rdb_bgsave_in_progress"] == 1
        console = _KillSaveWhenPaused(proc.pid)
        result = run_step("redis", {"delete_pattern": "k:*"}, conns=connections(c=url),
                          console=console)
        assert result == {"scanned": 20, "deleted": 20}
        assert console.statuses[0].startswith("paused: the server is running a BGSAVE")
        assert console.statuses[-1].startswith("resumed")
        assert client.exists("other") == 1 and client.dbsize() == 1
    finally:
        client.close()


# -- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "hint"), [
    ("KEYS *", "delete_pattern"),
    ("keys t:sqlredis:*", "SCAN 0 MATCH"),
    ("FLUSHALL", "danger: true"),
    ("FLUSHALL ASYNC", "danger: true"),
    ("FLUSHDB", "FLUSHDB ASYNC"),
    ("FLUSHDB SYNC", "FLUSHDB ASYNC"),
])
def test_blocking_or_wiping_commands_need_danger(cache: dict[str, Connection], command: str,
                                                 hint: str) -> None:
    with pytest.raises(StepFailed, match="refused in a step that is not `danger: true`") as err:
        run_step("redis", command, conns=cache)
    assert hint in (err.value.hint or "")


def test_keys_runs_in_a_danger_step(cache: dict[str, Connection], prefix: str,
                                    direct: redis_py.Redis) -> None:
    direct.set(f"{prefix}k", "1")
    result = run_step("redis", f"KEYS {prefix}*", conns=cache, danger=True)
    assert result["value"] == [f"{prefix}k"]


def test_flushdb_async_needs_no_danger_and_flushall_runs_in_danger(
        private_redis: tuple[str, Any]) -> None:
    url, _ = private_redis
    conns = connections(c=url)
    run_step("redis", "SET a 1", conns=conns)
    assert run_step("redis", "FLUSHDB ASYNC", conns=conns)["value"] is True
    assert run_step("redis", "DBSIZE", conns=conns)["value"] == 0
    run_step("redis", "SET a 1", conns=conns)
    assert run_step("redis", "FLUSHALL", conns=conns, danger=True)["value"] is True
    assert run_step("redis", "DBSIZE", conns=conns)["value"] == 0


@pytest.mark.parametrize("command", ["MONITOR", "subscribe news", "PSUBSCRIBE n*", "SYNC"])
def test_commands_that_never_return_are_refused(cache: dict[str, Connection],
                                                command: str) -> None:
    with pytest.raises(RunbookError, match="never returns"):
        action_for(command, cache)


def test_a_templated_command_name_is_checked_too(cache: dict[str, Connection]) -> None:
    with pytest.raises(RunbookError, match="MONITOR never returns"):
        action_for("{{ inputs.c }}", cache, c="monitor")
    with pytest.raises(StepFailed, match="KEYS is refused"):
        run_step("redis", "{{ inputs.c }} *", conns=cache, context=ctx(c="keys"))


# -- clients, timeouts, errors --------------------------------------------------------------------


def test_one_client_per_connection_per_run(cache: dict[str, Connection]) -> None:
    clients = Clients()
    try:
        first = redis_step.execute(action_for("CLIENT ID", cache), make_io(clients))
        second = redis_step.execute(action_for("CLIENT ID", cache), make_io(clients))
        assert first["value"] == second["value"]
        name = redis_step.execute(action_for("CLIENT GETNAME", cache),
                                  make_io(clients, run_id="rtest"))
        assert name["value"] == "vvrun:rtest"
    finally:
        clients.close()


def test_timeout_bounds_a_blocking_command(cache: dict[str, Connection], prefix: str) -> None:
    clients = Clients()
    try:
        with pytest.raises(StepTimeout) as err:
            redis_step.execute(action_for(f"BLPOP {prefix}never 0", cache),
                               make_io(clients, timeout=0.3))
        assert "did not answer" in err.value.message and "0.3s" in err.value.message
        assert "timeout" in (err.value.hint or "")
        # the next step gets a clean client
        again = redis_step.execute(action_for("PING", cache), make_io(clients, timeout=0.3))
        assert again["value"] is True
    finally:
        clients.close()


def test_connection_socket_timeout_applies_without_a_step_timeout(redis_url: str,
                                                                  prefix: str) -> None:
    conns = {"c": Connection("c", "redis", {"url": redis_url, "socket_timeout": "200ms"})}
    with pytest.raises(StepTimeout, match=r"within 0\.2s"):
        run_step("redis", f"BLPOP {prefix}never 0", conns=conns, timeout=None)


def test_unknown_command_is_a_step_failure(cache: dict[str, Connection]) -> None:
    with pytest.raises(StepFailed) as err:
        run_step("redis", "NOSUCHCOMMAND a b", conns=cache)
    # Redis 7 quotes the command with '', 6.2 (the sandbox's) with ``
    assert re.search(r"unknown command .NOSUCHCOMMAND.", err.value.message)
    assert "redis.io/commands" in (err.value.hint or "")


def test_wrongtype_is_a_step_failure(cache: dict[str, Connection], prefix: str) -> None:
    run_step("redis", f"RPUSH {prefix}list a", conns=cache)
    with pytest.raises(StepFailed) as err:
        run_step("redis", f"INCR {prefix}list", conns=cache)
    assert "WRONGTYPE" in err.value.message and f"`INCR {prefix}list`" in err.value.message
    assert "TYPE <key>" in (err.value.hint or "")


def test_wrong_arguments_is_a_step_failure(cache: dict[str, Connection]) -> None:
    with pytest.raises(StepFailed, match="wrong number of arguments"):
        run_step("redis", "GET", conns=cache)


# -- render and describe --------------------------------------------------------------------------


def test_describe() -> None:
    conns = {"c": Connection("c", "redis", {"url": "redis://:hunter22@cache:6379/0"})}
    d = redis_step.describe(action_for("DBSIZE", conns))
    assert d.summary == "DBSIZE" and d.target == "redis://:***@cache:6379/0"
    assert "hunter22" not in repr(d)
    d = redis_step.describe(action_for({"delete_pattern": "cache:words:*"}, conns))
    assert d.summary == "delete_pattern cache:words:*"
    assert any("UNLINK" in n for n in d.notes)
    d = redis_step.describe(action_for("SET k {{ inputs.v }}", conns, v="a b\r\nFLUSHALL"))
    assert d.summary == 'SET k "a b\\r\\nFLUSHALL"'  # one line; the value shown as one word
    d = redis_step.describe(action_for("SET {{ inputs.k }} 'x y' *", conns, k="⟨k⟩"))
    assert d.summary == 'SET ⟨k⟩ "x y" *'
    assert redis_step.describe(action_for({"info": "stats"}, conns)).summary == "INFO stats"
    d = redis_step.describe(action_for("KEYS *", conns))
    assert any("danger: true" in n for n in d.notes)
    d = redis_step.describe(action_for("FLUSHDB ASYNC", conns))
    assert not any("runs only in a `danger: true` step" in n for n in d.notes)
    d = redis_step.describe(action_for({"delete_pattern": "*"}, conns))
    assert any("every key" in n and "danger: true" in n for n in d.notes)


def test_render_without_a_connection_is_a_runbook_error() -> None:
    with pytest.raises(RunbookError, match="no redis connection") as err:
        action_for("PING", {})
    assert "connections:" in (err.value.hint or "")


def test_render_with_an_empty_command_is_a_runbook_error(cache: dict[str, Connection]) -> None:
    with pytest.raises(RunbookError, match="empty"):
        action_for("{{ inputs.c }}", cache, c="")


def test_render_with_a_bad_duration_is_a_runbook_error(redis_url: str) -> None:
    conns = {"c": Connection("c", "redis", {"url": redis_url, "socket_timeout": "never"})}
    with pytest.raises(RunbookError, match="socket_timeout"):
        action_for("PING", conns)


def test_cancel_before_start_sends_nothing(cache: dict[str, Connection], prefix: str,
                                           direct: redis_py.Redis) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        run_step("redis", f"SET {prefix}x 1", conns=cache, cancel=cancel)
    assert not direct.exists(f"{prefix}x")


def test_cancel_stops_a_blocking_command(cache: dict[str, Connection], prefix: str,
                                         direct: redis_py.Redis) -> None:
    clients = Clients()
    cancel = threading.Event()
    run_id = "rc" + uuid.uuid4().hex[:8]
    io = make_io(clients, cancel=cancel, timeout=60, run_id=run_id)
    outcome: dict[str, BaseException] = {}

    def blocked() -> list[dict[str, Any]]:
        return [c for c in direct.client_list() if c.get("name") == f"vvrun:{run_id}"
                and c.get("cmd") == "blpop"]

    def step() -> None:
        try:
            redis_step.execute(action_for(f"BLPOP {prefix}never 0", cache), io)
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=step)
    worker.start()
    try:
        for _ in range(2000):  # event-driven: until the server shows the command blocked
            if blocked():
                break
            time.sleep(0.01)
        assert blocked(), "the command never reached the server"
        cancel.set()
        worker.join(20)
        assert not worker.is_alive()
        assert isinstance(outcome.get("error"), Cancelled)
        assert "unknown" in (outcome["error"].hint or "")
        for _ in range(500):
            if not blocked():
                break
            time.sleep(0.01)
        assert blocked() == []
    finally:
        cancel.set()
        worker.join(20)
        clients.close()
