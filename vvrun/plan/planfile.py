"""The plan file (`vvrun plan --format json`): a reviewed plan, bound to what it was made from.

It carries, per runbook, `runbook_hash` (the file's sha256), the resolved non-secret inputs and
each step's source hash; and the vvrun version. `verify_plan_file` refuses a run whose runbook,
inputs or vvrun differ from the reviewed plan, saying exactly what changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from vvrun import __version__
from vvrun.errors import Location, UsageError
from vvrun.language.model import Runbook
from vvrun.language.templates import Unknown
from vvrun.plan.diff import PlanDiff
from vvrun.plan.model import Plan
from vvrun.plan.render import step_source_hash
from vvrun.secrets import Masker

FORMAT = "vvrun-plan/1"


def plan_entry(plan: Plan, diff: PlanDiff | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": plan.name,
        "title": plan.title,
        "path": plan.path,
        "runbook_hash": plan.source_hash,
        "description": plan.description,
        "inputs": {name: value for name, value in plan.input_values},
        "unknown_inputs": {i.name: i.display for i in plan.inputs if not i.known},
        "input_sources": {i.name: i.source for i in plan.inputs},
        "connections": [asdict(c) for c in plan.connections],
        "locks": list(plan.locks),
        "summary": {
            "steps": len(plan.steps),
            "danger": plan.danger_steps,
            "confirmations": plan.confirmations,
            "manual": plan.manual_steps,
            "locks": len(plan.locks),
        },
        "warnings": list(plan.warnings),
        "steps": [s.to_dict() for s in plan.steps],
    }
    if plan.notifications:  # run events' messages, rendered and not sent
        entry["notifications"] = [asdict(n) for n in plan.notifications]
    if diff is not None:
        entry["changes"] = {
            "base": diff.old.path,
            "added": [s.id for s in diff.added],
            "removed": [s.id for s in diff.removed],
            "changed": [new.id for _, new in diff.changed],
            "moved": [new.id for _, new in diff.moved],
            "header": list(diff.header),
        }
    return entry


def plan_document(plans: Sequence[Plan], diffs: Sequence[PlanDiff | None] = ()) -> dict[str, Any]:
    diffs = list(diffs) or [None] * len(plans)
    return {
        "format": FORMAT,
        "vvrun_version": __version__,
        "runbooks": [plan_entry(p, d) for p, d in zip(plans, diffs, strict=True)],
    }


def dumps(document: Mapping[str, Any]) -> str:
    """Deterministic JSON: the same plan gives the same bytes."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"


def _normal(value: Any) -> Any:
    if isinstance(value, Unknown):
        return str(value)
    return json.loads(json.dumps(value, default=str))


_MAKE_ONE = "make one with `vvrun plan RUNBOOK --format json > plan.json`"
#: a plan (at most 2 MiB of text, JSON-escaped) may be much larger than the runbook it shows
PLAN_FILE_FACTOR = 16


def _read(path: str) -> dict[str, Any]:
    """The plan file's data: a regular file within its size limit, UTF-8, JSON, the shape
    `verify_plan_file` reads (a hostile file is refused here, never half-read there)."""
    from vvrun.language.source import SourceRefused, decode_utf8, max_bytes, read_source

    where = Location(path)
    try:
        raw = read_source(path, "the plan file", limit=PLAN_FILE_FACTOR * max_bytes(),
                          split_hint="plan fewer runbooks in one file")
        data = json.loads(decode_utf8(raw, "the plan file"))
    except SourceRefused as exc:
        raise UsageError(exc.message, where=Location(path, exc.line, exc.column),
                         hint=exc.hint if exc.code != "io" else _MAKE_ONE) from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"the plan file is not JSON: {exc.msg}",
                         where=Location(path, exc.lineno, exc.colno), hint=_MAKE_ONE) from None
    except RecursionError:
        raise UsageError("the plan file nests deeper than JSON can be read", where=where,
                         hint=_MAKE_ONE) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError("this is not a vvrun plan file", where=where, hint=_MAKE_ONE)
    problem = _shape_problem(data)
    if problem:
        raise UsageError(f"the plan file is damaged: {problem}", where=where, hint=_MAKE_ONE)
    return data


def _shape_problem(data: Mapping[str, Any]) -> str | None:
    runbooks = data.get("runbooks", [])
    if not isinstance(runbooks, list) or not all(isinstance(e, dict) for e in runbooks):
        return "`runbooks` is not a list of plans"
    for entry in runbooks:
        name = str(entry.get("name"))[:80]
        for key, kind in (("inputs", dict), ("input_sources", dict), ("steps", list)):
            if not isinstance(entry.get(key, kind()), kind):
                return f"`{key}` of runbook {name!r} is not a {kind.__name__}"
        if not all(isinstance(s, dict) and isinstance(s.get("id"), str)
                   for s in entry.get("steps", [])):
            return f"a step of runbook {name!r} has no id"
    return None


def verify_plan_file(path: str, runbook: Runbook, inputs: Mapping[str, Any]) -> None:
    """Raise UsageError, listing every difference, unless `runbook` run with `inputs` (the run's
    resolved inputs) is exactly what the plan file at `path` was made from."""
    data = _read(path)
    where = Location(path)
    problems: list[str] = []
    made_by = data.get("vvrun_version")
    if made_by != __version__:
        problems.append(f"it was made by vvrun {made_by}, and this is vvrun {__version__}")
    entries = [e for e in data.get("runbooks", []) if e.get("name") == runbook.name]
    if not entries:
        found = [str(e.get("name"))[:80] for e in data.get("runbooks", [])]
        names = ", ".join(found[:10]) + (f" … and {len(found) - 10} more" if len(found) > 10
                                         else "") if found else "none"
        raise UsageError(
            f"the plan file has no plan for runbook '{runbook.name}' (it has: {names})",
            where=where,
            hint=f"make the plan of {runbook.path} and have it reviewed",
        )
    entry = entries[0]
    if entry.get("runbook_hash") != runbook.source_hash:
        problems.append(_edited(entry, runbook))
    problems += _input_changes(entry, runbook, inputs)
    if problems:
        raise UsageError(
            f"the runbook {runbook.path} no longer matches the reviewed plan: "
            + "; ".join(problems),
            where=where,
            hint=f"make a new plan (`vvrun plan {runbook.path} --format json`), have it "
            "reviewed, and run with that",
        )


def _edited(entry: Mapping[str, Any], runbook: Runbook) -> str:
    before = {s["id"]: s.get("source_hash") for s in entry.get("steps", [])}
    now = {s.id: step_source_hash(s) for s in runbook.steps}
    parts = [f"step '{i}' was added" for i in now if i not in before]
    parts += [f"step '{i}' was removed" for i in before if i not in now]
    parts += [f"step '{i}' changed" for i in now if i in before and before[i] != now[i]]
    if not parts and list(before) != list(now):
        parts.append("its steps were reordered")
    if not parts:
        return ("the runbook was edited since the plan was made (outside its steps: title, "
                "inputs, connections, defaults, locks or comments)")
    return "the runbook was edited since the plan was made: " + ", ".join(parts)


def _input_changes(entry: Mapping[str, Any], runbook: Runbook,
                   inputs: Mapping[str, Any]) -> list[str]:
    planned = entry.get("inputs", {})
    sources = entry.get("input_sources", {})
    masker = Masker()  # the plan masked passwords in URLs; compare like with like
    out: list[str] = []
    for name, inp in runbook.inputs.items():
        if inp.secret:
            continue  # never in a plan; re-read at run time
        now = _normal(masker.mask_obj(inputs[name])) if name in inputs else None
        if name in planned:
            if now != _normal(planned[name]):
                out.append(f"input '{name}' is {json.dumps(now)} now but was "
                           f"{json.dumps(_normal(planned[name]))} in the plan")
        elif sources.get(name) == "missing" and name in inputs:
            out.append(f"input '{name}' had no value when the plan was made (it showed "
                       f"⟨inputs.{name}⟩) and is {json.dumps(now)} now")
    return out
