"""The one duration formatter and parser (vvrun.text.durations), and did-you-mean."""

from __future__ import annotations

import math
import re
from datetime import timedelta

import pytest

from vvrun.text.durations import SCHEMA_PATTERN, format_duration, format_interval, parse_duration
from vvrun.text.suggest import closest, did_you_mean


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "–"),
    (0, "0 ms"),
    (0.0004, "0 ms"),
    (0.0126, "13 ms"),
    (0.85, "850 ms"),
    (0.999, "999 ms"),
    (0.9996, "1 s"),  # rounds to 1000 ms: carried into seconds
    (1, "1 s"),
    (1.96, "2 s"),
    (4.2, "4.2 s"),
    (61, "1 min 01 s"),
    (9.94, "9.9 s"),
    (9.96, "10 s"),
    (12.34, "12 s"),
    (59.4, "59 s"),
    (59.9, "1 min"),
    (60, "1 min"),
    (133, "2 min 13 s"),
    (3599, "59 min 59 s"),
    (3599.6, "1 h"),
    (3600, "1 h"),
    (3720, "1 h 02 min"),
    (7200, "2 h"),
    (86369, "23 h 59 min"),
    (86400, "1 d"),
    (2 * 86400 + 3 * 3600 + 59, "2 d 03 h"),
    (-0.85, "-850 ms"),
    (-133, "-2 min 13 s"),
    (math.nan, "?"),
    (math.inf, "∞"),
])
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_interval() -> None:
    assert format_interval(timedelta(minutes=2, seconds=13)) == "2 min 13 s"
    assert format_interval(timedelta(days=3, hours=4, minutes=5, seconds=6)) == "3 d 04 h"
    assert format_interval(timedelta(milliseconds=850)) == "850 ms"
    assert format_interval(None) == "–"


@pytest.mark.parametrize(("text", "seconds"), [
    (30, 30.0),
    (1.5, 1.5),
    (0, 0.0),
    ("30", 30.0),
    (" 2.5 ", 2.5),
    ("500ms", 0.5),
    ("30s", 30.0),
    ("5m", 300.0),
    ("1h", 3600.0),
    ("1h30m", 5400.0),
    ("1h 30m 15s", 5415.0),
    ("2 min 13 s", 133.0),
    ("1 h 02 min", 3720.0),
    ("2 d 03 h", 183600.0),
    ("1.5 hours", 5400.0),
    ("10 seconds", 10.0),
    ("1 day, 2 hours", 93600.0),
    ("850 ms", 0.85),
])
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("seconds", [0.85, 4.2, 42, 133, 3720, 183600])
def test_what_is_printed_parses_back(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=0.01)


@pytest.mark.parametrize(("bad", "message"), [
    ("", "not a duration: '' (write it like 500ms, 30s, 5m, 1h, 1h30m or a number of seconds)"),
    ("soon", "not a duration: 'soon' (write it like 500ms"),
    ("5 fortnights", "not a duration: '5 fortnights' (unknown unit 'fortnights'; write it like"),
    ("1h30", "not a duration: '1h30' (write it like"),
    ("10 Seconds", "not a duration: '10 Seconds' (write it like"),
    ("-5s", "not a duration: '-5s' (write it like"),
    ("5m 2m", "not a duration: '5m 2m' (the m are given twice)"),
    (True, "not a duration: True (write it like"),
    (None, "not a duration: None (write it like"),
    (-1, "not a duration: -1 (a duration is a finite number of seconds, 0 or more)"),
    (math.inf, "not a duration: inf (a duration is a finite number"),
])
def test_parse_duration_rejects_with_one_clear_message(bad: object, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_duration(bad)
    assert str(exc.value).startswith(message)


@pytest.mark.parametrize(("text", "ok"), [
    ("500ms", True), ("30", True), ("1h30m", True), ("2 min 13 s", True), ("1.5 hours", True),
    ("soon", False), ("1H", False), ("1h30", False), ("", False), ("-5s", False),
])
def test_schema_pattern_agrees_with_the_parser(text: str, ok: bool) -> None:
    assert bool(re.search(SCHEMA_PATTERN, text)) is ok
    if ok:
        parse_duration(text)
    else:
        with pytest.raises(ValueError):
            parse_duration(text)


def test_did_you_mean() -> None:
    assert did_you_mean("tiemout", ["timeout", "retry", "when"]) == "did you mean 'timeout'?"
    assert did_you_mean("zzz", ["timeout", "retry"]) == ""
    assert closest("retyr", ["timeout", "retry"]) == "retry"
    assert closest("x", []) is None
