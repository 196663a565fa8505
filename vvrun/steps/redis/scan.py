"""`scan`: the keys matching a glob (SCAN, never KEYS), kept where an expression over `key`
and `value` holds. Values are fetched in pipelined batches by type, only when `where` reads
`value`. Private to `vvrun.steps.redis`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from vvrun.errors import Cancelled, StepFailed, StepTimeout
from vvrun.steps.base import StepIO
from vvrun.steps.redis.client import jsonable

#: How each type's value is read (a pipeline of these per SCAN batch).
READERS: dict[str, Callable[[Any, str], Any]] = {
    "string": lambda p, k: p.get(k),
    "hash": lambda p, k: p.hgetall(k),
    "list": lambda p, k: p.lrange(k, 0, -1),
    "set": lambda p, k: p.smembers(k),
    "zset": lambda p, k: p.zrange(k, 0, -1, withscores=True),
    "stream": lambda p, k: p.xrange(k, count=100),
}
_READS_VALUE = re.compile(r"\bvalue\b")


def scan(client: Any, *, match: str, type_: str | None, count: int, where: str | None,
         max_keys: int, io: StepIO, deadline: float | None) -> dict[str, Any]:
    """`{keys, scanned}`: every matching key (sorted) for which `where` holds."""
    keep: Callable[[str, Any], bool] | None = None
    if where is not None:
        tpl = io.templater
        assert tpl is not None, "the engine gives a redis step its templater"
        keep = lambda key, value: bool(tpl.child(key=key, value=value).expr(where))  # noqa: E731
    with_values = where is not None and _READS_VALUE.search(where) is not None
    keys: list[str] = []
    scanned = 0
    cursor = 0
    while True:
        if io.cancel.is_set():
            raise Cancelled(f"scan {match} was cancelled after {scanned} keys", where=io.where)
        if deadline is not None and time.monotonic() >= deadline:
            raise StepTimeout(f"scan {match} ran past the step's timeout after {scanned} keys",
                              where=io.where, hint="raise the step's `timeout`, or narrow "
                              "`match`")
        cursor, batch = client.scan(cursor=cursor, match=match, count=count, _type=type_)
        scanned += len(batch)
        if batch:
            values = _values(client, batch, type_) if with_values else [None] * len(batch)
            keys.extend(k for k, v in zip(batch, values, strict=True)
                        if keep is None or keep(k, v))
            io.console.progress(scanned, None, f"scanned {scanned} keys matching {match}")
        if len(keys) > max_keys:
            raise StepFailed(f"scan {match} found more than {max_keys} keys", where=io.where,
                             hint="narrow `match` or `where`, or raise `max_keys`")
        if cursor == 0:
            return {"keys": sorted(set(keys)), "scanned": scanned}


def _values(client: Any, keys: list[str], type_: str | None) -> list[Any]:
    """Each key's value, read by its type in two pipelined round trips (one when `type` is
    known); a key gone meanwhile reads as None."""
    if type_ is None:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.type(key)
        types = pipe.execute()
    else:
        types = [type_] * len(keys)
    pipe = client.pipeline(transaction=False)
    read: list[bool] = []
    for key, kind in zip(keys, types, strict=True):
        reader = READERS.get(kind)
        read.append(reader is not None)
        if reader is not None:
            reader(pipe, key)
    fetched = iter(pipe.execute() if any(read) else [])
    return [_shape(next(fetched)) if r else None for r in read]


def _shape(value: Any) -> Any:
    if (isinstance(value, list) and value and isinstance(value[0], tuple)
            and isinstance(value[0][1], dict)):  # stream entries: (id, fields)
        return [{"id": i, **jsonable(f)} for i, f in value]
    return jsonable(value)  # zset pairs become [member, score] lists
