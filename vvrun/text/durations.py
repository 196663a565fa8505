"""Durations as people read and write them: one formatter and one parser for all of vvrun.

Formatting rounds once, to the precision of the unit it ends up in, and carries upward, so a
value just under a boundary reads as the next unit (999.6 ms is `1 s`, 59.9 s is `1 min`,
3599.6 s is `1 h`). A zero second part is left out (`2 s`, `2 min`, `1 h`, `3 d`), so that a
setting (`timeout: 2m`) and an elapsed time read alike:

    < 1 s       850 ms          < 1 min    42 s
    < 10 s      4.2 s           < 1 h      2 min 13 s
    < 1 d       1 h 02 min      otherwise  2 d 03 h

Parsing accepts what the runbook language documents (`500ms`, `30s`, `5m`, `1h`, a number of
seconds) and what this module prints (`2 min 13 s`, `1 h 02 min`), and compounds (`1h30m`).
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

MISSING = "–"  # what a duration that is not known (yet) reads as
HINT = "write it like 500ms, 30s, 5m, 1h, 1h30m or a number of seconds"

# The longest duration a runbook may write (a timeout, a retry delay, a watch interval). A step
# that should wait longer than a month is a mistake, not a plan; and far above it the clocks
# that wait (time.sleep, select, datetime arithmetic, a driver's milliseconds) overflow.
MAX_SECONDS = 30 * 86400
LIMIT = "30 d"  # MAX_SECONDS as messages write it

_UNITS = {
    "ms": 0.001, "msec": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}
_NUMBER = r"\d+(?:\.\d+)?"
_PART = re.compile(rf"\s*({_NUMBER})\s*([a-z]+)\s*,?")  # units in lower case, as documented
_PLAIN = re.compile(rf"^\s*({_NUMBER})\s*$")

# The JSON Schema pattern (ECMA 262, no flags) for the same grammar: the schema and the
# parser accept the same texts (a test holds them to it).
SCHEMA_PATTERN = (rf"^\s*{_NUMBER}\s*$|^(\s*{_NUMBER}\s*(?:"
                  + "|".join(sorted(_UNITS, key=len, reverse=True)) + r")\s*,?)+\s*$")


def format_duration(seconds: float | None) -> str:
    """`850 ms`, `4.2 s`, `42 s`, `2 min 13 s`, `1 h 02 min`, `2 d 03 h`; None is `–`."""
    if seconds is None:
        return MISSING
    if math.isnan(seconds):
        return "?"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if math.isinf(seconds):
        return "∞"
    if round(seconds * 1000) < 1000:
        return f"{round(seconds * 1000)} ms"
    if round(seconds, 1) < 10:
        return f"{round(seconds, 1):g} s"
    if round(seconds) < 60:
        return f"{round(seconds)} s"
    if round(seconds) < 3600:
        return _two(*divmod(round(seconds), 60), "min", "s")
    if round(seconds / 60) < 24 * 60:
        return _two(*divmod(round(seconds / 60), 60), "h", "min")
    return _two(*divmod(round(seconds / 3600), 24), "d", "h")


def _two(big: int, small: int, big_unit: str, small_unit: str) -> str:
    return f"{big} {big_unit} {small:02d} {small_unit}" if small else f"{big} {big_unit}"


def format_interval(value: timedelta | None) -> str:
    """A SQL interval (psycopg's timedelta) the way `format_duration` writes it.

    `3 days 04:05:06` reads `3 d 04 h`: an interval in a runbook's output answers "how long",
    and the largest two units answer it.
    """
    return format_duration(None if value is None else value.total_seconds())


def parse_duration(value: Any) -> float:
    """Seconds from `500ms`, `30s`, `5m`, `1h`, `1h30m`, `2 min 13 s`, `1 d` or a number.

    Raises ValueError saying what was wrong and how to write it.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"not a duration: {value!r} ({HINT})")
    if isinstance(value, int | float):
        if math.isnan(value) or math.isinf(value) or value < 0:
            raise ValueError(f"not a duration: {value!r} (a duration is a finite number "
                             "of seconds, 0 or more)")
        return _bounded(value, value)  # compared before float(): a huge int would overflow
    plain = _PLAIN.match(value)
    if plain:
        return _bounded(float(plain.group(1)), value)
    total, seen, pos = 0.0, set(), 0
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        number, unit = match.group(1), match.group(2)
        if unit not in _UNITS:
            raise ValueError(f"not a duration: {value!r} (unknown unit '{unit}'; "
                             f"{HINT})")
        if _UNITS[unit] in seen:
            raise ValueError(f"not a duration: {value!r} (the {unit} are given twice)")
        seen.add(_UNITS[unit])
        total += float(number) * _UNITS[unit]
        pos = match.end()
    if not seen or value[pos:].strip():
        raise ValueError(f"not a duration: {value!r} ({HINT})")
    return _bounded(total, value)


def _bounded(seconds: float, written: Any) -> float:
    if not seconds <= MAX_SECONDS:  # `not <=`: a 400-digit number parses as inf
        raise ValueError(f"not a duration: {written!r} (longer than {LIMIT}, the longest "
                         "a runbook may wait)")
    return float(seconds)
