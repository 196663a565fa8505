"""`manual`: a human does it; vvrun shows the instructions and keeps the evidence."""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from vvrun.errors import Aborted, Cancelled, Location, Paused, StepFailed, VvrunError
from vvrun.steps.base import Connection, Description, StepIO, Templater

NAME = "manual"
ASK_TRIES = 5  # a prompter that validates never needs a second; one that does not gets a few

_EXPRESSIONS = {
    "description": "An expression, or a list of them, about `result`; all must hold.",
    "oneOf": [{"type": "string", "minLength": 1},
              {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}],
}

SCHEMA: Mapping[str, Any] = {
    "description": "A human does it: Markdown instructions, a checklist, fields to record. With "
    "no terminal the run pauses (exit 3); `vvrun resume RUN --ack STEP --field k=v` continues.",
    "examples": ["Post the incident link in #incidents.",
                 {"instructions": "Open a ticket with the provider.", "record": ["ticket_url"]}],
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "Markdown instructions."},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["instructions"],
            "properties": {
                "instructions": {"type": "string", "minLength": 1,
                                 "description": "Markdown instructions."},
                "checklist": {"type": "array", "items": {"type": "string", "minLength": 1},
                              "description": "Items the operator ticks."},
                "record": {
                    "type": "array",
                    "description": "Fields the operator types, kept as evidence in "
                    "`result.fields.<name>`.",
                    "items": {
                        "oneOf": [
                            {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                            {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$",
                                             "description": "The field's name."},
                                    "description": {"type": "string",
                                                    "description": "What to type."},
                                    "choices": {
                                        "description": "The answer must be one of these: a "
                                        "list, or one `{{ expression }}` giving a list, "
                                        "rendered when the step runs (plans show ⟨…⟩).",
                                        "examples": [["cancel", "terminate", "leave"],
                                                     "{{ steps.stuck.result.rows | "
                                                     "map(attribute='pid') | list }}"],
                                        "oneOf": [{"type": "array", "minItems": 1,
                                                   "items": {"type": ["string", "number"]}},
                                                  {"type": "string", "minLength": 1}]},
                                    "optional": {"type": "boolean", "default": False,
                                                 "description": "An empty answer is allowed "
                                                 "(recorded as null)."},
                                    "pattern": {"type": "string", "format": "regex",
                                                "description": "The answer must match "
                                                "(searched, as an input's `pattern` and JSON "
                                                "Schema's: `^…$` to match the whole answer)."},
                                },
                            },
                        ],
                    },
                },
                "verify": {
                    "type": "object",
                    "description": "A check run after the acknowledgement (one step body of "
                    "sql, redis, http or shell, with `expect`); the operator stays at the "
                    "step until it holds. It only reads: SQL runs in a READ ONLY session, a "
                    "Redis command that writes or an HTTP method other than GET, HEAD or "
                    "OPTIONS is refused.",
                    "additionalProperties": False,
                    "minProperties": 2,
                    "required": ["expect"],
                    "properties": {
                        "sql": {"$ref": "#/$defs/sql_body"},
                        "redis": {"$ref": "#/$defs/redis_body"},
                        "http": {"$ref": "#/$defs/http_body"},
                        "shell": {"$ref": "#/$defs/shell_body"},
                        "expect": _EXPRESSIONS,
                    },
                },
            },
        },
    ],
}

#: The step types a `verify` body may use, imported when a check uses one (not through the
#: registry, which lists this module: one import direction).
VERIFY_TYPES: dict[str, str] = {"sql": "vvrun.steps.sql", "redis": "vvrun.steps.redis",
                                "http": "vvrun.steps.http", "shell": "vvrun.steps.shell"}


def _verify_type(kind: str) -> Any:
    return importlib.import_module(VERIFY_TYPES[kind])


#: `choices` given as one `{{ expression }}`: the expression inside
CHOICES_EXPRESSION = re.compile(r"\s*\{\{(.+)\}\}\s*", re.DOTALL)


@dataclass(frozen=True)
class RecordField:
    """A value the operator records (`record:`): its name and what answers it accepts."""

    name: str
    description: str = ""
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    optional: bool = False
    choices_from: str | None = None  # an expression giving the choices, rendered at run time


@dataclass(frozen=True)
class Verify:
    """A check that proves the manual work was done: a step body and its expectations."""

    type: str  # sql | redis | http | shell
    spec: Any  # that type's parsed spec
    expect: tuple[str, ...]


@dataclass(frozen=True)
class ManualSpec:
    """A `manual` body as written: instructions, checklist, fields, optional check."""

    instructions: str
    checklist: tuple[str, ...] = ()
    record: tuple[RecordField, ...] = ()
    verify: Verify | None = None


def parse(body: Any, where: Location) -> ManualSpec:
    if isinstance(body, str):
        return ManualSpec(instructions=body)
    fields = tuple(_field(f) for f in body.get("record", ()))
    verify = None
    if body.get("verify"):
        v = body["verify"]
        kind = next(k for k in ("sql", "redis", "http", "shell") if k in v)
        expect = v["expect"]
        spec = _verify_type(kind).parse(v[kind], where)
        if kind == "sql":  # a check only reads: proved before it runs, and the server enforces it
            spec = replace(spec, read_only=True)
        verify = Verify(type=kind, spec=spec,
                        expect=(expect,) if isinstance(expect, str) else tuple(expect))
    return ManualSpec(
        instructions=body["instructions"],
        checklist=tuple(body.get("checklist", ())),
        record=fields,
        verify=verify,
    )


def _field(f: Any) -> RecordField:
    if isinstance(f, str):
        return RecordField(name=f)
    choices = f.get("choices", ())
    match = CHOICES_EXPRESSION.fullmatch(choices) if isinstance(choices, str) else None
    return RecordField(
        name=f["name"], description=f.get("description", ""),
        choices=() if isinstance(choices, str) else tuple(str(c) for c in choices),
        pattern=f.get("pattern"), optional=bool(f.get("optional", False)),
        choices_from=match.group(1).strip() if match else None)


# -- render / describe / execute ------------------------------------------------------------



@dataclass(frozen=True)
class VerifyAction:
    """The check, rendered: its step type's action and the expectations."""

    type: str
    action: Any  # that type's rendered action
    expect: tuple[str, ...]


@dataclass(frozen=True)
class ManualAction:
    """A `manual` step, rendered: what the operator reads, ticks and records."""

    instructions: str
    checklist: tuple[str, ...] = ()
    record: tuple[RecordField, ...] = ()
    verify: VerifyAction | None = None


def render(spec: ManualSpec, tpl: Templater, conns: Mapping[str, Connection]) -> ManualAction:
    verify = None
    if spec.verify is not None:
        module = _verify_type(spec.verify.type)
        verify = VerifyAction(type=spec.verify.type,
                              action=module.render(spec.verify.spec, tpl, conns),
                              expect=spec.verify.expect)
    return ManualAction(
        instructions=str(tpl.text(spec.instructions)),
        checklist=tuple(str(tpl.text(item)) for item in spec.checklist),
        record=tuple(RecordField(f.name, str(tpl.text(f.description)), record_choices(f, tpl),
                                 f.pattern, f.optional) for f in spec.record),
        verify=verify,
    )


def record_choices(f: RecordField, tpl: Templater) -> tuple[str, ...]:
    """The field's choices; from its expression, rendered now (in a plan an unknown value
    raises DependsOn, and the plan shows the expression as ⟨…⟩)."""
    if f.choices_from is None:
        return f.choices
    value = tpl.expr(f.choices_from)
    if isinstance(value, Mapping) or not isinstance(value, list | tuple):
        raise StepFailed(f"the choices of field {f.name!r} (`{f.choices_from}`) gave "
                         f"{type(value).__name__}, not a list", where=tpl.where,
                         hint="end the expression with `| list`")
    return tuple(str(v) for v in value)


def _summary(instructions: str) -> str:
    for line in instructions.strip().splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line if len(line) <= 100 else line[:99] + "…"
    return "manual step"


def _field_note(f: RecordField) -> str:
    text = f"record {f.name}"
    if f.description:
        text += f": {f.description}"
    if f.choices:
        text += f" (one of: {', '.join(f.choices)})"
    if f.pattern:
        text += f" (matching {f.pattern})"
    if f.optional:
        text += " (optional)"
    return text


def describe(action: ManualAction) -> Description:
    notes = [f"[ ] {item}" for item in action.checklist]
    notes += [_field_note(f) for f in action.record]
    if action.verify is not None:
        inner = _verify_type(action.verify.type).describe(action.verify.action)
        notes.append(f"verify ({action.verify.type}): {inner.summary}")
        notes += [f"  expect: {e}" for e in action.verify.expect]
    return Description(summary=_summary(action.instructions), body=action.instructions,
                       language="markdown", notes=tuple(notes))


def field_problem(f: RecordField, value: str) -> str | None:
    """Why `value` is not an acceptable answer for the field, or None. Used by the terminal
    prompter's re-asking, this step, and `vvrun resume --ack --field`."""
    if not value.strip():
        return None if f.optional else f"field {f.name!r} needs a value"
    if f.choices and value not in f.choices:
        return f"field {f.name!r} must be one of {', '.join(f.choices)}, not {value!r}"
    # searched, as an input's pattern is and the web console's inbox checks it: the same
    # answer must not pass in one place and be refused in another (anchor with ^…$)
    if f.pattern and not re.search(f.pattern, value):
        return f"field {f.name!r} must match {f.pattern}, not {value!r}"
    return None


def resume_hint(action: ManualAction, run_id: str, step_id: str) -> str:
    """The command that completes this step from a shell with no terminal prompts."""
    parts = [f"vvrun resume {run_id} --ack {step_id}"]
    for f in action.record:
        example = "|".join(f.choices[:5]) if f.choices else "..."
        parts.append(f"--field {f.name}={example}")
    return " ".join(parts)


def execute(action: ManualAction, io: StepIO) -> dict[str, Any]:
    """Show the instructions and wait for the acknowledgement, then the checklist, then the
    fields; with `verify`, keep the operator here until the check holds."""
    try:
        notes = io.prompter.acknowledge(action.instructions)
        ticked = io.prompter.checklist(action.checklist) if action.checklist else []
        fields = {f.name: _answer(f, io) for f in action.record}
    except Paused as exc:
        raise Paused(
            f"waiting for an operator to do this and acknowledge it: "
            f"{_summary(action.instructions)}",
            where=io.where,
            hint=f"do it, then `{resume_hint(action, io.run_id, io.step_id)}` (or "
            f"`vvrun resume {io.run_id}` at a terminal)") from exc
    verified = None if action.verify is None else _verify(action.verify, io)
    return {"acknowledged": True, "checklist": list(ticked), "fields": fields,
            "notes": notes or "", "verified": verified}


def _answer(f: RecordField, io: StepIO) -> str | None:
    """The field's answer, asked again while it is not acceptable: a typo is never the end of
    the run. A prompter that keeps giving bad answers pauses the run (it can be resumed)."""
    if f.choices_from is not None and not f.choices and not f.optional:
        raise StepFailed(f"field {f.name!r} has no choices: `{f.choices_from}` gave an empty "
                         "list", where=io.where,
                         hint="make the field `optional: true`, or skip the step with `when`")
    for _ in range(ASK_TRIES):
        value = io.prompter.ask(f.name, description=f.description, choices=f.choices,
                                pattern=f.pattern, optional=f.optional)
        problem = field_problem(f, value)
        if problem is None:
            return value if value.strip() else None
        io.console.line(problem, stream="stderr")
    raise Paused(f"no acceptable answer for field {f.name!r} after {ASK_TRIES} tries",
                 where=io.where, hint=f"resume with `vvrun resume {io.run_id}`")


def _verify(verify: VerifyAction, io: StepIO) -> bool:
    """Run the check until it holds; between tries the operator fixes things and says when."""
    while True:
        failure = _check(verify, io)
        if failure is None:
            return True
        io.console.line(f"verify: {failure}", stream="stderr")
        try:
            again = io.prompter.confirm("The check does not hold yet. Check again?",
                                        default=True, detail=failure)
        except Paused as exc:
            raise StepFailed(
                f"acknowledged, but the check does not hold: {failure}", where=io.where,
                hint=f"fix it, then `vvrun resume {io.run_id}`") from exc
        if not again:
            raise StepFailed(f"acknowledged, but the check does not hold: {failure}",
                             where=io.where,
                             hint=f"fix it, then `vvrun resume {io.run_id}`")


def _check(verify: VerifyAction, io: StepIO) -> str | None:
    """None when every expectation holds, else what the check saw."""
    try:
        result = _verify_type(verify.type).execute(verify.action, io)
    except (Paused, Aborted, Cancelled):
        raise
    except VvrunError as exc:
        return f"the {verify.type} check failed: {exc.message}"
    if io.templater is None:  # the engine always passes one; a check needs its context
        return "the check has no template context"
    tpl = io.templater.child(result=result)
    for source in verify.expect:
        try:
            holds = tpl.expr(source)
        except VvrunError as exc:
            return f"`{source}` could not be evaluated: {exc.message}"
        if not holds:
            seen = _seen(tpl, source)
            return f"`{source}` is false" + (f" ({seen})" if seen else "")
    return None


def _seen(tpl: Templater, source: str) -> str:
    """`result.value = True, result.rowcount = 1`: the values of `result` an expression read."""
    return tpl.only(result=tpl.context.get("result")).explain(source)
