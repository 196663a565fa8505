"""What every meaning check shares: the runbook under check, positions, and the problems found."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError

from vvrun.errors import Location, Problem
from vvrun.language.build import Built
from vvrun.language.model import Step
from vvrun.language.templates import ENV, template_names

Path = tuple[Any, ...]

EXPRESSION_KEYS = ("when", "for_each", "expect", "outputs")
RESULT_KEYS = ("expect", "outputs")
STEP_ATTRS = ("result", "outputs", "status")
RUN_ATTRS = ("id", "operator", "dry_run")
ROOTS = ("inputs", "env", "steps", "run", "secrets")
DANGER_HINT = "add `danger: true` so the operator confirms first (plans flag it too)"
URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class Checker:
    """The runbook under check, where things are written, and the problems found."""

    def __init__(self, built: Built):
        self.built = built
        self.rb = built.runbook
        self.loaded = built.loaded
        self.pos = built.loaded.positions
        self.data: dict[str, Any] = built.loaded.data
        self.problems: list[Problem] = []
        raw_steps = self.data.get("steps")
        self.raw_steps: list[Any] = raw_steps if isinstance(raw_steps, list) else []
        self.first_index: dict[str, int] = {}
        for i, raw in enumerate(self.raw_steps):
            sid = raw.get("id") if isinstance(raw, dict) else None
            if isinstance(sid, str):
                self.first_index.setdefault(sid, i)
        built_steps = iter(self.rb.steps)
        self.steps: dict[int, Step] = {
            i: next(built_steps)
            for i in range(len(self.raw_steps)) if i not in built.skipped_steps
        }
        inputs = self.data.get("inputs")
        self.input_names = list(inputs) if isinstance(inputs, dict) else []

    # -- reporting ----------------------------------------------------------------------

    def add(self, message: str, path: Path, *, code: str, hint: str | None = None,
            severity: str = "error", offset: int | None = None, key: bool = False) -> None:
        if offset is not None:
            value = self.value(path)
            pos = self.pos.at_offset(path, value, offset) if isinstance(value, str) else None
        elif key:
            pos = self.pos.key(path)
        else:
            pos = self.pos.value(path)
        line, col = pos if pos else (None, None)
        step_id = None
        if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
            raw = self.raw_steps[path[1]]
            step_id = raw.get("id") if isinstance(raw, dict) else None
            step_id = step_id if isinstance(step_id, str) else None
        self.problems.append(Problem(message, Location(self.loaded.path, line, col, step_id),
                                     severity, hint, code))

    def value(self, path: Path) -> Any:
        cur: Any = self.data
        for key in path:
            cur = cur[key]
        return cur


@lru_cache(maxsize=4096)
def parsed(source: str, expression: bool
            ) -> tuple[tuple[tuple[str, ...], ...], str | None, int | None]:
    """(names read, syntax error, its line) of a template or a bare expression. Cached: the
    same snippets recur across the steps and files of one `validate` call."""
    try:
        ast = ENV.parse("{{ " + source + " }}" if expression else source)
    except TemplateSyntaxError as exc:
        return (), exc.message or "syntax error", exc.lineno
    return template_names(ast), None, None


def find_ref(text: str, ref: tuple[str, ...]) -> int | None:
    """Where a reference is written in a template, to point at it (longest match first)."""
    sep = r"\s*(?:\.\s*|\[\s*['\"]?)"
    for n in range(len(ref), 0, -1):
        pattern = sep.join(re.escape(part) for part in ref[:n])
        m = re.search(r"(?<![\w.])" + pattern + r"(?!\w)", text)
        if m:
            return m.start()
    return None


def line_offset(text: str, lineno: int | None) -> int:
    if not lineno or lineno <= 1:
        return 0
    offset = 0
    for _ in range(lineno - 1):
        nl = text.find("\n", offset)
        if nl < 0:
            break
        offset = nl + 1
    return offset
