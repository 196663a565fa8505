"""A test hook: die by SIGKILL at an exact point of the ledger, to prove crash-safety.

`VVRUN_TEST_CRASH_AT="<key>:before_running"` kills the process just before the step's
`running` record is written (its effect has not started); `"<key>:before_outcome"` just before
its outcome is written (its effect has happened). `open_store` wraps the store in this proxy
only when the variable is set — decided at the edge, like everything about the environment.
(A crash *during* an effect needs no hook: a shell step can `kill -9 $PPID`.)
"""

from __future__ import annotations

import os
import signal
from typing import Any

POINTS = ("before_running", "before_outcome")


class CrashingStore:
    def __init__(self, store: Any, spec: str) -> None:
        key, sep, point = spec.rpartition(":")
        if not sep or point not in POINTS:
            from vvrun.errors import UsageError

            raise UsageError(f"VVRUN_TEST_CRASH_AT={spec!r} is not <step>:<point>",
                             hint=f"points: {', '.join(POINTS)}")
        self._store, self._key, self._point = store, key, point

    def _die(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def step_started(self, run_id: str, key: str, **kwargs: Any) -> None:
        if key == self._key and self._point == "before_running":
            self._die()
        self._store.step_started(run_id, key, **kwargs)

    def step_finished(self, run_id: str, key: str, result: Any, **kwargs: Any) -> None:
        if key == self._key and self._point == "before_outcome":
            self._die()
        self._store.step_finished(run_id, key, result, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
