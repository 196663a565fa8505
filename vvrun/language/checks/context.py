"""What every meaning check shares: the runbook under check, positions, and the problems found."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError

from vvrun.errors import Location, Problem
from vvrun.language.build import Built
from vvrun.language.model import Step
from vvrun.language.templates import parse_template, template_names

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
        # every step written, groups' steps included, in order: (path, raw mapping)
        self.raw_all: list[tuple[Path, Any]] = list(_walk_raw(self.raw_steps, ("steps",)))
        self.first_index: dict[str, int] = {}  # id → its place in that order
        self.path_of: dict[str, Path] = {}
        for n, (path, raw) in enumerate(self.raw_all):
            sid = raw.get("id") if isinstance(raw, dict) else None
            if isinstance(sid, str) and sid not in self.first_index:
                self.first_index[sid] = n
                self.path_of[sid] = path
        self.ordinal: dict[Path, int] = {p: n for n, (p, _) in enumerate(self.raw_all)}
        built_steps = iter(self.rb.steps)
        self.steps: dict[Path, Step] = {}
        for i in range(len(self.raw_steps)):
            if i not in built.skipped_steps:
                self._add_built(("steps", i), next(built_steps))
        inputs = self.data.get("inputs")
        self.input_names = list(inputs) if isinstance(inputs, dict) else []

    def _add_built(self, path: Path, step: Step) -> None:
        self.steps[path] = step
        if step.type == "group":
            raw = step.raw.get("steps") or []
            inner = iter(step.spec.steps)
            for j, r in enumerate(raw):
                if isinstance(r, dict) and any(s.id == r.get("id") for s in step.spec.steps):
                    self._add_built((*path, "steps", j), next(inner))

    def in_loop(self, path: Path) -> bool:
        """Whether a step at `path` sits inside a group with `for_each` or `repeat`."""
        for n in range(2, len(path), 2):
            group = self.steps.get(path[:n])
            if group is not None and (group.for_each or getattr(group.spec, "repeat", None)):
                return True
        return False

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
        for n in range(len(path), 1, -1):  # the innermost step the path is in
            if path[n - 2] == "steps" and isinstance(path[n - 1], int):
                raw = self.value(path[:n])
                sid = raw.get("id") if isinstance(raw, dict) else None
                step_id = sid if isinstance(sid, str) else None
                break
        self.problems.append(Problem(message, Location(self.loaded.path, line, col, step_id),
                                     severity, hint, code))

    def value(self, path: Path) -> Any:
        cur: Any = self.data
        for key in path:
            cur = cur[key]
        return cur

    def shell_command(self, at: Path) -> Path:
        """Where a shell step's command is written: `shell:` itself, or its `run:`."""
        path: Path = (*at, "shell")
        return path if isinstance(self.value(path), str) else (*path, "run")


@lru_cache(maxsize=4096)
def parsed(source: str, expression: bool
            ) -> tuple[tuple[tuple[str, ...], ...], str | None, int | None]:
    """(names read, syntax error, its line) of a template or a bare expression. Cached: the
    same snippets recur across the steps and files of one `validate` call."""
    try:
        ast = parse_template(source, expression)
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


def _walk_raw(steps: list[Any], base: Path) -> Any:
    for i, raw in enumerate(steps):
        yield (*base, i), raw
        if isinstance(raw, dict) and isinstance(raw.get("steps"), list):
            yield from _walk_raw(raw["steps"], (*base, i, "steps"))
