"""`shell`: a command for `bash -e -o pipefail -c`, in its own process group.

`-e` is on (as in GitHub Actions' `bash -eo pipefail`): SPEC §3.4 says `bash -o pipefail -c`,
but then a failing middle line of a multi-line script is ignored and only the last line decides
the step's outcome, which is the wrong default for an operator's runbook. `set +e` opts out."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vvrun.errors import Cancelled, Location, StepFailed, StepTimeout
from vvrun.secrets import MASK, env_name_is_secret
from vvrun.steps.base import Connection, Console, Description, StepIO, Templater

NAME = "shell"

SCHEMA: Mapping[str, Any] = {
    "description": "Run a command with `bash -e -o pipefail -c` (`set +e` opts out of -e). "
    "Every `{{ }}` is shell-quoted (`| raw` opts out); output streams live and is kept as "
    "`result.stdout`/`stderr`.",
    "examples": ["vercel list | head -5", {"run": "pg_dump \"$DATABASE_URL\" > backup.sql",
                                          "ok_codes": [0]}],
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "The command."},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["run"],
            "properties": {
                "run": {"type": "string", "minLength": 1, "description": "The command."},
                "env": {"type": "object", "description": "Extra environment variables "
                        "(values may be templates; secrets go here, never into argv).",
                        "additionalProperties": {"type": ["string", "number", "boolean"]}},
                "cwd": {"type": "string", "description": "Working directory."},
                "ok_codes": {"type": "array", "minItems": 1, "default": [0],
                             "items": {"type": "integer", "minimum": 0, "maximum": 255},
                             "description": "Exit codes that count as success."},
            },
        },
    ],
}


@dataclass(frozen=True)
class ShellSpec:
    run: str
    env: Mapping[str, Any] = field(default_factory=dict)
    cwd: str | None = None
    ok_codes: tuple[int, ...] = (0,)


def parse(body: Any, where: Location) -> ShellSpec:
    if isinstance(body, str):
        return ShellSpec(run=body)
    return ShellSpec(
        run=body["run"],
        env=body.get("env") or {},
        cwd=body.get("cwd"),
        ok_codes=tuple(body.get("ok_codes", [0])),
    )


# -- render / describe / execute ------------------------------------------------------------

OUTPUT_CAP = 64 * 1024  # characters of each stream kept in the result (the last ones)
LINE_CAP = 16 * 1024  # a longer line without a newline is shown in pieces
GRACE = 5.0  # seconds between SIGTERM and SIGKILL
STDERR_TAIL = 10  # lines of stderr shown in a failure


@dataclass(frozen=True)
class ShellAction:
    """The command with every value already shell-quoted, and its environment."""

    command: str
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    ok_codes: tuple[int, ...] = (0,)


def render(spec: ShellSpec, tpl: Templater, conns: Mapping[str, Connection]) -> ShellAction:
    env = tuple((str(k), _env_text(tpl.text(v))) for k, v in spec.env.items())
    cwd = None if spec.cwd is None else str(tpl.text(spec.cwd))
    return ShellAction(command=tpl.shell(spec.run), env=env, cwd=cwd, ok_codes=spec.ok_codes)


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe(action: ShellAction) -> Description:
    lines = action.command.strip().splitlines() or [""]
    summary = lines[0] if len(lines) == 1 else lines[0] + " …"
    if len(summary) > 100:
        summary = summary[:99] + "…"
    notes = []
    if action.cwd:
        notes.append(f"in {action.cwd}")
    for k, v in action.env:
        notes.append(f"env {k}={MASK if env_name_is_secret(k) else v}")
    if action.ok_codes != (0,):
        notes.append("ok exit codes: " + ", ".join(str(c) for c in action.ok_codes))
    return Description(summary=summary, body=action.command, language="bash",
                       notes=tuple(notes))


class _Tail:
    """The last OUTPUT_CAP characters of a stream, kept as lines."""

    def __init__(self) -> None:
        self.lines: deque[str] = deque()
        self.size = 0
        self.dropped = False

    def add(self, line: str) -> None:
        self.lines.append(line)
        self.size += len(line) + 1
        while self.size > OUTPUT_CAP and len(self.lines) > 1:
            self.size -= len(self.lines.popleft()) + 1
            self.dropped = True

    def text(self) -> str:
        body = "\n".join(self.lines)
        return ("[… earlier output dropped …]\n" + body) if self.dropped else body


def execute(action: ShellAction, io: StepIO) -> dict[str, Any]:
    """Run the command in its own process group, stream its lines, stop the whole group on
    timeout or cancel (SIGTERM, then SIGKILL after GRACE seconds)."""
    if action.cwd is not None and not os.path.isdir(action.cwd):
        raise StepFailed(f"working directory {action.cwd!r} does not exist", where=io.where,
                         hint="check `cwd:` on the step")
    env = {**io.env, **io.secret_env, **dict(action.env)}
    bash = _bash(env.get("PATH"))
    try:
        proc = subprocess.Popen(
            [bash, "-e", "-o", "pipefail", "-c", action.command],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=action.cwd, env=env, start_new_session=True,  # its own group: we stop it whole
        )
    except OSError as exc:
        raise StepFailed(f"could not start bash: {exc}", where=io.where,
                         hint="vvrun runs shell steps with bash; install it or fix PATH") from exc
    if io.on_spawn is not None:
        io.on_spawn(proc.pid)  # start_new_session: the group's id is bash's pid
    tails = {"stdout": _Tail(), "stderr": _Tail()}
    lock = threading.Lock()  # one line at a time reaches the console
    readers = [threading.Thread(target=_pump, args=(pipe, name, tails[name], io.console, lock),
                                name=f"vvrun-shell-{name}", daemon=True)
               for pipe, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))]
    for t in readers:
        t.start()
    started = time.monotonic()
    stopped_by = None
    # Wake when bash's stdout reaches EOF (it has exited), not on a timer: a quick command
    # ends its step at once (a 50 ms tick was 23 ms of a `true` step: bench/RESULTS.md). Once
    # stdout is closed, poll with a backoff from 0.5 ms. A timeout or a cancel is seen
    # within 50 ms.
    tick = 0.0005
    while proc.poll() is None:
        if io.timeout is not None and time.monotonic() - started >= io.timeout:
            stopped_by = "timeout"
        elif io.cancel.is_set():
            stopped_by = "cancel"
        if stopped_by:
            _stop_group(proc)
            break
        waiting_for_eof = readers[0].is_alive()
        cap = 0.05 if waiting_for_eof else tick
        limit = cap if io.timeout is None else max(0.0, min(
            cap, io.timeout - (time.monotonic() - started)))
        if waiting_for_eof:
            readers[0].join(limit)  # the worker thread: no Ctrl-C lands here
        else:
            io.cancel.wait(limit)
            tick = min(tick * 2, 0.05)
    if stopped_by is None and _group_alive(proc.pid):
        # Background children outlive bash and would hold our pipes open for ever; a step's
        # processes end with the step (start daemons with setsid or a service manager).
        _stop_group(proc)
        _say(io.console, lock, "vvrun: stopped background processes the command left behind",
             "stderr")
    for t in readers:
        t.join(GRACE)
    code = proc.returncode
    exit_code = 128 - code if code < 0 else code  # killed by signal N: 128+N, as bash says
    result = {"exit_code": exit_code, "stdout": tails["stdout"].text(),
              "stderr": tails["stderr"].text(), "pid": proc.pid,
              "duration_ms": round((time.monotonic() - started) * 1000, 1)}
    if stopped_by == "timeout":
        raise StepTimeout(
            f"command still running after {io.timeout:g}s; its process group was stopped "
            f"(SIGTERM, then SIGKILL after {GRACE:g}s)",
            where=io.where, hint="raise the step's `timeout`, or check why the command hangs")
    if stopped_by == "cancel":
        raise Cancelled("command interrupted; its process group was stopped", where=io.where)
    if exit_code not in action.ok_codes:
        tail = list(tails["stderr"].lines)[-STDERR_TAIL:]
        message = f"command exited with {exit_code} (ok: {', '.join(map(str, action.ok_codes))})"
        if tail:
            message += "\n  stderr:\n" + "\n".join("    " + line for line in tail)
        error = StepFailed(message, where=io.where,
                           hint="if this exit code is fine here, add it to `ok_codes`")
        error.result = result  # type: ignore[attr-defined]
        raise error
    return result


@functools.lru_cache(maxsize=8)  # a PATH walk per step was 0.2 ms of a `true` step (bench)
def _bash(path: str | None) -> str:
    return shutil.which("bash", path=path) or "/bin/bash"


def _say(console: Console, lock: threading.Lock, text: str, stream: str) -> None:
    with lock:
        console.line(text, stream=stream)


def _pump(pipe: Any, name: str, tail: _Tail, console: Console, lock: threading.Lock) -> None:
    """Read one stream line by line: show each line live and keep the tail."""
    showing = True
    with pipe:
        for raw in iter(lambda: pipe.readline(LINE_CAP), b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            tail.add(line)
            if showing:
                try:
                    _say(console, lock, line, name)
                except Exception:
                    # The display broke (`vvrun ... | head` closed it). Keep draining the pipe
                    # regardless: a child blocked on a full pipe would hang the step.
                    showing = False


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole group; SIGKILL to whatever is left after GRACE seconds."""
    pgid = proc.pid  # start_new_session: the group's id is bash's pid
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _group_alive(pgid):
            return
        time.sleep(0.02)
    _signal_group(pgid, signal.SIGKILL)
    proc.wait()
    for _ in range(100):  # the kernel needs a moment to reap what SIGKILL ended
        if not _group_alive(pgid):
            return
        time.sleep(0.01)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """True while a live (not zombie) process is in the group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc"):
        return True
    # zombies stay in their group until reaped (by init, for orphans): they are already gone
    return any(state != "Z" for state in group_members(pgid).values())


def group_members(pgid: int) -> dict[int, str]:
    """{pid: state} of the processes in a group (Linux /proc); {} elsewhere."""
    members: dict[int, str] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    stat = fh.read().decode(errors="replace")
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()  # the name may hold spaces and parens
            if len(fields) > 2 and int(fields[2]) == pgid:
                members[int(entry)] = fields[0]
    return members
