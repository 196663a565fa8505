"""Meaning checks after the schema: what a schema cannot say about a runbook.

Each finding is a `Problem` with `file:line:col`, the step id, a hint and a stable `code`:
duplicate ids; templates and expressions that do not parse; references to unknown inputs,
connections and steps not defined earlier; `result`/`item`/`loop` where they do not exist;
`on_failure` targets; steps with no usable connection; SQL values templated where they cannot be
bound; `| raw` in shell; destructive operations without `danger: true`; input defaults that do
not fit their input; lock templates that use more than inputs and env.

Checks work on the model (`Built`) and look at raw data only for positions.
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateSyntaxError

from vvrun.errors import Location, Problem, UsageError
from vvrun.language import sql as sql_meaning
from vvrun.loader import iter_paths
from vvrun.model import Step
from vvrun.steps import CONNECTION_KIND
from vvrun.templating import ENV, has_template, template_names

if TYPE_CHECKING:
    from vvrun.build import Built

Path = tuple[Any, ...]

_EXPRESSION_KEYS = ("when", "for_each", "expect", "outputs")
_RESULT_KEYS = ("expect", "outputs")
_STEP_ATTRS = ("result", "outputs", "status")
_RUN_ATTRS = ("id", "operator", "dry_run")
_ROOTS = ("inputs", "env", "steps", "run")
_DANGER_HINT = "add `danger: true` so the operator confirms first (plans flag it too)"
_URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class _Checker:
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
            value = self._value(path)
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

    def _value(self, path: Path) -> Any:
        cur: Any = self.data
        for key in path:
            cur = cur[key]
        return cur

    # -- the checks ---------------------------------------------------------------------

    def run(self, warnings: bool) -> list[Problem]:
        self.duplicate_ids()
        self.top_templates()
        self.input_defaults()
        for i, step in self.steps.items():
            self.step_templates(i, step)
            self.on_failure(i, step)
            self.connection(i, step)
            self.step_keys(i, step)
            if step.type == "sql":
                self.sql(("steps", i, "sql"), step.spec.query, step, i)
            elif step.type == "manual" and step.spec.verify is not None:
                v = step.spec.verify
                if v.type == "sql":
                    self.sql(("steps", i, "manual", "verify", "sql"), v.spec.query, step, i)
            if warnings:
                self.danger(i, step)
                self.shell_raw(i, step)
        if warnings:
            self.secret_defaults()
        return self.problems

    def duplicate_ids(self) -> None:
        seen: dict[str, int] = {}
        for i, raw in enumerate(self.raw_steps):
            sid = raw.get("id") if isinstance(raw, dict) else None
            if not isinstance(sid, str):
                continue
            if sid in seen:
                first = self.pos.value(("steps", seen[sid], "id"))
                self.add(f"duplicate step id '{sid}' (first at line {first[0] if first else '?'})",
                         ("steps", i, "id"), code="duplicate-id",
                         hint="step ids must be unique: rename one of them")
            else:
                seen[sid] = i

    # templates and references ---------------------------------------------------------

    def top_templates(self) -> None:
        for key in ("title", "description"):
            self.template(("_top", key), (key,), allowed=("inputs", "env", "run"))
        conns = self.data.get("connections")
        if isinstance(conns, dict):
            for name in self.rb.connections:
                for path, value in iter_paths(conns[name], ("connections", name)):
                    if isinstance(value, str):
                        self.template(("_top",), path, allowed=("inputs", "env", "run"))
        locks = self.data.get("locks")
        if isinstance(locks, list) and all(isinstance(x, str) for x in locks):
            for i in range(len(locks)):
                self.template(("_lock",), ("locks", i), allowed=("inputs", "env"))
        defaults = self.data.get("defaults")
        if isinstance(defaults, dict) and isinstance(defaults.get("retry"), dict):
            until = defaults["retry"].get("until")
            if isinstance(until, str):
                self.expression(("defaults", "retry", "until"), until)

    def step_templates(self, i: int, step: Step) -> None:
        base: Path = ("steps", i)
        for rel, value in iter_paths(step.raw):
            if not isinstance(value, str) or not rel:
                continue
            path = (*base, *rel)
            result_ok = rel[0] in _RESULT_KEYS or rel == ("retry", "until") or (
                rel[:3] == ("manual", "verify", "expect"))
            is_expr = (rel[0] in _EXPRESSION_KEYS or rel == ("retry", "until")
                       or rel[:3] == ("manual", "verify", "expect"))
            if is_expr:
                if "{{" in value or "{%" in value:
                    self.add(f"'{rel[0]}' is a bare expression: write it without {{{{ }}}}",
                             path, code="expression-braces",
                             hint=f"for example `{rel[0]}: steps.find.result.rowcount > 0`")
                    continue
                names = self.expression(path, value)
            elif has_template(value):
                names = self.template_names(path, value)
            else:
                continue
            if names is not None:
                self.references(i, step, path, value, names, result_ok=result_ok,
                                loop_ok=step.for_each is not None and rel != ("for_each",))

    def template(self, scope: Path, path: Path, *, allowed: tuple[str, ...]) -> None:
        value = self._value(path) if self._exists(path) else None
        if not isinstance(value, str) or not has_template(value):
            return
        names = self.template_names(path, value)
        if names is None:
            return
        for ref in names:
            if ref[0] not in allowed:
                what = "a lock" if scope == ("_lock",) else f"'{path[0]}'"
                self.add(f"{what} can use only {', '.join(allowed)}, not '{ref[0]}'", path,
                         code="lock-template" if scope == ("_lock",) else "bad-reference",
                         hint="it is rendered before any step runs",
                         offset=_find(value, ref))
            elif ref[0] == "inputs":
                self.check_input(path, value, ref)

    def _exists(self, path: Path) -> bool:
        cur: Any = self.data
        for key in path:
            if (isinstance(cur, dict) and key in cur) or (
                    isinstance(cur, list) and isinstance(key, int) and key < len(cur)):
                cur = cur[key]
            else:
                return False
        return True

    def template_names(self, path: Path, value: str) -> list[tuple[str, ...]] | None:
        names, error, lineno = _parsed(value, False)
        if error is not None:
            self.add(f"template does not parse: {error}", path, code="template-syntax",
                     hint="check the {{ }} and {% %} pairs", offset=_line_offset(value, lineno))
            return None
        return list(names)

    def expression(self, path: Path, value: str) -> list[tuple[str, ...]] | None:
        names, error, _ = _parsed(value, True)
        if error is not None:
            self.add(f"expression does not parse: {error}: {value.strip()!r}", path,
                     code="expression-syntax",
                     hint="an expression is Jinja without {{ }}, e.g. "
                     "`steps.find.result.rowcount > 0 and inputs.force`")
            return None
        return list(names)

    def references(self, i: int, step: Step, path: Path, value: str,
                   names: list[tuple[str, ...]], *, result_ok: bool, loop_ok: bool) -> None:
        for ref in names:
            root = ref[0]
            if root == "result":
                if not result_ok:
                    self.add("`result` exists only in expect, outputs and retry.until", path,
                             code="result-outside", offset=_find(value, ref),
                             hint=f"to use this step's result later, write `steps.{step.id}."
                             "result` in a later step")
            elif root in ("item", "loop"):
                if not loop_ok:
                    self.add(f"`{root}` exists only in a step with `for_each`", path,
                             code="item-outside", offset=_find(value, ref),
                             hint="add `for_each: <list expression>` to the step")
            elif root == "inputs":
                self.check_input(path, value, ref)
            elif root == "steps":
                self.check_step_ref(i, path, value, ref)
            elif root == "run":
                if len(ref) > 1 and ref[1] not in _RUN_ATTRS:
                    self.add(f"unknown name 'run.{ref[1]}'", path, code="unknown-name",
                             offset=_find(value, ref), hint="run has: " + ", ".join(_RUN_ATTRS))
            elif root not in _ROOTS:
                close = difflib.get_close_matches(root, [*_ROOTS, "result"], n=1)
                self.add(f"unknown name '{root}'" + (f" — did you mean '{close[0]}'?"
                                                       if close else ""),
                         path, code="unknown-name", offset=_find(value, ref),
                         hint=None if close else "templates can use inputs, env, steps, run "
                         "(and result in expect/outputs/until)")

    def check_input(self, path: Path, value: str, ref: tuple[str, ...]) -> None:
        if len(ref) < 2 or ref[1] in self.input_names:
            return
        close = difflib.get_close_matches(ref[1], self.input_names, n=1)
        self.add(f"unknown input '{ref[1]}'" + (f" — did you mean '{close[0]}'?" if close else ""),
                 path, code="unknown-input", offset=_find(value, ref),
                 hint=None if close else "declare it under `inputs:` (known: "
                 + (", ".join(self.input_names) or "none") + ")")

    def check_step_ref(self, i: int, path: Path, value: str, ref: tuple[str, ...]) -> None:
        if len(ref) < 2:
            return
        target = ref[1]
        j = self.first_index.get(target)
        if j is None:
            earlier = [s for s, k in self.first_index.items() if k < i]
            close = difflib.get_close_matches(target, earlier, n=1)
            self.add(f"unknown step '{target}'" + (f" — did you mean '{close[0]}'?"
                                                    if close else ""),
                     path, code="unknown-step", offset=_find(value, ref),
                     hint=None if close else "steps.<id> names a step defined earlier")
            return
        if j == i:
            self.add(f"a step cannot read its own 'steps.{target}'", path, code="step-order",
                     offset=_find(value, ref), hint="inside expect/outputs/until use `result`")
            return
        if j > i:
            line = self.pos.value(("steps", j))
            self.add(f"step '{target}' is defined later (line {line[0] if line else '?'}); "
                     "a step can only use steps before it", path, code="step-order",
                     offset=_find(value, ref),
                     hint="move this step after it, or the other step before this one")
            return
        if len(ref) > 2 and ref[2] not in _STEP_ATTRS:
            self.add(f"'steps.{target}.{ref[2]}' does not exist", path, code="unknown-name",
                     offset=_find(value, ref),
                     hint=f"use steps.{target}.result, .outputs or .status")
            return
        other = self.steps.get(j)
        if len(ref) > 3 and ref[2] == "outputs" and other is not None and (
                ref[3] not in other.outputs):
            known = ", ".join(other.outputs) or "none"
            self.add(f"step '{target}' has no output '{ref[3]}'", path, code="unknown-output",
                     offset=_find(value, ref), hint=f"its outputs: {known}")

    # steps -----------------------------------------------------------------------------

    def on_failure(self, i: int, step: Step) -> None:
        target = step.on_failure
        if target in ("abort", "continue") or "on_failure" not in step.raw:
            return
        path = ("steps", i, "on_failure")
        j = self.first_index.get(target)
        if j is None:
            close = difflib.get_close_matches(target, list(self.first_index), n=1)
            self.add(f"on_failure names an unknown step '{target}'"
                     + (f" — did you mean '{close[0]}'?" if close else ""), path,
                     code="on-failure",
                     hint=None if close else "use abort, continue or the id of a later step")
        elif j <= i:
            self.add(f"on_failure jumps back to '{target}'; it must name a later step", path,
                     code="on-failure",
                     hint="a jump backwards could loop forever: point it at a rollback step "
                     "after this one")

    def connection(self, i: int, step: Step) -> None:
        specs = [(("steps", i, step.type), step.type, step.spec)]
        if step.type == "manual" and step.spec.verify is not None:
            v = step.spec.verify
            specs = [(("steps", i, "manual", "verify", v.type), v.type, v.spec)]
        for path, type_, spec in specs:
            kind = CONNECTION_KIND.get(type_)
            if kind is None:
                continue
            name = getattr(spec, "connection", None)
            of_kind = [c.name for c in self.rb.connections.values() if c.kind == kind]
            declared = self.data.get("connections")
            declared = list(declared) if isinstance(declared, dict) else []
            if name is not None:
                cpath = (*path, "connection")
                if name not in declared:
                    close = difflib.get_close_matches(name, declared, n=1)
                    self.add(f"unknown connection '{name}'" + (
                        f" — did you mean '{close[0]}'?" if close else ""), cpath,
                        code="unknown-connection",
                        hint=None if close else f"define it under `connections:` (known: "
                        f"{', '.join(declared) or 'none'})")
                elif name in self.rb.connections and self.rb.connections[name].kind != kind:
                    self.add(f"connection '{name}' is {self.rb.connections[name].kind}; a "
                             f"{type_} step needs {kind}", cpath, code="connection-kind",
                             hint=f"name a {kind} connection"
                             + (f" ({', '.join(of_kind)})" if of_kind else ""))
                continue
            if type_ == "http" and not self._relative_url(spec.url):
                continue
            if not of_kind:
                if type_ == "http":
                    self.add(f"relative URL {spec.url!r} and no http connection to join it to",
                             path, code="no-connection",
                             hint="write a full URL (https://host/path) or add an http "
                             "connection with a base_url under `connections:`")
                elif len(declared) == len(self.rb.connections):
                    self.add(f"this {type_} step has no {kind} connection", path,
                             code="no-connection",
                             hint=f"add one under `connections:`, e.g. `db: {{{kind}: "
                             f"\"{{{{ env.DATABASE_URL }}}}\"}}`" if kind == "postgres" else
                             f"add one under `connections:`, e.g. `cache: {{{kind}: "
                             f"\"{{{{ env.REDIS_URL }}}}\"}}`")
            elif len(of_kind) > 1:
                self.add(f"several {kind} connections ({', '.join(of_kind)}) and the step "
                         "names none", path, code="ambiguous-connection",
                         hint=f"add `connection: <name>` to the {type_} body")

    @staticmethod
    def _relative_url(url: str) -> bool:
        # a URL that starts with a template may be absolute once rendered: give it the benefit
        return not _URL_SCHEME.match(url) and not url.lstrip().startswith(("{{", "{%"))

    def step_keys(self, i: int, step: Step) -> None:
        if step.watch is not None and step.type not in ("sql", "redis", "http"):
            self.add(f"`watch` re-runs read-only sql, redis or http steps, not {step.type}",
                     ("steps", i, "watch"), code="watch", key=True,
                     hint="remove `watch`, or use `retry.until` to poll")
        if step.approvers == 2 and step.type != "confirm" and not step.danger:
            self.add("`approvers: 2` applies to a confirm step or a `danger: true` step",
                     ("steps", i, "approvers"), code="approvers", key=True,
                     hint="add `danger: true`, or put the approval in a confirm step")

    def sql(self, path: Path, query: str, step: Step, i: int) -> None:
        if not isinstance(self._value(path), str):
            path = (*path, "query")
        meaning = sql_meaning.analyse(query)
        error = meaning.parse_error
        if error is not None:
            blocks = "{%" in query or "{#" in query  # the rendered text may differ
            self.add(f"the SQL does not parse: {error.message}", path, code="sql-syntax",
                     offset=error.offset, severity="warning" if blocks else "error",
                     hint="PostgreSQL's own parser read it this way; fix the SQL")
        if step.type == "sql" and step.spec.read_only and error is None \
                and meaning.read_only_proof is not None:
            self.add(f"`read_only: true`, but {meaning.read_only_proof}", path,
                     code="sql-read-only", hint="run only SELECT/SHOW/EXPLAIN/VALUES here, "
                     "or drop `read_only` (and consider `danger: true`)")
        words = {"single_quote": "inside a quoted string", "dollar_quote": "inside a dollar "
                 "quote", "double_quote": "inside a quoted identifier", "line_comment":
                 "inside a comment", "block_comment": "inside a comment"}
        bound = [h for h in meaning.holes if h.context == "code" and not h.ident]
        for hole in meaning.holes:
            if hole.context == "code":
                continue
            text = query[hole.start : hole.end]
            if hole.context == "double_quote":
                hint = "an identifier needs `{{ x | ident }}` without the quotes around it"
            elif hole.context in ("line_comment", "block_comment"):
                hint = "remove the template from the comment"
            else:
                hint = ("remove the quotes: every {{ }} is already a bound value "
                        "(e.g. `{{ inputs.n ~ ' minutes' }}::interval` builds text)")
            self.add(f"{text} is {words[hole.context]}, where a value cannot be bound", path,
                     code="sql-quoted-value", hint=hint, offset=hole.start)
        statements = meaning.statements
        if len(statements) > 1 and bound:
            self.add(f"{len(statements)} statements in one sql step cannot take templated "
                     "values", path, code="sql-multi-value", offset=bound[0].start,
                     hint="split it into one step per statement")
        for hole in bound:
            if hole.statement < 0:
                continue
            stmt = statements[hole.statement]
            if not stmt.takes_params or meaning.values_need_literals:
                self.add(f"{stmt.kind} cannot take a bound value "
                         f"({query[hole.start:hole.end]})", path, code="sql-ddl-value",
                         offset=hole.start,
                         hint="use `{{ x | ident }}` for a name; for a setting use "
                         "`SELECT set_config('name', {{ value }}, false)`")

    def danger(self, i: int, step: Step) -> None:
        if step.danger:
            return
        path: Path = ("steps", i, step.type)
        why: list[str] = []
        if step.type == "sql":
            why += sql_meaning.analyse(step.spec.query).reasons
        elif step.type == "redis":
            spec = step.spec
            first = ""
            if spec.op == "command":
                cmd = spec.command
                first = (cmd.split(None, 1)[0] if isinstance(cmd, str) and cmd.split()
                         else (cmd[0] if cmd else ""))
            first = first.upper()
            if first in ("FLUSHALL", "FLUSHDB"):
                why.append(f"{first} deletes every key")
            elif first == "KEYS":
                self.add("KEYS blocks the server while it walks every key", path,
                         code="danger", severity="warning",
                         hint="use `SCAN`, or `delete_pattern:` to delete by pattern")
        elif step.type == "shell" and re.search(
                r"\brm\s+(-\w*r\w*f|-\w*f\w*r|-r\s+-f|-f\s+-r|--recursive\s+--force)\b",
                step.spec.run):
            why.append("rm -rf deletes files recursively")
        for reason in dict.fromkeys(why):
            self.add(f"{reason}; the step is not marked `danger: true`", path, code="danger",
                     severity="warning", hint=_DANGER_HINT)

    def shell_raw(self, i: int, step: Step) -> None:
        if step.type != "shell":
            return
        path: Path = ("steps", i, "shell")
        if not isinstance(self._value(path), str):
            path = (*path, "run")
        for m in re.finditer(r"\{\{[^}]*\|\s*raw\b[^}]*\}\}", step.spec.run):
            self.add(f"{m.group(0)} puts the value into the command unquoted", path,
                     code="shell-raw", severity="warning", offset=m.start(),
                     hint="remove `| raw` unless the value is trusted and must split into words")

    # inputs ----------------------------------------------------------------------------

    def input_defaults(self) -> None:
        from vvrun.inputs import coerce

        for name, spec in self.rb.inputs.items():
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
                self.add(f"the default of input '{name}' {what}",
                         ("inputs", name, "default"), code="input-default",
                         hint=f"give a default that fits the input's type ({spec.type}), "
                         "pattern and choices, or remove it")

    def secret_defaults(self) -> None:
        for name, spec in self.rb.inputs.items():
            if spec.secret and spec.has_default and spec.default not in (None, ""):
                self.add(f"secret input '{name}' has a default written in the file",
                         ("inputs", name, "default"), code="secret-default",
                         severity="warning", hint="use `env:` to take it from the environment")


@lru_cache(maxsize=4096)
def _parsed(source: str, expression: bool
            ) -> tuple[tuple[tuple[str, ...], ...], str | None, int | None]:
    """(names read, syntax error, its line) of a template or a bare expression. Cached: the
    same snippets recur across the steps and files of one `validate` call."""
    try:
        ast = ENV.parse("{{ " + source + " }}" if expression else source)
    except TemplateSyntaxError as exc:
        return (), exc.message or "syntax error", exc.lineno
    return template_names(ast), None, None


def _find(text: str, ref: tuple[str, ...]) -> int | None:
    """Where a reference is written in a template, to point at it (longest match first)."""
    sep = r"\s*(?:\.\s*|\[\s*['\"]?)"
    for n in range(len(ref), 0, -1):
        pattern = sep.join(re.escape(part) for part in ref[:n])
        m = re.search(r"(?<![\w.])" + pattern + r"(?!\w)", text)
        if m:
            return m.start()
    return None


def _line_offset(text: str, lineno: int | None) -> int:
    if not lineno or lineno <= 1:
        return 0
    offset = 0
    for _ in range(lineno - 1):
        nl = text.find("\n", offset)
        if nl < 0:
            break
        offset = nl + 1
    return offset


def run_checks(built: Built, *, warnings: bool = True) -> list[Problem]:
    """Every meaning problem of a built runbook (warnings only when `warnings`)."""
    return _Checker(built).run(warnings)
