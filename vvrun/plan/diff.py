"""Review of a change: the steps a new version of a runbook adds, removes or changes."""

from __future__ import annotations

from dataclasses import dataclass

from vvrun.plan.model import Plan, PlannedStep

# What a reviewer judges; the step's number moving is reported separately.
_IGNORED = {"number", "source_hash", "action_hash"}


@dataclass(frozen=True)
class PlanDiff:
    """What changed between a saved plan and the runbook as it is now."""

    old: Plan
    new: Plan
    added: tuple[PlannedStep, ...] = ()
    removed: tuple[PlannedStep, ...] = ()
    changed: tuple[tuple[PlannedStep, PlannedStep], ...] = ()  # (old, new)
    moved: tuple[tuple[PlannedStep, PlannedStep], ...] = ()  # same step, new position
    header: tuple[str, ...] = ()  # title, inputs, connections, locks that differ

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.moved or self.header)


def _comparable(step: PlannedStep) -> dict:
    return {k: v for k, v in step.to_dict().items() if k not in _IGNORED}


def diff_plans(old: Plan, new: Plan) -> PlanDiff:
    old_ids = [s.id for s in old.steps]
    new_ids = [s.id for s in new.steps]
    added = tuple(s for s in new.steps if s.id not in old_ids)
    removed = tuple(s for s in old.steps if s.id not in new_ids)
    changed, moved = [], []
    kept_old = [i for i in old_ids if i in new_ids]
    kept_new = [i for i in new_ids if i in old_ids]
    for step in new.steps:
        if step.id not in old_ids:
            continue
        before = old.step(step.id)
        if _comparable(before) != _comparable(step):
            changed.append((before, step))
        elif kept_old.index(step.id) != kept_new.index(step.id):
            moved.append((before, step))
    return PlanDiff(old, new, added, removed, tuple(changed), tuple(moved), _header(old, new))


def _header(old: Plan, new: Plan) -> tuple[str, ...]:
    out: list[str] = []
    if old.name != new.name:
        out.append(f"name: {old.name} → {new.name}")
    if old.title != new.title:
        out.append(f"title: {old.title} → {new.title}")
    if old.description != new.description:
        out.append("description changed")
    old_in = {i.name: i for i in old.inputs}
    new_in = {i.name: i for i in new.inputs}
    for name in new_in:
        if name not in old_in:
            out.append(f"input {name} added ({new_in[name].display})")
        elif old_in[name] != new_in[name]:
            a, b = old_in[name], new_in[name]
            out.append(f"input {name}: {a.display} ({a.source}) → {b.display} ({b.source})"
                       if (a.display, a.source) != (b.display, b.source)
                       else f"input {name}: type, description or secrecy changed")
    out += [f"input {name} removed" for name in old_in if name not in new_in]
    old_c = {c.name: c for c in old.connections}
    new_c = {c.name: c for c in new.connections}
    for name, c in new_c.items():
        if name not in old_c:
            out.append(f"connection {name} added ({c.kind} {c.target})")
        elif old_c[name] != c:
            o = old_c[name]
            out.append(f"connection {name}: {o.kind} {o.target} → {c.kind} {c.target}")
    out += [f"connection {name} removed" for name in old_c if name not in new_c]
    if old.locks != new.locks:
        out.append(f"locks: {', '.join(old.locks)} → {', '.join(new.locks)}")
    return tuple(out)
