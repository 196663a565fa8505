"""Runs from the page: one detached `python -m vvrun` process per run.

The worker is an ordinary CLI run (`--output json`, no terminal, the server's state store), so
it takes the same locks and writes the same ledger as a run started in a terminal; it lives in
its own session, so a browser that goes away or a server that restarts leaves it running (or
paused, and resumable). Its JSON lines go to `<work_dir>/logs/<run_id>.jsonl` for the live page.
Form values travel in a 0600 vars file, never on the command line (/proc/PID/cmdline is world
readable), and the file is removed as soon as the run has read them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from vvrun.errors import UsageError
from vvrun.web.config import ServeConfig

START_TIMEOUT = 30.0


def log_path(cfg: ServeConfig, run_id: str) -> str:
    return cfg.path("logs", f"{run_id}.jsonl")


def _env(cfg: ServeConfig, operator: str) -> dict[str, str]:
    env = dict(cfg.environ)
    env["VVRUN_OPERATOR"] = operator
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _spawn(cfg: ServeConfig, args: Sequence[str], operator: str, out: str, err: str,
           cleanup: str | None = None) -> subprocess.Popen[bytes]:
    os.makedirs(cfg.path("logs"), mode=0o700, exist_ok=True)
    with open(out, "ab") as stdout, open(err, "ab") as stderr:
        proc = subprocess.Popen([cfg.python, "-m", "vvrun", *args], stdin=subprocess.DEVNULL,
                                stdout=stdout, stderr=stderr, env=_env(cfg, operator),
                                start_new_session=True, close_fds=True)

    def reap() -> None:  # no zombies; the vars file goes even if the run never started
        proc.wait()
        if cleanup:
            _remove(cleanup)

    threading.Thread(target=reap, daemon=True, name=f"reap-{proc.pid}").start()
    return proc


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _first_run_id(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("event") == "run_started":
                    return str(event.get("run_id") or (event.get("data") or {}).get("run_id"))
    except FileNotFoundError:
        return None
    return None


def start_run(cfg: ServeConfig, path: str, values: Mapping[str, Any], operator: str) -> str:
    """Start `path` with `values`; wait until it has a run id and return it."""
    os.makedirs(cfg.path("tmp"), mode=0o700, exist_ok=True)
    token = os.urandom(6).hex()
    vars_file = cfg.path("tmp", f"vars-{token}.json")
    fd = os.open(vars_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(dict(values), fh)
    out, err = cfg.path("logs", f"start-{token}.jsonl"), cfg.path("logs", f"start-{token}.err")
    proc = _spawn(cfg, ["run", path, "--vars-file", vars_file, "--output", "json"], operator,
                  out, err, cleanup=vars_file)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        run_id = _first_run_id(out)
        if run_id:
            _remove(vars_file)
            os.replace(out, log_path(cfg, run_id))  # the worker keeps writing to it
            os.replace(err, log_path(cfg, run_id) + ".err")
            return run_id
        if proc.poll() is not None and not _first_run_id(out):
            break
        time.sleep(0.05)  # polling a file the child writes; bounded by START_TIMEOUT
    with open(err, encoding="utf-8", errors="replace") as fh:
        message = cfg.masker.mask(fh.read().strip()) or "the worker did not start the run"
    raise UsageError(message.removeprefix("vvrun: "))


def resume_run(cfg: ServeConfig, run_id: str, operator: str,
               extra: Sequence[str] = ()) -> None:
    """Continue a paused run in a new worker (after an approval or an acknowledgement)."""
    log = log_path(cfg, run_id)
    _spawn(cfg, ["resume", run_id, "--output", "json", *extra], operator, log, log + ".err")


def worker_pid(cfg: ServeConfig, store: Any, run: Any) -> int | None:
    """The pid of the worker running `run` on this host, if it is one of ours: the lock
    holder, a vvrun process that leads its own process group (a terminal's job is not)."""
    held = store.lock_info(run.runbook)
    if held is None or held.run_id != run.id or held.host != socket.gethostname():
        return None
    try:
        with open(f"/proc/{held.pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
        if b"vvrun" not in argv or os.getpgid(held.pid) != held.pid:
            return None
    except (OSError, ProcessLookupError):
        return None
    return int(held.pid)


def cancel(cfg: ServeConfig, store: Any, run: Any) -> bool:
    """Interrupt a running worker (SIGINT to its group: the run is recorded interrupted,
    resumable)."""
    pid = worker_pid(cfg, store, run)
    if pid is None:
        return False
    os.killpg(pid, signal.SIGINT)
    return True
