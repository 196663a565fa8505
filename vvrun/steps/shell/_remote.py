"""A shell step on a remote host: the system `ssh` runs a small bash wrapper there, which reads
the step's environment from stdin, starts the command in its own process group, and stops that
group when its stdin closes.

Why stdin: secrets must not be in any command line (`/proc/PID/cmdline`, local or remote), and
servers rarely accept `SendEnv`/`SetEnv`. Why stop on EOF: the end of our stdin is the one
signal that always reaches the host — vvrun closes it on timeout or Ctrl-C, the kernel closes it
when vvrun dies, sshd closes it when the connection drops — so a cancelled command does not
keep running there. A pty (`ssh -tt`, SIGHUP on hang-up) would merge stderr into stdout and echo
the environment we send.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from typing import Any

from vvrun.errors import Cancelled, ConnectFailed, StepFailed, StepTimeout
from vvrun.steps.base import StepIO
from vvrun.steps.shell._local import GRACE
from vvrun.steps.shell._ssh import (
    ControlDir,
    check_files,
    connect_error,
    find_ssh,
    ssh_argv,
)
from vvrun.steps.shell._stream import exit_code_of, require_ok, start_pumps
from vvrun.steps.shell.childenv import scrubbed

MARKER = "\x1evvrun-ssh-started"  # the wrapper's first stdout line: the host ran it
ENV_CAP = 32 * 1024  # under a pipe's buffer, so writing it never blocks
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# $1 the command, $2 the directory ('' for the login directory), $3 GRACE in seconds.
# The wrapper's own stderr goes to /dev/null (bash reports its jobs there); the command's
# stderr is the session's (fd 4).
# NAME=value records end with NUL (values may hold newlines); an empty record ends them.
WRAPPER = r"""
while IFS= read -r -d '' kv && [ -n "$kv" ]; do export "$kv"; done
exec 3<&0 </dev/null
if [ -n "$2" ]; then cd -- "$2" || exit 1; fi
printf '\036vvrun-ssh-started\n'
exec 4>&2 2>/dev/null
set -m
bash -e -o pipefail -c "$1" 2>&4 3<&- 4>&- &
c=$!
{ cat <&3 >/dev/null; kill -TERM -- -$c; sleep "$3"; kill -KILL -- -$c; } 4>&- &
w=$!
exec 3<&-
wait $c
rc=$?
if kill -0 -- -$c; then
  echo "vvrun: stopped background processes the command left behind" >&4
  kill -TERM -- -$c
  n=0
  while kill -0 -- -$c && [ $n -lt $(($3 * 10)) ]; do sleep 0.1; n=$((n + 1)); done
  kill -KILL -- -$c
fi
kill -KILL -- -$w
exit $rc
"""


def remote_command(command: str, cwd: str | None, grace: float = GRACE) -> str:
    """What ssh hands to the remote login shell: bash running the wrapper with the step's
    command as an argument (quoted once, as a word)."""
    # --norc: bash run by sshd would read ~/.bashrc again (the login shell already did)
    return " ".join(["bash", "--norc", "-c", shlex.quote(WRAPPER), "vvrun-ssh",
                     shlex.quote(command), shlex.quote(cwd or ""), str(max(1, math.ceil(grace)))])


def env_block(env: dict[str, str], io: StepIO) -> bytes:
    for name, value in env.items():
        if not _NAME.match(name) or "\0" in value:
            raise StepFailed(f"environment variable {name!r} cannot be sent to the host",
                             where=io.where, hint="use a name of letters, digits and _")
    block = b"".join(f"{k}={v}".encode() + b"\0" for k, v in env.items()) + b"\0"
    if len(block) > ENV_CAP:
        raise StepFailed(f"the step's environment is {len(block)} bytes; at most {ENV_CAP} "
                         "reach a remote host", where=io.where,
                         hint="pass large values as files")
    return block


def execute_remote(action: Any, io: StepIO) -> dict[str, Any]:
    """Run the command on `action.remote` through ssh; stream, time out and cancel it as a
    local step (the remote process group gets SIGTERM, then SIGKILL after GRACE seconds)."""
    target = action.remote
    if target.host is None:
        raise StepFailed(f"`on:` gave {target.connection!r}, which names no ssh connection",
                         where=io.where, hint="ssh connections: "
                         + (", ".join(target.known) or "none declared under `connections:`"))
    check_files(target, io.env, io.where)
    block = env_block({**io.secret_env, **dict(action.env)}, io)
    control = io.clients.get("shell:ssh-control", ControlDir, close=ControlDir.close)
    base = ssh_argv(find_ssh(io.env, io.where), target, control.path, io.env)
    control.remember(base)
    try:
        proc = subprocess.Popen(
            [*base, "--", remote_command(action.command, action.cwd, io.grace)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=scrubbed(io.env), start_new_session=True)  # Ctrl-C reaches vvrun, which stops it
    except OSError as exc:
        raise ConnectFailed(f"could not start ssh: {exc}", where=io.where,
                            hint="install the OpenSSH client or fix PATH") from exc
    if io.on_spawn is not None:
        # The ssh client's own group (start_new_session): while it lives, the command may run
        # on the host; once it is gone, its session's end has stopped the command there (the
        # wrapper's stdin closed). Resume's stray check looks at it. ControlPersist's master
        # daemonizes into a session of its own, so it is not in this group.
        io.on_spawn(proc.pid)
    assert proc.stdin is not None
    with contextlib.suppress(OSError):  # ssh gone already: its exit status says why
        proc.stdin.write(block)
        proc.stdin.flush()
    started = threading.Event()

    def first(line: str) -> bool:
        if line == MARKER:
            started.set()
            return True
        return False

    tails, readers, _lock = start_pumps(proc, io.console, "ssh", first)
    began = time.monotonic()
    stopped_by = None
    while proc.poll() is None:
        if io.timeout is not None and time.monotonic() - began >= io.timeout:
            stopped_by = "timeout"
        elif io.cancel.is_set():
            stopped_by = "cancel"
        if stopped_by:
            _stop(proc, started.is_set(), io.grace)
            break
        limit = 0.05 if io.timeout is None else max(0.0, min(
            0.05, io.timeout - (time.monotonic() - began)))
        if readers[0].is_alive():
            readers[0].join(limit)  # wakes at once when the command's output ends
        else:
            io.cancel.wait(min(limit, 0.005))
    with contextlib.suppress(OSError):
        proc.stdin.close()
    for t in readers:
        t.join(io.grace)
    where = target.display()
    exit_code = exit_code_of(proc.returncode)
    result = {"exit_code": exit_code, "stdout": tails["stdout"].text(),
              "stderr": tails["stderr"].text(), "host": where,
              "duration_ms": round((time.monotonic() - began) * 1000, 1)}
    if stopped_by == "timeout":
        raise StepTimeout(
            f"command still running on {where} after {io.timeout:g}s; its process group there "
            f"was stopped (SIGTERM, then SIGKILL after {io.grace:g}s)",
            where=io.where, hint="raise the step's `timeout`, or check why the command hangs")
    if stopped_by == "cancel":
        raise Cancelled(f"command on {where} interrupted; its process group there was stopped",
                        where=io.where)
    if exit_code == 255 and not started.is_set():
        raise connect_error(target, list(tails["stderr"].lines), io.where)
    if exit_code == 255 and _lost(tails["stderr"].lines):
        raise ConnectFailed(f"{where}: the connection dropped while the command ran",
                            where=io.where, hint="the host stops the command when it sees the "
                            "connection gone; check the host and the network, then resume")
    return require_ok(exit_code, action.ok_codes, tails["stderr"], result, io.where)


def _lost(stderr: Any) -> bool:
    text = "\n".join(list(stderr)[-3:])
    return any(s in text for s in ("closed by remote host", "Broken pipe", "Connection reset",
                                   "Timeout, server"))


def _stop(proc: subprocess.Popen[bytes], started: bool, grace: float) -> None:
    """Close ssh's stdin: the wrapper on the host stops the command's group (SIGTERM, SIGKILL
    after GRACE) and exits, and ssh with it. An ssh that does not end (connection hung, or not
    yet connected) is stopped here."""
    assert proc.stdin is not None
    with contextlib.suppress(OSError):
        proc.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace + 5 if started else 0.5)
        return
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
