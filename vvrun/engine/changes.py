"""What changed in a runbook since a run began: resume refuses a changed runbook unless told
`--allow-changed`, and says which steps differ."""

from __future__ import annotations

from typing import Any

from vvrun.language.model import Runbook


def changed_steps(old_source: str, runbook: Runbook) -> list[str]:
    """`changed: x`, `added: y`, `removed: z`, `order`, or `outside the steps` lines."""
    import yaml

    try:
        old = yaml.safe_load(old_source) or {}
    except yaml.YAMLError:
        return ["the stored copy of the runbook no longer parses"]
    if not isinstance(old, dict):
        return ["the stored copy of the runbook is not a mapping"]
    old_steps = {s.get("id"): s for s in old.get("steps") or [] if isinstance(s, dict)}
    new_steps = {s.id: dict(s.raw) for s in runbook.steps}
    lines = []
    for sid, raw in new_steps.items():
        if sid not in old_steps:
            lines.append(f"added: {sid}")
        elif _plain(old_steps[sid]) != _plain(raw):
            lines.append(f"changed: {sid}")
    lines += [f"removed: {sid}" for sid in old_steps if sid not in new_steps]
    kept_old = [s for s in old_steps if s in new_steps]
    kept_new = [s for s in new_steps if s in old_steps]
    if not lines and kept_old != kept_new:
        lines.append("the steps are in a different order")
    if not lines:
        lines.append("outside the steps (inputs, connections, defaults or locks)")
    return lines


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
