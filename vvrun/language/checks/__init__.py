"""Meaning checks after the schema: what a schema cannot say about a runbook.

Each finding is a `Problem` with `file:line:col`, the step id, a hint and a stable `code`:
duplicate ids; templates and expressions that do not parse; references to unknown inputs,
connections and steps not defined earlier; `result`/`item`/`loop` where they do not exist;
`on_failure` targets; steps with no usable connection; SQL values templated where they cannot be
bound; `| raw` in shell; a value in a string another program reads again (`inner.py`);
destructive operations without `danger: true`; input defaults that do not fit their input; lock
templates that use more than inputs and env.

Checks work on the model (`Built`) and look at raw data only for positions. One module per
family: `structure`, `templates`, `danger`, `defaults`; `context` is what they share.
"""

from __future__ import annotations

from vvrun.errors import Problem
from vvrun.language.build import Built
from vvrun.language.checks import (
    danger,
    defaults,
    inner,
    notify,
    options,
    redis,
    structure,
    templates,
)
from vvrun.language.checks.context import Checker


def run_checks(built: Built, *, warnings: bool = True) -> list[Problem]:
    """Every meaning problem of a built runbook (warnings only when `warnings`)."""
    c = Checker(built)
    structure.duplicate_ids(c)
    structure.schedule(c)
    templates.top_templates(c)
    defaults.input_defaults(c)
    notify.notify_targets(c)
    notify.notifier_templates(c)
    for at, step in c.steps.items():
        templates.step_templates(c, at, step)
        structure.on_failure(c, at, step)
        structure.connection(c, at, step)
        structure.step_keys(c, at, step)
        structure.loop_confirmation(c, at, step)
        structure.loop_items(c, at, step)
        structure.record_choices(c, at, step)
        notify.secrets_where_they_belong(c, at, step)
        if step.type == "redis":
            redis.shape(c, at, step)
        if step.type == "sql":
            danger.sql(c, (*at, "sql"), step.spec.query, step, at)
        elif step.type == "manual" and step.spec.verify is not None:
            danger.verify_only_reads(c, (*at, "manual", "verify"), step.spec.verify, step, at)
        if warnings:
            danger.danger(c, at, step)
            danger.shell_raw(c, at, step)
            inner.inner_readers(c, at, step)
            options.option_words(c, at, step)
    if warnings:
        defaults.secret_defaults(c)
    return c.problems
