"""What templates see, what an approval is bound to, and what a failed expression saw."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from vvrun.secrets import Masker
from vvrun.steps.base import Description
from vvrun.templating import Templater, referenced_names

MAX_SHOWN = 200  # characters of one value shown in an expect/until failure


def step_view(status: str, result: Mapping[str, Any] | None,
              outputs: Mapping[str, Any] | None) -> dict[str, Any]:
    """`steps.<id>` as templates read it."""
    return {"status": status, "result": dict(result or {}), "outputs": dict(outputs or {})}


def action_hash(desc: Description, masker: Masker) -> str:
    """sha256 of the masked rendered action: an approval is bound to exactly this."""
    payload = {
        "summary": masker.mask(desc.summary),
        "body": masker.mask(desc.body),
        "params": masker.mask_obj([_plain(p) for p in desc.params]),
        "target": masker.mask(desc.target) if desc.target else None,
    }
    data = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def describe_dict(desc: Description, masker: Masker) -> dict[str, Any]:
    """A Description as event data, masked."""
    return masker.mask_obj({
        "summary": desc.summary, "body": desc.body, "language": desc.language,
        "target": desc.target, "params": [_plain(p) for p in desc.params],
        "notes": list(desc.notes),
    })


def explain(source: str, tpl: Templater, masker: Masker) -> str:
    """`result.rowcount = 3, inputs.limit = 2`: the values an expression referenced."""
    try:
        paths = referenced_names(source, expression=True)
    except Exception:  # a bad expression already failed with its own message
        return ""
    seen: list[str] = []
    for path in paths:
        name = ".".join(path)
        if name in seen or any(s.startswith(name + " =") for s in seen):
            continue
        found, value = _lookup(tpl.context, path)
        if not found:
            continue
        text = json.dumps(value, default=str, ensure_ascii=False) if not isinstance(
            value, str) else repr(value)
        if len(text) > MAX_SHOWN:
            text = text[: MAX_SHOWN - 1] + "…"
        seen.append(f"{name} = {masker.mask(text)}")
    return ", ".join(seen)


def _lookup(context: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    if not path or path[0] not in context:
        return False, None
    value: Any = context[path[0]]
    for part in path[1:]:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def evaluate(tpl: Templater, source: str) -> Any:
    """`tpl.expr(source)`, where a name the sandbox hides (`lipsum.__globals__`) is an error
    with the expression, like any undefined name, instead of a silent Undefined value."""
    from jinja2 import Undefined
    from jinja2.exceptions import SecurityError, UndefinedError

    from vvrun.templating import TemplateRenderError

    value = tpl.expr(source)
    if isinstance(value, Undefined):
        try:
            value._fail_with_undefined_error()
        except (UndefinedError, SecurityError) as exc:
            raise TemplateRenderError(f"expression {source!r} failed: {exc}",
                                      where=tpl.where) from exc
    return value
