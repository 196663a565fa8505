"""A runbook's inputs as a form, and the form's answers back as `--var` values.

Empty fields are left out so that the runbook's default or its environment variable applies;
anything typed wins. Secret fields are never prefilled and never rendered back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # text | number | select | password | textarea
    label: str
    help: str
    value: str  # prefilled (never for a secret)
    required: bool
    pattern: str | None = None
    choices: tuple[str, ...] = ()


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def input_fields(runbook: Any, given: Mapping[str, str] | None = None) -> list[Field]:
    fields = []
    for spec in runbook.inputs.values():
        typed = (given or {}).get(spec.name, "")
        value = "" if spec.secret else (typed or _shown(spec.default if spec.has_default else ""))
        choices: tuple[str, ...] = tuple(_shown(c) for c in spec.choices or ())
        if spec.type == "boolean" and not choices:
            choices = ("true", "false")
        kind = ("password" if spec.secret else "select" if choices else
                "number" if spec.type in ("integer", "number") else
                "textarea" if spec.type == "list" else "text")
        hint = spec.description
        if spec.env:
            hint += f" (default from ${spec.env})"
        fields.append(Field(spec.name, kind, spec.name, hint.strip(), value, spec.required,
                            spec.pattern, choices))
    return fields


def form_values(runbook: Any, form: Mapping[str, Any]) -> dict[str, str]:
    """The non-empty answers for declared inputs, as the CLI's `--var` strings."""
    values = {}
    for name in runbook.inputs:
        raw = form.get(f"input.{name}")
        if raw is None:
            continue
        text = str(raw).strip()
        if runbook.inputs[name].type == "list":
            text = ", ".join(p.strip() for p in re.split(r"[\n,]", text) if p.strip())
        if text:
            values[name] = text
    return values


def typed_values(runbook: Any, values: Mapping[str, str]) -> dict[str, Any]:
    """The answers coerced as `--var` would be (raises UsageError naming the input)."""
    from vvrun.language.inputs import coerce

    return {k: coerce(runbook.inputs[k], v, source="the form") for k, v in values.items()}
