"""Durations as runbooks write them (`500ms`, `30s`, `5m`, `1h`, a number of seconds)."""

from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from `500ms`, `30s`, `5m`, `1h` or a number; ValueError says how to write one."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(
            f"not a duration: {value!r} "
            "(write it like 500ms, 30s, 5m, 1h or a number of seconds)"
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
