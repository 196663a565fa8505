"""Meaning checks after the schema: ids, references, templates, connections, danger lint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vvrun.errors import Problem

if TYPE_CHECKING:
    from vvrun.build import Built


def run_checks(built: Built, *, warnings: bool = True) -> list[Problem]:
    return []
