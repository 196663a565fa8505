"""The one place the importer reaches the validator (`vvrun validate --strict` semantics)."""

from __future__ import annotations


def check_strict(text: str, name: str) -> None:
    """Raise RunbookInvalid when `text` has any error or warning (warnings count, as with
    `--strict`): the importer must never write a runbook that does not validate."""
    from vvrun.errors import Problem, RunbookInvalid
    from vvrun.language.load import load_bytes
    from vvrun.language.pipeline import check_loaded

    _, problems = check_loaded(load_bytes(text.encode("utf-8"), name))
    if problems:
        raise RunbookInvalid([Problem(p.message, p.where, "error", p.hint, p.code)
                              for p in problems])
