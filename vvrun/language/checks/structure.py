"""The runbook's structure: unique ids, `on_failure` targets, connections a step can use,
keys that only some step types take."""

from __future__ import annotations

from typing import Any

from vvrun.language.checks.context import (
    URL_SCHEME,
    Checker,
    Path,
)
from vvrun.language.model import Step
from vvrun.steps import CONNECTION_KIND
from vvrun.text.suggest import closest


def duplicate_ids(c: Checker) -> None:
    """Ids are unique across the file, groups' steps included."""
    seen: dict[str, Path] = {}
    for at, raw in c.raw_all:
        sid = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(sid, str):
            continue
        if sid in seen:
            first = c.pos.value((*seen[sid], "id"))
            c.add(f"duplicate step id '{sid}' (first at line {first[0] if first else '?'})",
                     (*at, "id"), code="duplicate-id",
                     hint="step ids must be unique: rename one of them")
        else:
            seen[sid] = at


def on_failure(c: Checker, at: Path, step: Step) -> None:
    target = step.on_failure
    if target in ("abort", "continue", "ignore") or "on_failure" not in step.raw:
        return
    path = (*at, "on_failure")
    if len(at) > 2:
        c.add("on_failure inside a group is abort, continue or ignore; a jump leaves from "
              "the group",
              path, code="on-failure",
              hint=f"set `on_failure: {target}` on the group itself")
        return
    i = c.ordinal[at]
    j = c.first_index.get(target)
    if j is None:
        close = closest(target, list(c.first_index))
        c.add(f"on_failure names an unknown step '{target}'"
                 + (f" — did you mean '{close}'?" if close else ""), path,
                 code="on-failure",
                 hint=None if close else "use abort, continue, ignore or the id of a later step")
    elif len(c.path_of[target]) > 2:
        c.add(f"on_failure jumps into group step '{target}'; jump to a top-level step", path,
              code="on-failure", hint="point it at the group, or at a step after it")
    elif j <= i:
        c.add(f"on_failure jumps back to '{target}'; it must name a later step", path,
                 code="on-failure",
                 hint="a jump backwards could loop forever: point it at a rollback step "
                 "after this one")


def connection(c: Checker, at: Path, step: Step) -> None:
    specs = [((*at, step.type), step.type, step.spec)]
    if step.type == "manual" and step.spec.verify is not None:
        v = step.spec.verify
        specs = [((*at, "manual", "verify", v.type), v.type, v.spec)]
    for path, type_, spec in specs:
        kind = CONNECTION_KIND.get(type_)
        if kind is None:
            continue
        if type_ == "shell":
            _shell_on(c, path, spec)
            continue
        name = getattr(spec, "connection", None)
        of_kind = [c.name for c in c.rb.connections.values() if c.kind == kind]
        declared = c.data.get("connections")
        declared = list(declared) if isinstance(declared, dict) else []
        if name is not None:
            cpath = (*path, "connection")
            if name not in declared:
                close = closest(name, declared)
                c.add(f"unknown connection '{name}'" + (
                    f" — did you mean '{close}'?" if close else ""), cpath,
                    code="unknown-connection",
                    hint=None if close else f"define it under `connections:` (known: "
                    f"{', '.join(declared) or 'none'})")
            elif name in c.rb.connections and c.rb.connections[name].kind != kind:
                c.add(f"connection '{name}' is {c.rb.connections[name].kind}; a "
                         f"{type_} step needs {kind}", cpath, code="connection-kind",
                         hint=f"name a {kind} connection"
                         + (f" ({', '.join(of_kind)})" if of_kind else ""))
            continue
        if type_ == "http" and not _relative_url(spec.url):
            continue
        if not of_kind:
            if type_ == "http":
                c.add(f"relative URL {spec.url!r} and no http connection to join it to",
                         path, code="no-connection",
                         hint="write a full URL (https://host/path) or add an http "
                         "connection with a base_url under `connections:`")
            elif len(declared) == len(c.rb.connections):
                c.add(f"this {type_} step has no {kind} connection", path,
                         code="no-connection",
                         hint=f"add one under `connections:`, e.g. `db: {{{kind}: "
                         f"\"{{{{ env.DATABASE_URL }}}}\"}}`" if kind == "postgres" else
                         f"add one under `connections:`, e.g. `cache: {{{kind}: "
                         f"\"{{{{ env.REDIS_URL }}}}\"}}`")
        elif len(of_kind) > 1:
            c.add(f"several {kind} connections ({', '.join(of_kind)}) and the step "
                     "names none", path, code="ambiguous-connection",
                     hint=f"add `connection: <name>` to the {type_} body")


def _shell_on(c: Checker, path: tuple[Any, ...], spec: object) -> None:
    """`on:` names an ssh connection; a templated one (`"{{ item }}"`) is checked at run time."""
    name = getattr(spec, "on", None)
    if name is None or "{{" in name or "{%" in name:
        return
    ssh = [n for n, conn in c.rb.connections.items() if conn.kind == "ssh"]
    declared = c.data.get("connections")
    declared = list(declared) if isinstance(declared, dict) else []
    if name in ssh or (name in declared and name not in c.rb.connections):
        return  # fine, or already reported by the schema
    opath = (*path, "on")
    if name in declared:
        c.add(f"`on: {name}` names a {c.rb.connections[name].kind} connection; a shell step "
              "runs on an ssh one", opath, code="connection-kind",
              hint=f"name an ssh connection ({', '.join(ssh) or 'none declared'})")
        return
    close = closest(name, ssh)
    c.add(f"`on: {name}` names no ssh connection" + (
        f" — did you mean '{close}'?" if close else ""), opath, code="unknown-connection",
        hint=None if close else "declare it under `connections:`, e.g. "
        f"`{name}: {{ssh: deploy@{name}.internal}}`")


def _relative_url(url: str) -> bool:
    # a URL that starts with a template may be absolute once rendered: give it the benefit
    return not URL_SCHEME.match(url) and not url.lstrip().startswith(("{{", "{%"))


def step_keys(c: Checker, at: Path, step: Step) -> None:
    if step.watch is not None and step.type not in ("sql", "redis", "http"):
        c.add(f"`watch` re-runs read-only sql, redis or http steps, not {step.type}",
                 (*at, "watch"), code="watch", key=True,
                 hint="remove `watch`, or use `retry.until` to poll")
    if (step.approvers > 1 or step.approvers_group) and step.type != "confirm" and not step.danger:
        c.add("`approvers` (more than one, or a group) is for a confirm or `danger: true` step",
                 (*at, "approvers"), code="approvers", key=True,
                 hint="add `danger: true`, or put the approval in a confirm step")
    if "repeat" in step.raw and step.type != "group":
        c.add("`repeat` re-runs a group of steps; this step is not one", (*at, "repeat"),
              code="repeat", key=True, hint="use `retry: {until: ...}` to poll one step, or "
              "put it in `steps:` under a group")
    if step.type == "group" and step.for_each and "repeat" in step.raw:
        c.add("a group takes `for_each` or `repeat`, not both", (*at, "repeat"),
              code="repeat", key=True, hint="nest one group inside the other")


def loop_confirmation(c: Checker, at: Path, step: Step) -> None:
    """`confirm_each` changes how a dangerous loop asks: it means nothing elsewhere."""
    if step.confirm_each and (not step.danger or not step.for_each or step.type == "group"):
        missing = ("a step (not a group)" if step.type == "group" else
                   " and ".join(k for k, v in (("`danger: true`", step.danger),
                                               ("`for_each`", step.for_each)) if not v))
        c.add(f"`confirm_each` asks before each item of a dangerous loop; this step needs "
              f"{missing}", (*at, "confirm_each"), code="confirm-each", key=True,
              hint="remove `confirm_each`, or add what it needs")


def loop_items(c: Checker, at: Path, step: Step) -> None:
    """`for_each` gives a list (or a mapping, looped as key/value pairs): a constant that is
    neither — `42`, `'abc'`, `true` — would fail every run, so it fails validation instead."""
    if not isinstance(step.for_each, str):
        return
    from jinja2 import TemplateSyntaxError, nodes

    from vvrun.language.templates import parse_template

    try:
        body = parse_template(step.for_each, expression=True).body
    except TemplateSyntaxError:
        return  # an expression-syntax problem already
    if len(body) != 1 or not isinstance(body[0], nodes.Output) or len(body[0].nodes) != 1:
        return
    expr = body[0].nodes[0]
    if isinstance(expr, nodes.Const):
        kind = ("empty" if expr.value is None else "true or false" if isinstance(
            expr.value, bool) else "text" if isinstance(expr.value, str) else "a number")
        c.add(f"for_each `{step.for_each}` is always {kind}, never a list", (*at, "for_each"),
              code="for-each", hint="give an expression that gives a list, like "
              "`steps.find.result.rows`, `inputs.hosts` or `[1, 2, 3]`")


def record_choices(c: Checker, at: Path, step: Step) -> None:
    """A manual field's `choices` is a list, or one `{{ expression }}` that gives one; each
    field has its own name (answers are kept by name: a second one would overwrite the first)."""
    if step.type != "manual" or not isinstance(step.raw.get("manual"), dict):
        return
    from vvrun.steps.manual import CHOICES_EXPRESSION  # only runbooks with manual steps load it

    names: dict[str, int] = {}
    for i, f in enumerate(step.raw["manual"].get("record") or ()):
        name = f.get("name") if isinstance(f, dict) else f
        if isinstance(name, str) and name in names:
            c.add(f"the field '{name}' is recorded twice (first as item {names[name] + 1} of "
                  "`record`)", (*at, "manual", "record", i), code="duplicate-field",
                  hint="give each field its own name: the answer is kept as "
                  f"result.fields.{name}")
        elif isinstance(name, str):
            names[name] = i
        choices = f.get("choices") if isinstance(f, dict) else None
        if isinstance(choices, str) and not CHOICES_EXPRESSION.fullmatch(choices):
            c.add("`choices` is a list, or one `{{ expression }}` giving a list",
                  (*at, "manual", "record", i, "choices"), code="choices",
                  hint="for example `choices: \"{{ steps.stuck.result.rows | "
                  "map(attribute='pid') | list }}\"`, or `choices: [cancel, terminate]`")


def schedule(c: Checker) -> None:
    """`schedule:` parses as cron and names a time zone that exists."""
    from vvrun.language.schedule import problems

    found = c.built.runbook.schedule
    if found is None:
        return
    short = isinstance(c.data.get("schedule"), str)
    for key, what, hint in problems(found):
        path: tuple[str, ...] = ("schedule",) if short else ("schedule", key)
        c.add(what, path, code="bad-schedule", hint=hint)
