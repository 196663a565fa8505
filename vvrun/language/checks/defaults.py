"""Input defaults that do not fit their input, and secrets given a default in the file."""

from __future__ import annotations

import re

from vvrun.errors import UsageError
from vvrun.language.checks.context import (
    Checker,
)


def input_defaults(c: Checker) -> None:
    from vvrun.language.inputs import coerce

    for name, spec in c.rb.inputs.items():
        if spec.pattern is not None:
            try:
                re.compile(spec.pattern)
            except re.error:
                continue  # the schema reported it
        if not spec.has_default or spec.default is None:
            continue
        try:
            coerce(spec, spec.default, source="default")
        except UsageError as exc:
            what = exc.message.replace(f"input '{name}' (default) ", "")
            c.add(f"the default of input '{name}' {what}",
                     ("inputs", name, "default"), code="input-default",
                     hint=f"give a default that fits the input's type ({spec.type}), "
                     "pattern and choices, or remove it")


def secret_defaults(c: Checker) -> None:
    for name, spec in c.rb.inputs.items():
        if spec.secret and spec.has_default and spec.default not in (None, ""):
            c.add(f"secret input '{name}' has a default written in the file",
                     ("inputs", name, "default"), code="secret-default",
                     severity="warning", hint="use `env:` to take it from the environment")
