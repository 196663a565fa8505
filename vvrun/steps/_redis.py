"""Redis plumbing for the `redis` step: the client, `delete_pattern`, replies as JSON, errors.

Private to `vvrun.steps.redis`. redis-py is imported inside functions only. Every redis-py
exception leaves through `translate`, once, chained with `from exc`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from vvrun.errors import Cancelled, ConnectFailed, Location, StepFailed, StepTimeout, VvrunError
from vvrun.secrets import Masker
from vvrun.steps.base import StepIO

PIPELINE_DEPTH = 10  # UNLINK batches per round trip (PERF-NOTES: batches of 1000, pipelines of 10)
PERSISTENCE_CHECK_SECONDS = 0.5  # how often delete_pattern looks for a BGSAVE / AOF rewrite
PERSISTENCE_POLL_SECONDS = 0.5  # how often it looks again while paused
_PERSISTING = (("rdb_bgsave_in_progress", "a BGSAVE"),
               ("aof_rewrite_in_progress", "an AOF rewrite"))


def mask_target(url: str) -> str:
    return Masker().mask(url)


def make_client(url: str, *, socket_timeout: float, connect_timeout: float, client_name: str,
                where: Location) -> Any:
    """A connected redis-py client whose socket waits are always bounded and that never
    retries by itself (a retried INCR or UNLINK is a second effect the operator never saw)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    target = mask_target(url)
    try:
        client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            decode_responses=True,
            encoding_errors="backslashreplace",  # a binary value still reads, as \xNN escapes
            retry=Retry(NoBackoff(), 0),
            client_name=client_name,
        )
    except ValueError as exc:  # a malformed URL
        raise ConnectFailed(
            f"the Redis URL {target} is not valid: {mask_target(str(exc))}", where=where,
            hint="write it like redis://[:password@]host:6379/0 (rediss:// for TLS)",
        ) from exc
    try:
        client.ping()  # connect now, so that a wrong host or password is reported as such
    except redis.TimeoutError as exc:
        client.close()
        raise ConnectFailed(
            f"Redis at {target} did not answer within {socket_timeout:g}s of connecting",
            where=where, hint="is it Redis that listens there? check the host and port, or "
            "raise the step's `timeout` if the server is just slow",
        ) from exc
    except redis.RedisError as exc:
        client.close()
        raise translate(exc, target=target, command="PING", where=where,
                        timeout=socket_timeout) from exc
    return client


# -- replies ------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """A decoded Redis reply as plain JSON: sets become sorted lists, bytes become text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, Mapping):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=str)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)  # e.g. an error object inside an EXEC reply


# -- delete_pattern -----------------------------------------------------------------------------


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
            raise Cancelled(f"delete_pattern {self.pattern} was cancelled {self.so_far()}",
                            where=self.io.where,
                            hint="run the step again to finish: deleting is idempotent")
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


# -- errors -------------------------------------------------------------------------------------

_CONNECT_HINTS = (
    ("wrongpass", "check the password (and user) in the connection's URL"),
    ("invalid username-password", "check the password (and user) in the connection's URL"),
    ("noauth", "the server requires a password: put it in the URL, redis://:PASSWORD@host:6379"),
    ("without any password configured", "the server has no password: remove it from the URL"),
    ("refused", "is Redis running there? check the host and port in the connection's URL"),
    ("timeout", "no answer in time: check the host (firewall, VPN) or raise `connect_timeout`"),
    ("name or service not known", "the host name does not resolve: check it in the URL"),
    ("name resolution", "the host name does not resolve: check it in the URL"),
)


def translate(exc: BaseException, *, target: str, command: str, where: Location,
              timeout: float | None) -> VvrunError:
    """One redis-py exception → the vvrun error an operator can act on."""
    import redis

    text = mask_target(" ".join(str(exc).split())) or type(exc).__name__
    if isinstance(exc, redis.TimeoutError):
        return StepTimeout(
            f"Redis at {target} did not answer `{command}` within {timeout:g}s", where=where,
            hint="raise the step's `timeout`; a slow command (KEYS, a huge DEL) blocks the server",
        )
    if isinstance(exc, redis.ConnectionError | redis.AuthenticationError):
        low = text.lower()
        hint = next((h for needle, h in _CONNECT_HINTS if needle in low),
                    "check the connection's URL and that the server is up")
        return ConnectFailed(f"cannot use Redis at {target}: {text}", where=where, hint=hint)
    if isinstance(exc, redis.ResponseError):
        low = text.lower()
        if low.startswith(("noauth", "wrongpass")):
            return ConnectFailed(f"Redis at {target} refused us: {text}", where=where,
                                 hint="check the password (and user) in the connection's URL")
        if "unknown command" in low:
            hint = "check the command's name and arguments (https://redis.io/commands)"
        elif low.startswith("wrongtype"):
            hint = "the key holds another type of value: look with `TYPE <key>`"
        else:
            hint = "fix the command, or check the server's state"
        return StepFailed(f"Redis refused `{command}`: {text}", where=where, hint=hint)
    return StepFailed(f"Redis command `{command}` failed: {text}", where=where,
                      hint="check the command's arguments")
