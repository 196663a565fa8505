"""Result tables as psql draws them (`\\x auto`), and values as people write them."""

from __future__ import annotations

import pytest

from vvrun.secrets import Masker
from vvrun.ui.results import result_lines
from vvrun.ui.tables import clip, fit, wrap
from vvrun.ui.values import cell, format_duration, format_timestamp, redis_reply

LONG = ("UPDATE accounts SET balance = balance - 10 WHERE id = 7 AND owner = 'alice' AND "
        "region = 'eu-west-1' RETURNING id, balance")


def test_a_table_that_fits_is_aligned_numbers_right_duplicates_kept() -> None:
    assert fit(["?column?", "count", "count"], [["x", 1, 22], ["yy", 333, None]], 80) == [
        "?column? | count | count",
        "---------+-------+------",
        "x        |     1 |    22",
        "yy       |   333 |  NULL",
    ]


def test_a_table_too_wide_is_expanded_and_nothing_is_cut() -> None:
    lines = fit(["pid", "query"], [[1, LONG], [2, "short"]], 60)
    assert lines[0].startswith("-[ RECORD 1 ]-") and "-[ RECORD 2 ]-" in lines[-3]
    assert all(len(line) <= 60 for line in lines)
    assert "…" not in "".join(lines)
    values = [line.split("| ", 1)[1] for line in lines if "| " in line]
    assert " ".join(values[1:-2]) == LONG  # wrapped at spaces, every word kept, in order
    assert lines[1] == "pid   | 1"


def test_multi_line_values_go_expanded_line_by_line() -> None:
    lines = fit(["q"], [["SELECT 1\nFROM t"]], 200)
    assert lines[1:] == ["q | SELECT 1", "  | FROM t"]


def test_wrap_never_breaks_a_word() -> None:
    word = "x" * 50
    assert wrap(f"a {word} b", 20) == ["a", word, "b"]


def test_clip_marks_what_it_cut() -> None:
    assert clip("abcdef", 4) == "abc…" and clip("abc", 4) == "abc"


def test_wide_characters_take_two_columns() -> None:
    lines = fit(["名前", "n"], [["東京", 1]], 80)
    assert lines == ["名前 | n", "-----+--", "東京 | 1"]


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "–"), (0.85, "850 ms"), (2.5, "2.5 s"), (2, "2 s"), (12.34, "12 s"),
    (133, "2 min 13 s"), (120, "2 min"), (3725, "1 h 02 min"), (200000, "2 d 08 h"),
])
def test_durations_read_as_people_write_them(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_timestamps_in_utc_and_intervals_in_words() -> None:
    assert format_timestamp("2026-12-06T15:03:11.123456+01:00") == "2026-12-06 14:03:11 UTC"
    assert format_timestamp("2026-12-06T14:03:11") == "2026-12-06 14:03:11"
    assert format_timestamp("not a time") is None
    assert cell("2026-12-06T14:03:11+00:00") == "2026-12-06 14:03:11 UTC"
    assert cell(133.0, "interval") == "2 min 13 s" and cell(133.0) == "133.0"
    assert cell(True) == "t" and cell(None) == "NULL" and cell({"a": 1}) == '{"a": 1}'


def test_sql_results_carrying_types_show_intervals() -> None:
    r = {"columns": ["pid", "waited"], "rows": [{"pid": 1, "waited": 133.0}],
         "types": ["int4", "interval"], "rowcount": 1, "status": "SELECT 1"}
    text = "\n".join(line.text for line in result_lines("sql", r, 80))
    assert "1 | 2 min 13 s" in text and "(1 row) SELECT 1" in text


def test_redis_replies_as_redis_cli_shows_them() -> None:
    assert redis_reply("PING", True) == "PONG"
    assert redis_reply("SET k v", True) == "OK"
    assert redis_reply("GET k", None) == "(nil)"
    assert redis_reply("INCR k", 3) == "(integer) 3"
    assert redis_reply("GET k", "v") == '"v"'
    assert redis_reply("LRANGE l 0 -1", ["a", "b"]) == '1) "a"\n2) "b"'
    assert redis_reply("HGETALL h", {"f": "1"}) == '1) "f"\n2) "1"'
    info = redis_reply("INFO server", {"redis_version": "7.2.4", "db0": {"keys": 1}})
    assert info == "# Server\nredis_version:7.2.4\ndb0:keys=1"
    assert redis_reply("INFO keyspace", {}) == "# Keyspace"
    assert redis_reply("INFO", {"a": 1}) == "a:1"


def test_a_connection_url_shows_all_but_its_password() -> None:
    m = Masker(["postgresql://ops@db.internal:5432/vocavision",
                "postgresql://ops:s3cret-pw@db:5432/app?sslmode=require",
                "https://hooks.example.com/services/T0/B0/XYZ"])
    assert m.mask("on postgresql://ops@db.internal:5432/vocavision") == \
        "on postgresql://ops@db.internal:5432/vocavision"
    assert m.mask("on postgresql://ops:s3cret-pw@db:5432/app?sslmode=require, s3cret-pw") == \
        "on postgresql://ops:***@db:5432/app?sslmode=require, ***"
    # a webhook's URL is its secret: hidden whole
    assert m.mask("https://hooks.example.com/services/T0/B0/XYZ") == "***"
