"""Templates and expressions: they parse, and every name they read exists where it is read
(inputs, steps defined earlier, `result`/`item`/`loop` only where a step has them)."""

from __future__ import annotations

import re
from typing import Any

from vvrun.language.checks.context import (
    EXPRESSION_KEYS,
    RESULT_KEYS,
    ROOTS,
    RUN_ATTRS,
    STEP_ATTRS,
    Checker,
    Path,
    find_ref,
    line_offset,
    parsed,
)
from vvrun.language.load import iter_paths
from vvrun.language.model import Step
from vvrun.language.templates import ENV, has_template, refusals
from vvrun.language.templates.lookup import refused
from vvrun.text.suggest import closest


def top_templates(c: Checker) -> None:
    for key in ("title", "description"):
        template(c, ("_top", key), (key,), allowed=("inputs", "env", "run"))
    conns = c.data.get("connections")
    if isinstance(conns, dict):
        for name in c.rb.connections:
            for path, value in iter_paths(conns[name], ("connections", name)):
                if isinstance(value, str):
                    # a connection opens when a step first uses it: it may aim at what an
                    # earlier step found (`{{ steps.find_primary.outputs.url }}`)
                    template(c, ("_top",), path,
                             allowed=("inputs", "env", "run", "secrets", "steps"))
    locks = c.data.get("locks")
    if isinstance(locks, list) and all(isinstance(x, str) for x in locks):
        for i in range(len(locks)):
            template(c, ("_lock",), ("locks", i), allowed=("inputs", "env"))
    defaults = c.data.get("defaults")
    if isinstance(defaults, dict) and isinstance(defaults.get("retry"), dict):
        until = defaults["retry"].get("until")
        if isinstance(until, str):
            expression(c, ("defaults", "retry", "until"), until)


def step_templates(c: Checker, at: Path, step: Step) -> None:
    base: Path = at
    in_loop = c.in_loop(at)
    for rel, value in iter_paths(step.raw):
        if not isinstance(value, str) or not rel:
            continue
        if rel[0] == "steps" and step.type == "group":
            continue  # a group's steps are checked on their own
        path = (*base, *rel)
        until = rel in (("retry", "until"), ("repeat", "until"))
        result_ok = rel[0] in RESULT_KEYS or until or (
            rel[:3] == ("manual", "verify", "expect"))
        is_expr = (rel[0] in EXPRESSION_KEYS or until
                   or rel[:3] == ("manual", "verify", "expect"))
        if is_expr:
            if "{{" in value or "{%" in value:
                c.add(f"'{rel[0]}' is a bare expression: write it without {{{{ }}}}",
                         path, code="expression-braces",
                         hint=f"for example `{rel[0]}: steps.find.result.rowcount > 0`")
                continue
            names = expression(c, path, value)
        elif has_template(value):
            names = names_in_template(c, path, value)
        else:
            continue
        if names is not None:
            own_loop = (step.for_each is not None or "repeat" in step.raw) and (
                rel != ("for_each",))
            references(c, at, step, path, value, names, result_ok=result_ok,
                       loop_ok=in_loop or own_loop, inner_ok=result_ok or until)


def template(c: Checker, scope: Path, path: Path, *, allowed: tuple[str, ...]) -> None:
    value = c.value(path) if _exists(c, path) else None
    if not isinstance(value, str) or not has_template(value):
        return
    names = names_in_template(c, path, value)
    if names is None:
        return
    for ref in names:
        if ref[0] not in allowed:
            what = "a lock" if scope == ("_lock",) else f"'{path[0]}'"
            c.add(f"{what} can use only {', '.join(allowed)}, not '{ref[0]}'", path,
                     code="lock-template" if scope == ("_lock",) else "bad-reference",
                     hint="it is rendered before any step runs",
                     offset=find_ref(value, ref))
        elif ref[0] == "inputs":
            check_input(c, path, value, ref)
        elif ref[0] == "steps" and len(ref) > 1 and ref[1] not in c.first_index:
            close = closest(ref[1], list(c.first_index))
            c.add(f"unknown step '{ref[1]}'" + (f" — did you mean '{close}'?" if close
                                                 else ""), path, code="unknown-step",
                  offset=find_ref(value, ref), hint=None if close else "steps.<id> names a "
                  "step of this runbook")
        elif ref[0] == "steps" and len(ref) > 3 and ref[2] == "outputs":
            other = c.steps.get(c.path_of[ref[1]])
            if other is not None and other.type != "runbook" and ref[3] not in other.outputs:
                c.add(f"step '{ref[1]}' has no output '{ref[3]}'", path,
                      code="unknown-output", offset=find_ref(value, ref),
                      hint=f"its outputs: {', '.join(other.outputs) or 'none'}")


def _exists(c: Checker, path: Path) -> bool:
    cur: Any = c.data
    for key in path:
        if (isinstance(cur, dict) and key in cur) or (
                isinstance(cur, list) and isinstance(key, int) and key < len(cur)):
            cur = cur[key]
        else:
            return False
    return True


def names_in_template(c: Checker, path: Path, value: str) -> list[tuple[str, ...]] | None:
    names, error, lineno = parsed(value, False)
    if error is not None:
        c.add(f"template does not parse: {error}", path, code="template-syntax",
                 hint="check the {{ }} and {% %} pairs", offset=line_offset(value, lineno))
        return None
    sandbox(c, path, value, expression=False)
    return list(names)


def expression(c: Checker, path: Path, value: str) -> list[tuple[str, ...]] | None:
    names, error, _ = parsed(value, True)
    if error is not None:
        c.add(f"expression does not parse: {error}: {value.strip()!r}", path,
                 code="expression-syntax",
                 hint="an expression is Jinja without {{ }}, e.g. "
                 "`steps.find.result.rowcount > 0 and inputs.force`")
        return None
    sandbox(c, path, value, expression=True)
    return list(names)


def sandbox(c: Checker, path: Path, value: str, *, expression: bool) -> None:
    """What the sandbox would refuse at run time is an error now, where it is written."""
    for name, why in refusals(value, expression=expression):
        if why.startswith("unknown "):  # a filter or test that is not there (`random`)
            m = re.search(r"(?:\||\bis\s+(?:not\s+)?)\s*(" + re.escape(name) + r")\b", value)
            kind = "filter" if why.startswith("unknown filter") else "test"
            known = sorted(k for k in (ENV.filters if kind == "filter" else ENV.tests)
                           if k.isidentifier())
            c.add(why, path, code=f"unknown-{kind}", offset=m.start(1) if m else None,
                  hint=None if "did you mean" in why else f"the {kind}s: {', '.join(known)}")
            continue
        if why.startswith("`{%"):  # include, import, extends: nothing to read
            m = re.search(r"\{%[-+]?\s*(" + name + r")\b", value)
            c.add(why, path, code="template-tag", offset=m.start(1) if m else None,
                  hint="write the text in the step itself (or pass it as an input)")
            continue
        at = value.find(name)
        c.add(why, path, code="sandbox", offset=at if at >= 0 else None,
              hint="templates read inputs, env, steps and run by key, and change values "
              "with filters")


def references(c: Checker, at: Path, step: Step, path: Path, value: str,
               names: list[tuple[str, ...]], *, result_ok: bool, loop_ok: bool,
               inner_ok: bool = False) -> None:
    for ref in names:
        root = ref[0]
        if any(refused(part) for part in ref):
            continue  # said once already, as what the sandbox refuses
        if root == "result":
            if not result_ok:
                c.add("`result` exists only in expect, outputs and retry.until", path,
                         code="result-outside", offset=find_ref(value, ref),
                         hint=f"to use this step's result later, write `steps.{step.id}."
                         "result` in a later step")
        elif root in ("item", "loop"):
            if not loop_ok:
                c.add(f"`{root}` exists only in a step with `for_each` (or in a group that "
                      "loops)", path,
                         code="item-outside", offset=find_ref(value, ref),
                         hint="add `for_each: <list expression>` to the step")
        elif root == "inputs":
            check_input(c, path, value, ref)
        elif root == "steps":
            check_step_ref(c, at, path, value, ref, inner_ok=inner_ok)
        elif root == "run":
            if len(ref) > 1 and ref[1] not in RUN_ATTRS:
                c.add(f"unknown name 'run.{ref[1]}'", path, code="unknown-name",
                         offset=find_ref(value, ref), hint="run has: " + ", ".join(RUN_ATTRS))
        elif root not in ROOTS:
            close = closest(root, [*ROOTS, "result"])
            c.add(f"unknown name '{root}'" + (f" — did you mean '{close}'?"
                                                   if close else ""),
                     path, code="unknown-name", offset=find_ref(value, ref),
                     hint=None if close else "templates can use inputs, env, steps, run "
                     "(and result in expect/outputs/until)")


def check_input(c: Checker, path: Path, value: str, ref: tuple[str, ...]) -> None:
    if len(ref) < 2 or ref[1] in c.input_names:
        return
    close = closest(ref[1], c.input_names)
    c.add(f"unknown input '{ref[1]}'" + (f" — did you mean '{close}'?" if close else ""),
             path, code="unknown-input", offset=find_ref(value, ref),
             hint=None if close else "declare it under `inputs:` (known: "
             + (", ".join(c.input_names) or "none") + ")")


def check_step_ref(c: Checker, at: Path, path: Path, value: str, ref: tuple[str, ...], *,
                   inner_ok: bool = False) -> None:
    if len(ref) < 2:
        return
    i = c.ordinal.get(at, 0)
    target = ref[1]
    j = c.first_index.get(target)
    if j is None:
        earlier = [s for s, k in c.first_index.items() if k < i]
        close = closest(target, earlier)
        c.add(f"unknown step '{target}'" + (f" — did you mean '{close}'?"
                                                if close else ""),
                 path, code="unknown-step", offset=find_ref(value, ref),
                 hint=None if close else "steps.<id> names a step defined earlier")
        return
    if j == i:
        c.add(f"a step cannot read its own 'steps.{target}'", path, code="step-order",
                 offset=find_ref(value, ref), hint="inside expect/outputs/until use `result`")
        return
    where_t = c.path_of[target]
    if at[:len(where_t)] == where_t:
        c.add(f"a step inside group '{target}' cannot read 'steps.{target}': the group "
              "ends after it", path, code="step-order", offset=find_ref(value, ref),
              hint="read the steps before it inside the group, by their own ids")
        return
    if where_t[:len(at)] == at:  # a group reading its own steps: outputs and repeat.until
        if not inner_ok:
            c.add(f"step '{target}' runs inside this group, after this is read", path,
                  code="step-order", offset=find_ref(value, ref),
                  hint="read inner steps in the group's outputs or repeat.until")
        return
    container = where_t[:-2]
    if at[:len(container)] != container:
        group = c.value(container).get("id", "?")
        c.add(f"step '{target}' is inside group '{group}'; outside it, use "
              f"steps.{group}.result.items[i].{target} or the group's outputs", path,
              code="group-scope", offset=find_ref(value, ref),
              hint=f"add `outputs:` to group '{group}' for what later steps need")
        return
    if j > i:
        line = c.pos.value(where_t)
        c.add(f"step '{target}' is defined later (line {line[0] if line else '?'}); "
                 "a step can only use steps before it", path, code="step-order",
                 offset=find_ref(value, ref),
                 hint="move this step after it, or the other step before this one")
        return
    if len(ref) > 2 and ref[2] not in STEP_ATTRS:
        c.add(f"'steps.{target}.{ref[2]}' does not exist", path, code="unknown-name",
                 offset=find_ref(value, ref),
                 hint=f"use steps.{target}.result, .outputs or .status")
        return
    other = c.steps.get(where_t)
    if len(ref) > 3 and ref[2] == "outputs" and other is not None and (
            other.type != "runbook") and (
            ref[3] not in other.outputs):
        known = ", ".join(other.outputs) or "none"
        c.add(f"step '{target}' has no output '{ref[3]}'", path, code="unknown-output",
                 offset=find_ref(value, ref), hint=f"its outputs: {known}")
