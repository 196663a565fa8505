"""The `approvers:` fragment: vvrun's small validator and jsonschema agree on it."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from vvrun.identity.schema import APPROVERS_SCHEMA, Approvers, parse_approvers
from vvrun.language.schema.validator import Validator

GOOD: list[Any] = [1, 2, 5, {"count": 2}, {"count": 2, "group": "dba"},
                   {"count": 1, "group": "on-call.eu_1"}]
BAD: list[Any] = [0, 6, "2", 2.5, True, None, {}, {"group": "dba"}, {"count": 2, "grp": "dba"},
                  {"count": 2, "group": "d b"}, {"count": 2, "group": ""}, {"count": "2"}]


@pytest.mark.parametrize("value", GOOD + BAD, ids=repr)
def test_the_small_validator_agrees_with_jsonschema(value: Any) -> None:
    ours = Validator(APPROVERS_SCHEMA).is_valid(value)
    assert ours == Draft202012Validator(APPROVERS_SCHEMA).is_valid(value)
    assert ours == (value in GOOD and value is not True)


def test_parsed_values() -> None:
    assert parse_approvers(None) == Approvers(1, None)
    assert not parse_approvers(1).proved
    assert parse_approvers(2) == Approvers(2, None)
    assert parse_approvers({"count": 2, "group": "dba"}) == Approvers(2, "dba")
    assert parse_approvers({"count": 1, "group": "dba"}).proved
