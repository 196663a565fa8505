"""What JSON Schema cannot say about durations: the value of one written as text.

The schema bounds a duration written as a number (`maximum`); `99999999999h` matches the
duration pattern all the same, so every value the schema calls a duration is parsed here, and
a retry's longest wait (`delay` × `backoff` ^ (attempts − 2)) is held to the same limit — the
engine sleeps that long, and past the limit the float overflows before any clock does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from vvrun.language.model import MAX_BACKOFF
from vvrun.language.schema import document as S
from vvrun.language.schema.step_keys import DURATION_PATTERN
from vvrun.text.durations import LIMIT, MAX_SECONDS, format_duration, parse_duration

Path = tuple[Any, ...]
DURATION_HINT = f"write it like 500ms, 30s, 5m, 1h or 1h30m (0 to {LIMIT})"


def duration_message(name: str, written: str) -> str:
    return f"{name} must be a finite duration from 0 to {LIMIT}, not {written}"


def out_of_range(name: str, schema: Mapping[str, Any], keyword: str, value: Any,
                 written: str) -> tuple[str, str | None]:
    """The message (and hint) for a bounded number outside its bounds; `.nan` fails both
    bounds and gets one message for both."""
    if schema.get("pattern") == DURATION_PATTERN:
        return duration_message(name, written), DURATION_HINT
    low, high = schema.get("minimum", 0), schema["maximum"]
    hint = f"write a number from {low} to {high}"
    if not math.isfinite(value):
        return f"{name} must be a finite number from {low} to {high}, not {written}", hint
    words = {"minimum": "at least", "maximum": "at most"}[keyword]
    return f"{name} must be {words} {schema[keyword]}, not {value!r}", hint


def duration_problems(data: Any, bad: frozenset[Path], name: Callable[[Path], str]
                      ) -> Iterator[tuple[Path, str, str]]:
    """(path, message, hint) for each duration text over the limit and each retry whose
    waits grow past it; values the schema already found wrong are left alone. `name`: how a
    message names the value at a path."""
    full = S._walkable_schema()
    seen = set(bad)
    for path, value, branch in _walk(data, S._branches(full, full["$defs"]), (), full["$defs"]):
        if path in seen:
            continue
        if branch.get("pattern") == DURATION_PATTERN and isinstance(value, str):
            try:
                parse_duration(value)
            except ValueError:
                seen.add(path)
                yield path, duration_message(name(path), repr(value)), DURATION_HINT
        elif ("backoff" in (branch.get("properties") or {}) and isinstance(value, dict)
              and not any((*path, k) in seen for k in ("attempts", "delay", "backoff"))):
            message = _longest_wait(value)
            if message:
                seen.add(path)
                yield path, message, ("use fewer attempts, a shorter delay or a smaller "
                                      f"backoff; each wait must stay within {LIMIT}")


def _walk(value: Any, branches: list[Mapping[str, Any]], path: Path,
          defs: Mapping[str, Any]) -> Iterator[tuple[Path, Any, Mapping[str, Any]]]:
    for branch in branches:
        yield path, value, branch
        if isinstance(value, dict):
            for key, sub in value.items():
                child = S._child(branch, key)
                if path[:1] == ("connections",) and len(path) == 1 and isinstance(sub, dict):
                    # by its kind key, as validation does: a postgres connection never loads
                    # the ssh schema (and with it the shell step's code)
                    kinds = [k for k in S.CONNECTION_KINDS if k in sub]
                    child = {"$ref": f"#/$defs/connection_{kinds[0]}"} if kinds else None
                if child is not None:
                    yield from _walk(sub, S._branches(child, defs), (*path, key), defs)
        elif isinstance(value, list) and isinstance(branch.get("items"), Mapping):
            items = S._branches(branch["items"], defs)
            for i, sub in enumerate(value):
                yield from _walk(sub, items, (*path, i), defs)


def _longest_wait(retry: Mapping[str, Any]) -> str | None:
    attempts, backoff = retry.get("attempts", 1), retry.get("backoff", 1)
    try:
        delay = parse_duration(retry.get("delay", 1))
    except ValueError:
        return None  # reported as the delay's own problem
    if not (isinstance(attempts, int) and isinstance(backoff, int | float)) or attempts < 3 \
            or delay <= 0 or not 1 < backoff <= MAX_BACKOFF:
        return None
    # in logarithms: the wait itself may be far beyond what a float holds
    log_wait = math.log(delay) + (attempts - 2) * math.log(backoff)
    if log_wait <= math.log(MAX_SECONDS):
        return None
    wait = format_duration(math.exp(log_wait)) if log_wait < 700 else "beyond any clock"
    return (f"retry: the wait before attempt {attempts} would be {wait} "
            f"({retry.get('delay', 1)} × {backoff:g}^{attempts - 2}), longer than {LIMIT}")

