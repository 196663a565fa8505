"""`make_plan`: a runbook and its inputs → a Plan (a frozen, masked value). Pure: no I/O."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

from vvrun import __version__
from vvrun.errors import VvrunError
from vvrun.guard import SideEffectBlocked
from vvrun.language.model import Group, Runbook, Step
from vvrun.language.templates import DependsOn, Templater, TemplateRefused, Unknown
from vvrun.plan.context import (
    ResolvedInput,
    dependency,
    lenient,
    make_context,
    resolve_plan_inputs,
    unknowns_in,
)
from vvrun.plan.limits import PlanBudget, items_shown
from vvrun.plan.loops import loop_items, record_info
from vvrun.plan.model import Plan, PlannedConnection, PlannedInput, PlannedStep
from vvrun.plan.render import describe_step, hash_of, show_value, step_source_hash
from vvrun.plan.run_events import planned_notifications
from vvrun.secrets import Masker
from vvrun.steps.base import Description
from vvrun.text.durations import format_duration


def make_plan(
    runbook: Runbook,
    variables: Mapping[str, Any],
    *,
    environ: Mapping[str, str],
    show_env: tuple[str, ...] | list[str] = (),
) -> Plan:
    """Render every step of `runbook` as it would run with `variables` (see `vvrun.plan`)."""
    show_env = tuple(show_env)
    masker = plan_masker(runbook, variables, environ)
    resolved = resolve_plan_inputs(runbook, variables, environ, show_env)
    context = make_context(resolved, environ, show_env)
    planner = _Planner(runbook, context, masker, environ, show_env, PlanBudget())
    steps = tuple(planner.all_steps(runbook.steps))
    warnings = [
        f"input '{r.input.name}' has no value: the plan shows ⟨inputs.{r.input.name}⟩ "
        f"(give it with --var {r.input.name}=...)"
        for r in resolved
        if r.source == "missing" and not r.input.secret
    ]
    return Plan(
        name=runbook.name,
        title=masker.mask(runbook.title),
        path=runbook.path,
        source_hash=runbook.source_hash,
        vvrun_version=__version__,
        description=masker.mask(runbook.description or ""),
        inputs=tuple(_planned_input(r, masker) for r in resolved),
        input_values=tuple(
            (r.input.name, masker.mask_obj(r.value))
            for r in resolved
            if r.known and not r.input.secret and r.source in ("given", "default")
        ),
        connections=tuple(planner.connections()),
        locks=tuple(planner.locks()),
        steps=steps,
        warnings=tuple(masker.mask(w) for w in warnings),
        notifications=planned_notifications(runbook, context, masker),
    )


def plan_masker(runbook: Runbook, variables: Mapping[str, Any],
                environ: Mapping[str, str]) -> Masker:
    """Masks secret inputs (given or from the environment), secret-looking environment values
    and passwords in URLs: a plan never carries them even if a template found a way."""
    masker = Masker()
    masker.add_env(environ)
    for name, inp in runbook.inputs.items():
        if not inp.secret:
            continue
        if name in variables:
            masker.add(variables[name])
        if inp.env and inp.env in environ:
            masker.add(environ[inp.env])
    return masker


def _planned_input(r: ResolvedInput, masker: Masker) -> PlannedInput:
    value = r.value
    if isinstance(value, Unknown):
        display = str(value)
    elif isinstance(value, str):
        display = value
    else:
        display = show_value(value)
    return PlannedInput(
        name=r.input.name,
        type=r.input.type,
        display=masker.mask(display),
        known=r.known,
        source=r.source,
        secret=r.input.secret,
        description=masker.mask(r.input.description or ""),
    )


# base64 of text that starts with "⟨" (UTF-8 e2 9f a8) starts with "4p+o"
_B64_PLACEHOLDER = re.compile(r"4p\+o[A-Za-z0-9+/]*={0,2}")


def _unhide_placeholders(text: str) -> str:
    """`| b64encode` turns ⟨secret⟩ into `4p+oc2VjcmV04p+p`, which hides nothing but reads as a
    value: show it as the placeholder it is, `⟨secret | b64encode⟩`."""

    def back(m: re.Match[str]) -> str:
        try:
            decoded = base64.b64decode(m.group(0), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return m.group(0)
        if decoded.startswith("⟨") and decoded.endswith("⟩") and "⟩" not in decoded[:-1]:
            return f"{decoded[:-1]} | b64encode⟩"
        return m.group(0)

    return _B64_PLACEHOLDER.sub(back, text) if "4p+o" in text else text


def _unquote(shown: str) -> str:
    """`'⟨secret | b64encode⟩'` → `⟨secret | b64encode⟩`: a placeholder is not a literal."""
    if re.fullmatch(r"'⟨[^⟩']*⟩'", shown):
        return shown[1:-1]
    return shown


class _Planner:
    def __init__(self, runbook: Runbook, context: dict[str, Any], masker: Masker,
                 environ: Mapping[str, str], show_env: tuple[str, ...], budget: PlanBudget):
        self.runbook = runbook
        self.budget = budget
        self.context = context
        self.masker, self.environ, self.show_env = masker, environ, show_env
        self.mask: Callable[[str], str] = lambda text: masker.mask(_unhide_placeholders(text))

    def connections(self) -> list[PlannedConnection]:
        out = []
        for name, conn in self.runbook.connections.items():
            url = conn.settings.get("url") or conn.settings.get("base_url") or ""
            target, _ = self._text(url, Templater(self.context, where=conn.where))
            out.append(PlannedConnection(name, conn.kind, self.mask(target)))
        return out

    def locks(self) -> list[str]:
        keys = [self.runbook.name]
        for source in self.runbook.locks:
            text, _ = self._text(source, Templater(self.context, where=self.runbook.where))
            if text not in keys:
                keys.append(text)
        return [self.mask(k) for k in keys]

    def _text(self, source: Any, tpl: Templater) -> tuple[str, list[str]]:
        """Rendered text, or the template as written when it cannot be rendered. A template
        whose placeholders a filter turned into something else is shown as written too."""
        if not isinstance(source, str):
            return str(source), []
        unknown = unknowns_in(source, self.context, expression=False)
        try:
            text = _unhide_placeholders(str(tpl.text(source)))
        except (SideEffectBlocked, TemplateRefused):
            raise
        except (VvrunError, DependsOn) as exc:
            why = f"it needs {exc.path}" if isinstance(exc, DependsOn) else exc.message
            return source, [f"shown as written: {why}"]
        except Exception as exc:  # a filter that chokes on a ⟨placeholder⟩
            return source, [f"shown as written: a filter cannot take a placeholder "
                            f"({type(exc).__name__})"]
        if text.count("⟨") < len(unknown):
            # a filter turned a placeholder into something that looks like a value
            # (`⟨secret⟩ | host` is ""): the template as written is the honest answer
            return source, []
        return text, []

    def all_steps(self, steps: tuple[Step, ...], prefix: str = "",
                  looping: bool = False) -> list[PlannedStep]:
        """Every step in order; a group once, with its loop, then its steps numbered `2.1`,
        `2.2`… (inside a loop, `item` and `loop` are what only the run knows)."""
        out: list[PlannedStep] = []
        for n, step in enumerate(steps, 1):
            number: int | str = f"{prefix}{n}" if prefix else n
            if isinstance(step.spec, Group):
                out.append(self.group(number, step, looping))
            else:
                out.append(self.step(number, step, looping))
            self.budget.add(out[-1], step.where)
            if isinstance(step.spec, Group):
                loops = looping or bool(step.for_each) or step.spec.repeat is not None
                out += self.all_steps(step.spec.steps, f"{number}.", loops)
            elif step.type == "runbook" and self.runbook.callees:
                out += self._inline(step, f"{number}.", looping)
        return out

    def _inline(self, step: Step, prefix: str, looping: bool) -> list[PlannedStep]:
        """A called runbook's steps, planned with the inputs the call gives it (a value only
        the run knows stays ⟨inputs.name⟩)."""
        callee = self.runbook.callee(step.spec.path)
        tpl = self._templater(step, looping)
        given = {}
        for name, source in step.spec.inputs.items():
            try:
                value = tpl.value(source)
            except (VvrunError, DependsOn):
                continue
            if "⟨" not in str(value):
                given[name] = value
        resolved = resolve_plan_inputs(callee, given, self.environ, self.show_env)
        sub = _Planner(callee, make_context(resolved, self.environ, self.show_env),
                       self.masker, self.environ, self.show_env, self.budget)
        return sub.all_steps(callee.steps, prefix, looping)

    def _templater(self, step: Step, looping: bool) -> Templater:
        tpl = Templater(self.context, where=step.where)
        if step.for_each or looping:
            tpl = tpl.child(item=Unknown("item"), loop={"index": Unknown("loop.index"),
                                                        "first": Unknown("loop.first"),
                                                        "last": Unknown("loop.last")})
        return tpl

    def group(self, number: int | str, step: Step, looping: bool) -> PlannedStep:
        tpl = self._templater(step, looping)
        warnings: list[str] = []
        condition, will_run, depends = self._condition(step, tpl, warnings)
        title, _ = self._text(step.title, tpl) if step.title else (step.id, [])
        description, _ = self._text(step.description or "", tpl)
        summary = self.mask(step.spec.summary(step.for_each))
        repeat = step.spec.repeat
        return PlannedStep(
            number=number, id=step.id, type="group", title=self.mask(title), summary=summary,
            body="", language="text", target=None, params=(), notes=(),
            description=self.mask(description.strip()), when=step.when, condition=condition,
            will_run=will_run, depends_on=depends, danger=step.danger,
            timeout=str(step.timeout) if step.timeout else None,
            retry=None if repeat is None else (
                f"repeated until `{repeat.until}`, at most {repeat.max} rounds"
                + (f", {repeat.delay} apart" if repeat.delay.seconds else "")
                + (", then continues anyway" if repeat.on_exhausted == "continue" else "")),
            expect=tuple(step.expect), outputs=tuple(step.outputs.items()),
            on_failure=step.on_failure, tags=tuple(step.tags),
            for_each=self._for_each(step, looping),
            warnings=tuple(self.mask(w) for w in warnings),
            source_hash=step_source_hash(step), action_hash=hash_of({"summary": summary}))

    def step(self, number: int | str, step: Step, looping: bool = False) -> PlannedStep:
        tpl = Templater(self.context, where=step.where)
        warnings: list[str] = []
        if step.for_each or looping:
            tpl = tpl.child(item=Unknown("item"), loop={"index": Unknown("loop.index"),
                                                        "first": Unknown("loop.first"),
                                                        "last": Unknown("loop.last")})
        condition, will_run, depends = self._condition(step, tpl, warnings)
        desc, more, notes = describe_step(step.type, step.spec, tpl, self.runbook.connections,
                                          loose=self._loose(tpl))
        warnings += more
        extra = self._type_details(step, tpl, warnings)
        title, _ = self._text(step.title, tpl) if step.title else (desc.summary, [])
        description, _ = self._text(step.description or "", tpl)
        params = tuple(_unquote(self.mask(show_value(p))) for p in desc.params)
        shown = {
            "summary": self.mask(desc.summary),
            "body": self.mask(desc.body or ""),
            "language": desc.language,
            "target": self.mask(str(desc.target)) if desc.target is not None else None,
            "params": params,
        }
        return PlannedStep(
            number=number,
            id=step.id,
            type=step.type,
            title=self.mask(title),
            summary=shown["summary"],
            body=shown["body"],
            language=desc.language,
            target=shown["target"],
            params=params,
            # confirm and manual details are laid out from the spec below, not as notes
            notes=tuple(self.mask(str(n)) for n in (
                notes if step.type in ("confirm", "manual") else [*desc.notes, *notes])),
            description=self.mask(description.strip()),
            when=step.when,
            condition=condition,
            will_run=will_run,
            depends_on=depends,
            danger=step.danger,
            approvers=step.approvers,
            approvers_group=step.approvers_group,
            timeout=format_duration(step.timeout.seconds) if step.timeout else None,
            retry=_retry_text(step),
            expect=tuple(step.expect),
            outputs=tuple((k, v) for k, v in step.outputs.items()),
            on_failure=step.on_failure,
            idempotent=step.idempotent,
            tags=tuple(step.tags),
            watch=format_duration(step.watch.seconds) if step.watch else None,
            for_each=self._for_each(step, looping),
            confirm_each=step.confirm_each,
            items=loop_items(step, Templater(self.context, where=step.where),
                             self.runbook.connections, self.mask),
            warnings=tuple(self.mask(w) for w in warnings),
            source_hash=step_source_hash(step),
            action_hash=hash_of(shown),
            **extra,
        )

    def _for_each(self, step: Step, looping: bool) -> str | None:
        """The loop's expression and, when the plan knows them, its items (the first few)."""
        if not step.for_each:
            return None
        tpl = Templater(self.context, where=step.where)
        if looping:
            tpl = tpl.child(item=Unknown("item"), loop={})
        try:
            items = tpl.expr(step.for_each)
        except (SideEffectBlocked, TemplateRefused):
            raise
        except (VvrunError, DependsOn):
            return step.for_each
        if not isinstance(items, list | tuple) or any(isinstance(i, Unknown) for i in items):
            return step.for_each
        return items_shown(step.for_each, items, lambda v: self.mask(show_value(v)))

    @staticmethod
    def _loose(tpl: Templater) -> Templater:
        return Templater(lenient(tpl.context), where=tpl.where)

    def _condition(self, step: Step, tpl: Templater,
                   warnings: list[str]) -> tuple[str, bool | None, tuple[str, ...]]:
        if not step.when:
            return "always", True, ()
        unknown = unknowns_in(step.when, self.context, expression=True)
        try:
            value = tpl.expr(step.when)
            truth = bool(value)
        except DependsOn as exc:
            unknown = unknown or [exc.path]
        except (SideEffectBlocked, TemplateRefused):
            raise
        except VvrunError as exc:
            warnings.append(f"`when` cannot be evaluated in a plan: {exc.message}")
            return "cannot be evaluated in a plan", None, ()
        else:
            if truth:
                return "runs (its condition holds)", True, ()
            return "skipped (its condition is false)", False, ()
        depends = tuple(dict.fromkeys(dependency(p) for p in unknown))
        return "depends on " + ", ".join(depends), None, depends

    def _type_details(self, step: Step, tpl: Templater, warnings: list[str]) -> dict[str, Any]:
        spec = step.spec
        if step.type == "confirm":
            prompt, more = self._text(spec.prompt, tpl)
            warnings += more
            return {"confirm_prompt": self.mask(prompt), "type_to_confirm": spec.type_to_confirm,
                    "on_no": spec.on_no}
        if step.type != "manual":
            return {}
        instructions, more = self._text(spec.instructions, tpl)
        warnings += more
        checklist = tuple(self.mask(self._text(item, tpl)[0]) for item in spec.checklist)
        record = tuple(record_info(f, tpl, self.mask) for f in spec.record)
        verify = None
        if spec.verify is not None:
            desc, more, _ = describe_step(spec.verify.type, spec.verify.spec, tpl,
                                          self.runbook.connections, loose=self._loose(tpl))
            warnings += more
            verify = self.mask(_verify_text(spec.verify.type, desc, spec.verify.expect))
        return {"instructions": self.mask(instructions.strip()), "checklist": checklist,
                "record": record, "verify": verify}


def _verify_text(kind: str, desc: Description, expect: tuple[str, ...]) -> str:
    lines = [f"{kind}: {desc.body or desc.summary}"]
    if desc.params:
        lines.append("parameters: " + ", ".join(
            f"${i} = {show_value(p)}" for i, p in enumerate(desc.params, 1)))
    lines += [f"expect: {e}" for e in expect]
    return "\n".join(lines)


def _retry_text(step: Step) -> str | None:
    r = step.retry
    if r is None or (r.attempts <= 1 and not r.until):
        return None
    text = f"up to {r.attempts} attempts, {format_duration(r.delay.seconds)} apart"
    if r.backoff and r.backoff != 1:
        text += f" (×{r.backoff:g} each time)"
    if r.until:
        text += f", until `{r.until}`"
    return text
