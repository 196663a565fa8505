"""The `approvers:` key of a step, and its plain value.

`approvers: 2` — two different people (keys) approve, the operator's own signed confirmation
being the first. `approvers: {count: 2, group: dba}` — and each must be in group `dba`
(`group:dba` on their key's line of allowed_signers). Only the JSON Schema keywords
vvrun's minimal validator knows are used (oneOf, const, enum, minimum, pattern, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GROUP_PATTERN = r"^[A-Za-z0-9_.-]+$"
MAX_APPROVERS = 5

APPROVERS_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "integer", "minimum": 1, "maximum": MAX_APPROVERS},
        {"type": "object",
         "properties": {
             "count": {"type": "integer", "minimum": 1, "maximum": MAX_APPROVERS,
                       "description": "How many different people (keys) must approve."},
             "group": {"type": "string", "pattern": GROUP_PATTERN,
                       "description": "Each approver's key must carry `group:NAME` in "
                       "`.vvrun/allowed_signers`."}},
         "required": ["count"],
         "additionalProperties": False},
    ],
    "default": 1,
    "description": "How many different people must approve before this step runs, each with "
    "an SSH signature over the exact rendered action (`vvrun approve RUN STEP`); the "
    "operator's own confirmation counts as the first. `2`, or `{count: 2, group: dba}`. "
    "For `confirm` and `danger` steps.",
    "examples": [2, {"count": 2, "group": "dba"}],
}


@dataclass(frozen=True)
class Approvers:
    """A validated `approvers:` value."""

    count: int = 1
    group: str | None = None

    @property
    def proved(self) -> bool:
        """Whether signatures are needed: more than one approver, or a named group."""
        return self.count > 1 or self.group is not None


def parse_approvers(raw: Any) -> Approvers:
    """The value of a schema-valid `approvers:` (absent → 1)."""
    if raw is None:
        return Approvers()
    if isinstance(raw, Mapping):
        group = raw.get("group")
        return Approvers(int(raw["count"]), str(group) if group is not None else None)
    return Approvers(int(raw))
