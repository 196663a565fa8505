"""What templates see, what an approval is bound to, and what a failed expression saw."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from vvrun.language.templates import Templater
from vvrun.language.templates import explain as _explain
from vvrun.secrets import Masker
from vvrun.steps.base import Description
from vvrun.ui.values import param_text


def step_view(status: str, result: Mapping[str, Any] | None,
              outputs: Mapping[str, Any] | None) -> dict[str, Any]:
    """`steps.<id>` as templates read it."""
    return {"status": status, "result": dict(result or {}), "outputs": dict(outputs or {})}


def action_hash(desc: Description, masker: Masker,
                shown: Mapping[str, Any] | None = None) -> str:
    """sha256 of the masked rendered action: an approval is bound to exactly this.
    `shown`: `describe_dict(desc, masker)` when the caller has it (the same masked values,
    not masked a second time)."""
    if shown is None:
        shown = describe_dict(desc, masker)
    payload = {
        "summary": shown["summary"],
        "body": shown["body"],
        "params": shown["params"],
        "target": shown["target"] or None,
    }
    data = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def describe_dict(desc: Description, masker: Masker) -> dict[str, Any]:
    """A Description as event data, its values masked (its keys are these names, whatever a
    secret happens to spell: `action_hash` reads them)."""
    mask = masker.mask_obj
    return {
        "summary": mask(desc.summary), "body": mask(desc.body), "language": mask(desc.language),
        "target": mask(desc.target), "params": mask([_plain(p) for p in desc.params]),
        "notes": mask(list(desc.notes)),
        # for the screen only (not in the action hash): each value written as itself, masked
        # before and after (a list's items, then its text); `params` above turns a list into
        # the text of one, and a prompt would write it one way and the header another
        "param_texts": [masker.mask(param_text(mask(p))) for p in desc.params],
    }


def explain(source: str, tpl: Templater, masker: Masker) -> str:
    """The values an expression read, masked (see `vvrun.language.templates.explain`)."""
    return _explain(source, tpl.context, masker.mask)


def evaluate(tpl: Templater, source: str) -> Any:
    """`tpl.expr(source)`: an undefined or sandbox-hidden name is an error with the expression."""
    return tpl.expr(source)
