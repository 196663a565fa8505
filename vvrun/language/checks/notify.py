"""Notifiers, run-event rules and secrets: every `to:` names a declared notifier, every
`secrets.<name>` a declared secret, and notifier templates read only what exists at run start."""

from __future__ import annotations

from typing import Any

from vvrun.language.checks.context import EXPRESSION_KEYS, Checker, Path, find_ref, parsed
from vvrun.language.checks.templates import check_input, names_in_template
from vvrun.language.load import iter_paths
from vvrun.language.templates import has_template
from vvrun.text.suggest import closest

RUN_START_ROOTS = ("inputs", "env", "run", "secrets")


def _declared(c: Checker, key: str) -> list[str]:
    value = c.data.get(key)
    return list(value) if isinstance(value, dict) else []


def _to(c: Checker, path: Path) -> None:
    value = c.value(path)
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    declared = _declared(c, "notifiers")
    for j, name in enumerate(names):
        if not isinstance(name, str) or name in declared:
            continue
        close = closest(name, declared)
        c.add(f"no notifier named '{name}'" + (f" — did you mean '{close}'?" if close else ""),
              path if isinstance(value, str) else (*path, j), code="unknown-notifier",
              hint=None if close else "declare it under `notifiers:` (declared: "
              + (", ".join(declared) or "none") + ")")


def notify_targets(c: Checker) -> None:
    """`to:` of the top-level rules and of every notify step names a declared notifier."""
    rules = c.data.get("notify")
    if isinstance(rules, list):
        for i, rule in enumerate(rules):
            if isinstance(rule, dict) and "to" in rule:
                _to(c, ("notify", i, "to"))
                if isinstance(rule.get("message"), str):
                    _template(c, ("notify", i, "message"))
    for at, step in c.steps.items():
        if step.type == "notify" and isinstance(c.value((*at, "notify")), dict):
            _to(c, (*at, "notify", "to"))


def notifier_templates(c: Checker) -> None:
    notifiers = c.data.get("notifiers")
    if isinstance(notifiers, dict):
        for name, config in notifiers.items():
            for path, value in iter_paths(config, ("notifiers", name)):
                if isinstance(value, str) and has_template(value):
                    _template(c, path)
    conns = c.data.get("connections")
    if isinstance(conns, dict):  # their other names are checked by `templates.top_templates`
        for name, config in conns.items():
            for path, value in iter_paths(config, ("connections", name)):
                if isinstance(value, str) and "secrets" in value:
                    for ref in names_in_template(c, path, value) or ():
                        if ref[0] == "secrets":
                            secret_ref(c, path, value, ref)


def _template(c: Checker, path: Path) -> None:
    value = c.value(path)
    names = names_in_template(c, path, value)
    for ref in names or ():
        if ref[0] not in RUN_START_ROOTS:
            c.add(f"'{path[0]}' can use only {', '.join(RUN_START_ROOTS)}, not '{ref[0]}'",
                  path, code="bad-reference", offset=find_ref(value, ref),
                  hint="it is rendered when the run starts, before any step")
        elif ref[0] == "inputs":
            check_input(c, path, value, ref)
        elif ref[0] == "secrets":
            secret_ref(c, path, value, ref)


def secret_ref(c: Checker, path: Path, value: str, ref: tuple[str, ...]) -> None:
    declared = _declared(c, "secrets")
    if len(ref) < 2 or ref[1] in declared:
        return
    close = closest(ref[1], declared)
    c.add(f"unknown secret '{ref[1]}'" + (f" — did you mean '{close}'?" if close else ""),
          path, code="unknown-secret", offset=find_ref(value, ref),
          hint=None if close else "declare it under `secrets:` with `from: env`, `file` or "
          "`command` (declared: " + (", ".join(declared) or "none") + ")")


def secrets_where_they_belong(c: Checker, at: Path, step: Any) -> None:
    """`secrets.<name>` in a step names a declared secret (the step's other names are checked
    by `templates.step_templates`)."""
    for rel, value in iter_paths(step.raw):
        if not isinstance(value, str) or "secrets" not in value:
            continue
        path = (*at, *rel)
        names, error, _ = parsed(value, rel[0] in EXPRESSION_KEYS)
        if error is None:
            for ref in names:
                if ref[0] == "secrets":
                    secret_ref(c, path, value, ref)
