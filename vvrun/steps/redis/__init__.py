"""`redis`: a command, or a high-level operation (`delete_pattern`, `info`, `scan`, `eval`),
through redis-py.

A command line is split into words before templating (`words.py`), so a value is one argument
whatever its spaces or `\r\n`; values templated into a glob are matched literally. Commands
are classed from Redis's own command table (`classify.py`): a step that does not say
`danger:` is confirmed when its command writes or administers (`implied_danger`).
`client.py` holds the driver plumbing and the error translation.
"""

from __future__ import annotations

import time
from typing import Any

from vvrun.errors import Cancelled, StepFailed
from vvrun.steps._cancel import CancelWatcher
from vvrun.steps.base import StepIO
from vvrun.steps.redis import client as _redis
from vvrun.steps.redis.action import (
    NEEDS_DANGER,
    NEVER_RETURN,
    RedisAction,
    danger_needed,
    describe,
    render,
)
from vvrun.steps.redis.delete import delete_pattern
from vvrun.steps.redis.scan import scan
from vvrun.steps.redis.schema import SCHEMA
from vvrun.steps.redis.spec import RedisSpec, implied_danger, parse

__all__ = ["NAME", "NEEDS_DANGER", "NEVER_RETURN", "SCHEMA", "RedisAction", "RedisSpec",
           "danger_needed", "describe", "execute", "implied_danger", "parse", "render"]

NAME = "redis"
DEFAULT_SOCKET_TIMEOUT = 30.0  # seconds, when neither the step nor the connection sets one


def execute(action: RedisAction, io: StepIO) -> dict[str, Any]:
    """Run the command (or operation) on the run's client for this connection.

    `result.value` is the decoded reply as JSON (INFO parsed into a mapping); `delete_pattern`
    gives `{scanned, deleted}`, `scan` `{keys, scanned}`. Socket waits are always bounded:
    the step's timeout, else the connection's `socket_timeout`, else 30 s.
    """
    if io.cancel.is_set():
        raise Cancelled("cancelled before the command was sent", where=io.where,
                        nothing_done=True)
    _refuse_unless_danger(action, io)
    timeout = io.timeout or action.socket_timeout or DEFAULT_SOCKET_TIMEOUT
    client = _client(action, io, timeout)
    import redis

    try:
        deadline = time.monotonic() + io.timeout if io.timeout else None
        if action.op == "delete_pattern":
            return delete_pattern(client, action.pattern, batch=action.batch,
                                  max_per_second=action.max_per_second, io=io,
                                  deadline=deadline)
        if action.op == "scan":
            return scan(client, match=action.pattern, type_=action.type, count=action.batch,
                        where=action.where, max_keys=action.max_keys, io=io, deadline=deadline)
        if action.op == "info":
            reply = client.info(action.section) if action.section else client.info()
        else:
            # a blocking command (BLPOP, WAIT…) must stop at Ctrl-C, not at the socket timeout
            with CancelWatcher(client.connection_pool.disconnect, io.cancel) as watcher:
                try:
                    reply = client.execute_command(*action.words)
                except Exception as exc:
                    if not watcher.fired:
                        raise
                    io.clients.discard(_client_key(action, timeout))
                    raise Cancelled(f"`{_short(action.command_line())}` was cancelled: its "
                                    "connection was closed", where=io.where,
                                    hint="whether the command took effect is unknown: check "
                                    "before running it again") from exc
    except redis.RedisError as exc:
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            # the connection may hold a half-read reply: the next step starts afresh
            io.clients.discard(_client_key(action, timeout))
        raise _redis.translate(exc, target=_redis.mask_target(action.url),
                               command=_short(action.command_line()), where=io.where,
                               timeout=timeout) from exc
    return {"value": _redis.jsonable(reply)}


def _refuse_unless_danger(action: RedisAction, io: StepIO) -> None:
    if io.danger:
        return
    refused = danger_needed(action)
    if refused is not None:
        what, hint = refused
        raise StepFailed(f"{what} is refused in a step that is not `danger: true`",
                         where=io.where, hint=hint)


def _client(action: RedisAction, io: StepIO, timeout: float) -> Any:
    return io.clients.get(
        _client_key(action, timeout),
        lambda: _redis.make_client(action.url, socket_timeout=timeout,
                                   connect_timeout=min(action.connect_timeout, timeout),
                                   client_name=f"vvrun:{io.run_id}", where=io.where),
    )


def _client_key(action: RedisAction, timeout: float) -> str:
    # one client per connection and socket timeout: redis-py fixes the timeout per client
    return f"redis:{action.connection}:{action.url}:{timeout:g}"


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
