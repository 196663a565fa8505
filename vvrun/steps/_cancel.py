"""Cancelling a driver call from another thread: one watcher thread for the process.

Shared by the `sql` step (a server-side cancel request) and the `redis` step (closing the
client's sockets).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

CANCEL_POLL_SECONDS = 0.01  # how often the watch thread looks at armed cancel events


class CancelWatcher:
    """While a driver call runs, call `on_cancel` soon after `cancel` is set.

    `execute` runs in the engine's worker thread; Ctrl-C sets the event from the main thread, so
    another thread watches it: one per process, shared by every call (`_Watch`), because
    starting a thread per query cost 0.7 ms of a 2 ms `SELECT 1` step (bench/RESULTS.md). For
    PostgreSQL `on_cancel` sends a cancel request (the query stops on the server, not only
    here); for Redis it closes the client's sockets.
    """

    def __init__(self, on_cancel: Callable[[], object], cancel: threading.Event, *,
                 escalate: Callable[[], object] | None = None, grace: float = 5.0,
                 hurry: threading.Event | None = None):
        self.on_cancel = on_cancel
        self.cancel = cancel
        # when the call is still running `grace` seconds after `on_cancel` (at once once
        # `hurry` is set: a second signal), the harder stop: a PostgreSQL backend terminated
        self.escalate = escalate
        self.grace = grace
        self.hurry = hurry
        self.fired = False
        self.escalated = False
        self._fired_at = 0.0
        self._done = False
        self._lock = threading.Lock()  # `on_cancel` never runs after `__exit__` returns

    def check(self) -> bool:
        """Fire if `cancel` is set (the watch thread calls this); True: stop watching."""
        if not self.cancel.is_set():
            return False
        with self._lock:
            if self._done:
                return True
            if not self.fired:
                self.fired = True
                self._fired_at = time.monotonic()
                # the call's own error (or lack of one) tells the story
                with contextlib.suppress(Exception):
                    self.on_cancel()
                return self.escalate is None
            hurried = self.hurry is not None and self.hurry.is_set()
            if not hurried and time.monotonic() - self._fired_at < self.grace:
                return False
            self.escalated = True
            with contextlib.suppress(Exception):
                self.escalate()  # type: ignore[misc]
        return True

    def __enter__(self) -> CancelWatcher:
        _WATCH.arm(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:  # waits for an `on_cancel` in progress
            self._done = True
        _WATCH.disarm(self)


class _Watch:
    """The one thread that polls the armed watchers; it sleeps while none is armed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: set[CancelWatcher] = set()
        self._thread: threading.Thread | None = None

    def arm(self, watcher: CancelWatcher) -> None:
        with self._cond:
            self._armed.add(watcher)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="vvrun-cancel",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def disarm(self, watcher: CancelWatcher) -> None:
        with self._cond:
            self._armed.discard(watcher)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._armed:
                    self._cond.wait()
                armed = list(self._armed)
            for watcher in armed:  # outside the condition: on_cancel may take seconds
                if watcher.check():
                    self.disarm(watcher)
            time.sleep(CANCEL_POLL_SECONDS)


_WATCH = _Watch()

