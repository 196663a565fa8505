"""Redis plumbing for the `redis` step: the client, replies as JSON, errors.

Private to `vvrun.steps.redis`. redis-py is imported inside functions only. Every redis-py
exception leaves through `translate`, once, chained with `from exc`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from vvrun.errors import ConnectFailed, Location, StepFailed, StepTimeout, VvrunError
from vvrun.secrets import Masker


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
