"""`delete_pattern`: SCAN MATCH + UNLINK in pipelined batches, throttled, paused while the
server persists. Private to `vvrun.steps.redis`; redis-py is imported inside functions only."""

from __future__ import annotations

import math
import time
from typing import Any

from vvrun.errors import Cancelled, StepTimeout
from vvrun.steps.base import StepIO

PIPELINE_DEPTH = 10  # UNLINK batches per round trip (PERF-NOTES: batches of 1000, pipelines of 10)
PERSISTENCE_CHECK_SECONDS = 0.5  # how often delete_pattern looks for a BGSAVE / AOF rewrite
PERSISTENCE_POLL_SECONDS = 0.5  # how often it looks again while paused
_PERSISTING = (("rdb_bgsave_in_progress", "a BGSAVE"),
               ("aof_rewrite_in_progress", "an AOF rewrite"))


def delete_pattern(client: Any, pattern: str, *, batch: int, max_per_second: float | None,
                   io: StepIO, deadline: float | None) -> dict[str, int]:
    """SCAN MATCH COUNT + UNLINK in pipelined batches, never KEYS.

    Throttled to `max_per_second` when given; pauses (and says so through `io.console.status`)
    while the server runs a BGSAVE or an AOF rewrite; stops at `io.cancel` or the deadline,
    saying how far it got (running it again continues: it is idempotent).
    """
    progress = _Progress(pattern, io)
    flush_size = batch * PIPELINE_DEPTH
    if max_per_second:
        # about ten flushes a second at most, so the throttle is smooth rather than bursty
        flush_size = max(1, min(flush_size, math.ceil(max_per_second / 10)))
    pending: list[str] = []
    cursor = 0
    not_before = 0.0  # the throttle: when the next flush may start
    next_check = 0.0
    while True:
        progress.check(deadline)
        if time.monotonic() >= next_check:
            _wait_while_persisting(client, io, deadline, progress)
            next_check = time.monotonic() + PERSISTENCE_CHECK_SECONDS
        cursor, keys = client.scan(cursor=cursor, match=pattern, count=batch)
        progress.scanned += len(keys)
        pending.extend(keys)
        while pending and (len(pending) >= flush_size or cursor == 0):
            if max_per_second:
                _sleep_until(not_before, io, deadline, progress)
            chunk, pending = pending[:flush_size], pending[flush_size:]
            progress.deleted += _unlink(client, chunk, batch)
            if max_per_second:
                not_before = max(not_before, time.monotonic()) + len(chunk) / max_per_second
            progress.show()
        if cursor == 0:
            progress.show()
            return {"scanned": progress.scanned, "deleted": progress.deleted}


class _Progress:
    def __init__(self, pattern: str, io: StepIO):
        self.pattern = pattern
        self.io = io
        self.scanned = 0
        self.deleted = 0

    def show(self) -> None:
        self.io.console.progress(self.deleted, None,
                                 f"deleted {self.deleted} keys matching {self.pattern}")

    def so_far(self) -> str:
        return f"after deleting {self.deleted} of the {self.scanned} matching keys seen so far"

    def check(self, deadline: float | None) -> None:
        if self.io.cancel.is_set():
            cancelled = Cancelled(f"delete_pattern {self.pattern} was cancelled "
                                  f"{self.so_far()}", where=self.io.where,
                                  hint="run it again to delete the rest: deleting is "
                                  "idempotent")
            # what was done, for the ledger: a resume asks with it (`Recorder.interrupted`)
            cancelled.result = {"scanned": self.scanned,  # type: ignore[attr-defined]
                                "deleted": self.deleted}
            raise cancelled
        if deadline is not None and time.monotonic() >= deadline:
            raise StepTimeout(f"delete_pattern {self.pattern} ran past the step's timeout "
                              f"{self.so_far()}", where=self.io.where,
                              hint="raise the step's `timeout`, or run it again to continue")


def _unlink(client: Any, keys: list[str], batch: int) -> int:
    pipe = client.pipeline(transaction=False)
    for start in range(0, len(keys), batch):
        pipe.unlink(*keys[start : start + batch])
    return sum(pipe.execute())


def _sleep_until(when: float, io: StepIO, deadline: float | None, progress: _Progress) -> None:
    while (left := when - time.monotonic()) > 0:
        if deadline is not None:
            left = min(left, max(deadline - time.monotonic(), 0))
        io.cancel.wait(left)
        progress.check(deadline)


def _wait_while_persisting(client: Any, io: StepIO, deadline: float | None,
                           progress: _Progress) -> None:
    import redis

    def busy() -> list[str]:
        try:
            info = client.info("persistence")
        except redis.ResponseError:  # INFO disabled (some managed services): cannot tell
            return []
        return [what for key, what in _PERSISTING if info.get(key)]

    doing = busy()
    if not doing:
        return
    io.console.status(f"paused: the server is running {' and '.join(doing)}; deleting resumes "
                      f"when it ends ({progress.deleted} keys deleted so far)")
    while doing:
        progress.check(deadline)
        io.cancel.wait(PERSISTENCE_POLL_SECONDS)
        doing = busy()
    io.console.status("resumed: the server's background save is over")
