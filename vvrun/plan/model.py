"""A plan as a value: what each step would do, already rendered and masked.

Every string in a Plan is display text that has been through the plan's Masker: formatters
(text, Markdown, JSON) print it as it is. Values a plan cannot know are `⟨placeholders⟩`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RecordInfo:
    """A field a manual step asks the operator to type."""

    name: str
    description: str = ""
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    optional: bool = False


@dataclass(frozen=True)
class PlannedInput:
    """An input as the plan resolved it: its value and where that came from."""

    name: str
    type: str
    display: str  # what the plan shows: a value or a ⟨placeholder⟩
    known: bool  # the plan knows the value (given or default, not secret)
    source: str  # given | default | env NAME | missing
    secret: bool = False
    description: str = ""


@dataclass(frozen=True)
class PlannedConnection:
    """A connection as the plan shows it: name, kind and masked target."""

    name: str
    kind: str
    target: str


@dataclass(frozen=True)
class PlannedStep:
    """One step as it would run. `condition` is a sentence: "always", "runs (…)",
    "skipped (…)", or "depends on x"; `will_run` is True, False or None (cannot know)."""

    number: int | str  # `2.3`: the third step of the group that is step 2
    id: str
    type: str
    title: str
    summary: str
    body: str = ""
    language: str = "text"
    target: str | None = None
    params: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    description: str = ""
    when: str | None = None
    condition: str = "always"
    will_run: bool | None = True
    depends_on: tuple[str, ...] = ()
    danger: bool = False
    confirm_prompt: str | None = None
    type_to_confirm: str | None = None
    on_no: str | None = None
    approvers: int = 1
    approvers_group: str | None = None
    instructions: str | None = None
    checklist: tuple[str, ...] = ()
    record: tuple[RecordInfo, ...] = ()
    verify: str | None = None  # the manual step's check, rendered
    timeout: str | None = None
    retry: str | None = None
    expect: tuple[str, ...] = ()
    outputs: tuple[tuple[str, str], ...] = ()
    on_failure: str = "abort"
    idempotent: bool = False
    tags: tuple[str, ...] = ()
    watch: str | None = None
    for_each: str | None = None
    confirm_each: bool = False  # a dangerous loop asks per item, not once
    #: a dangerous loop's items, rendered, when the plan knows them (see plan.loops)
    items: tuple[Mapping[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    source_hash: str = ""  # sha256 of the step as written: which steps changed
    action_hash: str = ""  # sha256 of what it would do, as shown

    @property
    def asks(self) -> bool:
        """The operator is asked before it goes on (a confirm step, or a danger step)."""
        return self.danger or self.type == "confirm"

    @property
    def manual(self) -> bool:
        return self.type == "manual"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["record"] = [asdict(r) for r in self.record]
        data["outputs"] = {k: v for k, v in self.outputs}
        return data


@dataclass(frozen=True)
class Plan:
    """What a runbook would do with these inputs, in this environment, as a reviewer sees it."""

    name: str
    title: str
    path: str
    source_hash: str
    vvrun_version: str
    description: str = ""
    inputs: tuple[PlannedInput, ...] = ()
    input_values: tuple[tuple[str, Any], ...] = ()  # known non-secret values, for the plan file
    connections: tuple[PlannedConnection, ...] = ()
    locks: tuple[str, ...] = ()
    steps: tuple[PlannedStep, ...] = ()
    warnings: tuple[str, ...] = ()
    notifications: tuple[Any, ...] = ()  # run_events.PlannedNotification: rendered, not sent

    @property
    def danger_steps(self) -> int:
        return sum(1 for s in self.steps if s.danger)

    @property
    def confirmations(self) -> int:
        return sum(1 for s in self.steps if s.asks)

    @property
    def manual_steps(self) -> int:
        return sum(1 for s in self.steps if s.manual)

    def step(self, step_id: str) -> PlannedStep:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)
