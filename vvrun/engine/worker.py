"""Running one step's effect: in a worker thread, so that the main thread can renew the run's
lock leases while it runs and turn a signal (Ctrl-C, SIGTERM, SIGHUP) into a cancel the step
cleans up after."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from vvrun.events import Event, Sink
from vvrun.secrets import Masker

POLL = 0.1  # seconds between checks of the worker (and lease renewals) in the main thread
HURRIED_WAIT = 3.0  # after a second signal: how long the step still gets to clean up
CLEANUP_MARGIN = 10.0  # beyond twice the grace, before a step that will not stop is abandoned


class SinkConsole:
    """`steps.base.Console` over the event sink: live lines, progress, status (masked)."""

    def __init__(self, sink: Sink, masker: Masker, step_id: str):
        self.sink = sink
        self.masker = masker
        self.step_id = step_id

    def line(self, text: str, *, stream: str = "stdout") -> None:
        self.sink.emit(Event("step_output", {"step_id": self.step_id,
                                             "text": self.masker.mask(text), "stream": stream},
                             time.time()))

    def progress(self, done: int, total: int | None, label: str = "") -> None:
        self.sink.emit(Event("step_progress", {"step_id": self.step_id, "done": done,
                                               "total": total,
                                               "label": self.masker.mask(label)}, time.time()))

    def status(self, text: str) -> None:
        self.line(text, stream="status")


class Renewer:
    """Renews the run's lock leases every `every` seconds; called from the main thread only
    (a store's connection is not shared across threads by us)."""

    def __init__(self, renew: Callable[[], None], every: float):
        self.renew = renew
        self.every = every
        self.last = time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.renew()


def run_in_worker(fn: Callable[[], Any], cancel: threading.Event, renewer: Renewer,
                  *, abandon_on_interrupt: bool = False, hurry: threading.Event | None = None,
                  grace: float = 5.0,
                  defer: Callable[[KeyboardInterrupt], None] | None = None,
                  stopping: Callable[[bool], None] | None = None) -> Any:
    """Call `fn()` in a thread and return its value or raise its exception.

    A signal (KeyboardInterrupt in the main thread: Ctrl-C, or SIGTERM/SIGHUP as
    `errors.Interrupted`) sets `cancel` and waits for the step to stop cleanly (a shell step
    ends every process it started, a query is cancelled on the server). A second one sets
    `hurry` — the step skips its grace — and waits a little more; a step that still has not
    stopped by then (or after twice its grace and a margin) is abandoned, so the run record
    is always written. A step that only talks to the operator is abandoned at once
    (`abandon_on_interrupt`): it has nothing to clean up. Either way the first interrupt is
    raised again, chained to what the step raised — unless the step finished anyway (it
    returned a value: its effect happened and its result is known). Then, with `defer`, the
    interrupt is handed to `defer` and the value returned: the step is recorded as done, and
    the run stops before the next one (a resume does not have to ask about it).
    `stopping(hurried)` is told when the step is asked to stop (False) and when a second
    signal hurries it (True), so that the screen can say so during the grace.
    """
    hurry = hurry if hurry is not None else threading.Event()
    box: dict[str, Any] = {}
    # Not Thread.join: on Python 3.11 a Ctrl-C inside join() can mark a running thread as
    # stopped (bpo-45274's fix releases the lock the thread holds), and the run would exit
    # before the step cleaned up (its process group or its query left running).
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the main thread
            box["error"] = exc

    _WORKERS.submit(target, done)
    interrupt: KeyboardInterrupt | None = None
    give_up = float("inf")
    told_hurry = False
    while not done.is_set():
        try:
            done.wait(POLL)
            now = time.monotonic()
            if interrupt is None:
                renewer.tick()
            elif hurry.is_set():
                if not told_hurry:
                    told_hurry = True
                    _tell(stopping, hurry)
                give_up = min(give_up, now + HURRIED_WAIT)
            if now > give_up:
                break  # abandoned: a daemon thread, it cannot hold up the exit
        except KeyboardInterrupt as exc:
            cancel.set()
            if interrupt is not None:
                hurry.set()  # a handler that does not raise again sets it itself
                continue
            interrupt = exc
            if abandon_on_interrupt:
                break
            give_up = time.monotonic() + 2 * grace + CLEANUP_MARGIN
            told_hurry = hurry.is_set()
            _tell(stopping, hurry)
    if interrupt is not None:
        if defer is not None and done.is_set() and "value" in box:
            defer(interrupt)
            return box["value"]
        raise interrupt from box.get("error")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _tell(stopping: Callable[[bool], None] | None, hurry: threading.Event) -> None:
    """Say that the step is being stopped; saying so must never cut the cleanup short (an
    output whose reader went away, a Ctrl-C without vvrun's handler: it hurries instead)."""
    if stopping is None:
        return
    try:
        stopping(hurry.is_set())
    except KeyboardInterrupt:
        hurry.set()
    except Exception:  # the step's cleanup matters more than this line
        pass


class _Workers:
    """Daemon threads that run steps' effects, reused from step to step: starting a thread
    per step cost 0.2–0.7 ms (bench/RESULTS.md). A worker still busy with an abandoned step is
    not idle, so the next step gets another; daemons, so an abandoned prompt never holds up
    the process's exit."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], None], threading.Event]] = (
            queue.SimpleQueue())
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, target: Callable[[], None], done: threading.Event) -> None:
        """Run `target()` (it must not raise) in a worker, then set `done`."""
        with self._lock:
            spawn = self._idle == 0
            if not spawn:
                self._idle -= 1
        if spawn:
            threading.Thread(target=self._serve, name="vvrun-step", daemon=True).start()
        self._jobs.put((target, done))

    def _serve(self) -> None:
        while True:
            target, done = self._jobs.get()
            target()
            with self._lock:  # idle before `done`: the next step finds this worker free
                self._idle += 1
            done.set()


_WORKERS = _Workers()
