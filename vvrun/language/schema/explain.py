"""Schema validation of a loaded document, with jsonschema's errors rewritten in plain words.

Each error becomes a `Problem` at the `file:line:col` of the key or value it is about, naming
the step, with a hint: unknown keys get "did you mean" suggestions, a step body's short/long
forms are told apart by the keys written instead of a wall of `oneOf` failures.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from vvrun.errors import Location, Problem
from vvrun.language.load import Loaded
from vvrun.language.schema import document as S
from vvrun.language.schema.durations import duration_problems, out_of_range
from vvrun.language.schema.step_keys import DURATION_PATTERN
from vvrun.text.suggest import closest

_TYPE_WORDS = {
    "string": "text",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "empty",
}
_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _words(types: Any) -> str:
    ts = [types] if isinstance(types, str) else list(types)
    if "integer" in ts and "number" in ts:
        ts.remove("integer")
    return " or ".join(_TYPE_WORDS.get(t, t) for t in ts)


def _or_list(items: list[str]) -> str:
    items = [f"'{i}'" for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


class _Context:
    def __init__(self, loaded: Loaded):
        self.loaded = loaded
        self.data = loaded.data
        self.problems: list[Problem] = []
        self.bad_paths: set[tuple[Any, ...]] = set()

    def step_id(self, path: tuple[Any, ...]) -> str | None:
        """The id of the innermost step at or above `path` (groups nest steps)."""
        found, cur = None, self.data
        for n, key in enumerate(path):
            try:
                cur = cur[key]
            except (KeyError, IndexError, TypeError):
                break
            if n and path[n - 1] == "steps" and isinstance(key, int) and isinstance(cur, dict):
                sid = cur.get("id")
                found = sid if isinstance(sid, str) else None
        return found

    def add(self, message: str, path: tuple[Any, ...], *, hint: str | None = None,
            code: str = "schema", key: bool = False) -> None:
        self.bad_paths.add(path)
        pos = self.loaded.positions.key(path) if key else self.loaded.positions.value(path)
        line, col = pos if pos else (None, None)
        self.problems.append(Problem(
            message, Location(self.loaded.path, line, col, self.step_id(path)), hint=hint,
            code=code))


def _field(path: tuple[Any, ...]) -> str:
    """How to name the thing at `path` in a message."""
    if not path:
        return "the runbook"
    names = [p for p in path if isinstance(p, str)]
    last = path[-1]
    if len(path) >= 2 and path[-2] == "steps" and isinstance(last, int):
        return "the step"  # a top-level step or one inside a group
    if len(path) == 2 and path[0] == "inputs":
        return f"input '{last}'"
    if len(path) == 2 and path[0] == "connections":
        return f"connection '{last}'"
    if isinstance(last, int):
        return f"item {last + 1} of '{names[-1]}'" if names else f"item {last + 1}"
    return str(last)


def _container(path: tuple[Any, ...]) -> str:
    if not path:
        return "at the top level"
    if len(path) == 2 and path[0] in ("steps", "inputs", "connections"):
        return "in " + _field(path)
    if len(path) > 2 and path[-2] == "steps" and isinstance(path[-1], int):
        return "in " + _field(path)
    return f"in '{path[-1]}'" if isinstance(path[-1], str) else "in " + _field(path)


def _known_keys(schema: Mapping[str, Any]) -> list[str]:
    return list((schema.get("properties") or {}).keys())


def _unknown_key(ctx: _Context, path: tuple[Any, ...], key: str, known: list[str]) -> None:
    close = closest(key, known)
    if key == "connection" and len(path) == 2 and path[0] == "steps":
        ctx.add(f"unknown key '{key}' in the step", (*path, key), code="unknown-key", key=True,
                hint="`connection` goes inside the body: `sql: {query: ..., connection: db}`")
        return
    if close:
        hint = None
        message = f"unknown key '{key}' {_container(path)} — did you mean '{close}'?"
    else:
        hint = "known keys: " + ", ".join(known)
        message = f"unknown key '{key}' {_container(path)}"
    ctx.add(message, (*path, key), hint=hint, code="unknown-key", key=True)


_PATTERN_WORDS = {
    S.ID_PATTERN: ("must be lowercase letters, digits and '_', starting with a letter",
                   "for example `find_stuck`"),
    S.NAME_PATTERN: ("must be a slug: lowercase letters, digits and '-'",
                     "for example `db-emergency`"),
    DURATION_PATTERN: ("is not a duration", "write it like 500ms, 30s, 5m, 1h or a number "
                         "of seconds"),
    "^(abort|continue|ignore|[a-z][a-z0-9_]*)$": (
        "must be abort, continue, ignore or the id of a later step", None),
    "^(abort|continue|ignore)$": ("must be abort, continue or ignore", None),
}


def _rewrite(ctx: _Context, error: Any, prefix: tuple[Any, ...]) -> None:
    path = (*prefix, *error.absolute_path)
    keyword = error.validator
    value = error.instance
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    name = _field(path)
    if keyword == "additionalProperties" and isinstance(value, dict):
        known = _known_keys(schema)
        for key in value:
            if key not in known:
                _unknown_key(ctx, path, key, known)
    elif keyword == "required" and isinstance(value, dict):
        for key in error.validator_value:
            if key not in value:
                ctx.add(f"missing required key '{key}' {_container(path)}", path,
                        hint=_required_hint(path, key), code="missing-key")
    elif keyword == "type":
        _type_problem(ctx, path, value, error.validator_value)
    elif keyword in ("enum", "const"):
        allowed = error.validator_value if keyword == "enum" else [error.validator_value]
        words = ", ".join(str(a) for a in allowed)
        close = closest(str(value), [str(a) for a in allowed])
        hint = f"did you mean '{close}'?" if close else (
            f"use one of: {words}" if len(allowed) > 1 else f"write `{path[-1]}: {words}`")
        ctx.add(f"{name} must be {'one of ' if len(allowed) > 1 else ''}{words}, not "
                f"{value!r}", path, hint=hint, code="bad-value")
    elif keyword == "pattern" and "propertyNames" in error.schema_path:
        _property_name(ctx, path, value)
    elif keyword == "pattern":
        what, hint = _PATTERN_WORDS.get(error.validator_value, (
            f"does not match the pattern {error.validator_value}", None))
        ctx.add(f"{name} {value!r} {what}", path, hint=hint, code="bad-value")
    elif keyword == "propertyNames":
        for sub in error.context or ():
            _property_name(ctx, path, sub.instance)
        if not error.context:
            _property_name(ctx, path, value)
    elif keyword in ("oneOf", "anyOf"):
        _one_of(ctx, error, path, value, prefix)
    elif keyword == "minLength":
        ctx.add(f"{name} is empty", path, hint="write a value or remove the key",
                code="bad-value")
    elif keyword == "minItems":
        n = error.validator_value
        ctx.add(f"{name} needs at least {n} item{'s' if n != 1 else ''}", path,
                hint="a runbook needs at least one step" if path == ("steps",) else None,
                code="bad-value")
    elif keyword in ("minimum", "maximum") and "maximum" in schema:  # one message for both
        message, hint = out_of_range(name, schema, keyword, value,
                                     ctx.loaded.texts.get(path, repr(value)))
        ctx.add(message, path, hint=hint, code="bad-value")
    elif keyword in ("minimum", "exclusiveMinimum", "maximum"):
        op = {"minimum": "at least", "exclusiveMinimum": "more than", "maximum": "at most"}
        ctx.add(f"{name} must be {op[keyword]} {error.validator_value}, not {value!r}", path,
                code="bad-value")
    elif keyword == "uniqueItems":
        ctx.add(f"{name} lists the same value twice", path, hint="remove the duplicate",
                code="bad-value")
    elif keyword == "format":
        ctx.add(f"{name} {value!r} is not a valid regular expression", path,
                hint="check brackets and escapes (use single quotes in YAML)", code="bad-value")
    elif keyword == "minProperties" and path[-1:] == ("verify",):
        ctx.add("'verify' needs a check (sql, redis, http or shell) beside `expect`", path,
                code="bad-value")
    else:
        ctx.add(f"{name}: {error.message}", path, code="schema")


def _required_hint(path: tuple[Any, ...], key: str) -> str | None:
    if path == ():
        return {
            "version": "add `version: 1` at the top",
            "name": "add `name: my-runbook` (a slug naming runs and locks)",
            "title": "add `title: ...`, one line saying what the runbook is for",
            "steps": "add `steps:` with at least one step",
        }.get(key)
    if len(path) == 2 and path[0] == "steps" and key == "id":
        return "give every step an `id: some_name` (templates reach it as steps.<id>)"
    return None


def _property_name(ctx: _Context, path: tuple[Any, ...], key: Any) -> None:
    what = {"inputs": "input", "connections": "connection", "outputs": "output"}.get(
        str(path[-1]) if path else "", "key")
    ctx.add(f"{what} name '{key}' must be lowercase letters, digits and '_', starting with a "
            "letter", (*path, key), hint="templates reach it by this name, so it must be an "
            "identifier", code="bad-name", key=True)


def _type_problem(ctx: _Context, path: tuple[Any, ...], value: Any, types: Any) -> None:
    name = _field(path)
    expected = _words(types)
    hint = None
    wanted = {types} if isinstance(types, str) else set(types)
    if isinstance(value, str) and "boolean" in wanted and value.lower() in _YAML11_BOOLS:
        hint = f"write true or false; `{value}` is text in vvrun (YAML 1.2), not a boolean"
    elif value is None:
        hint = "the value is missing after the colon"
    elif isinstance(value, str) and wanted & {"integer", "number"}:
        hint = "write a plain number without quotes"
    ctx.add(f"{name} must be {expected}, not {_kind(value)}", path, hint=hint, code="bad-type")


def _one_of(ctx: _Context, error: Any, path: tuple[Any, ...], value: Any,
            prefix: tuple[Any, ...]) -> None:
    """Pick the alternative the author meant (by type, then by the keys written) and report
    only its errors."""
    alternatives = list(enumerate(error.validator_value))
    defs = S.runbook_schema()["$defs"]
    flat = [(i, b) for i, alt in alternatives for b in S._branches(alt, defs)]
    fits = [(i, b) for i, b in flat if _fits_type(b, value)]
    name = _field(path)
    if not fits:
        kinds = []
        for _, b in flat:
            w = _words(b.get("type", "any"))
            if w not in kinds:
                kinds.append(w)
        body = len(path) >= 3 and path[0] == "steps" and path[-1] in S.TYPE_KEYS
        ctx.add(f"{name} must be {' or '.join(kinds)}, not {_kind(value)}", path,
                hint=_short_long_hint(path, flat) if body else None, code="bad-type")
        return
    if isinstance(value, dict) and len(fits) > 1:
        chosen = [(i, b) for i, b in fits if all(k in value for k in b.get("required", ()))]
        if len(chosen) != 1:
            _which_form(ctx, path, value, fits, chosen)
            return
        fits = chosen
    index = fits[0][0]
    subs = [e for e in (error.context or ()) if e.relative_schema_path
            and e.relative_schema_path[0] == index]
    if not subs:
        ctx.add(f"{name}: {error.message}", path, code="schema")
        return
    # report the deepest errors of that alternative; a type error of the alternative itself
    # is not what the author needs to hear when the alternative fits the value's type
    for sub in _most_specific(subs):
        _rewrite(ctx, sub, prefix)


def _most_specific(errors: list[Any]) -> list[Any]:
    deepest = max(len(e.absolute_path) for e in errors)
    return [e for e in errors if len(e.absolute_path) == deepest] if deepest else errors


def _fits_type(branch: Mapping[str, Any], value: Any) -> bool:
    types = S._types(branch)
    if types is None:
        return True
    if isinstance(value, bool):
        return "boolean" in types
    if isinstance(value, int):
        return bool(types & {"integer", "number"})
    if isinstance(value, float):
        return "number" in types
    if isinstance(value, str):
        return "string" in types
    if isinstance(value, dict):
        return "object" in types
    if isinstance(value, list):
        return "array" in types
    return value is None and "null" in types


def _which_form(ctx: _Context, path: tuple[Any, ...], value: dict[str, Any],
                fits: list[tuple[int, Mapping[str, Any]]],
                chosen: list[tuple[int, Mapping[str, Any]]]) -> None:
    known: list[str] = []
    for _, b in fits:
        for k in _known_keys(b):
            if k not in known:
                known.append(k)
    unknown = [k for k in value if k not in known]
    for key in unknown:
        _unknown_key(ctx, path, key, known)
    leads = [k for _, b in fits for k in b.get("required", ())]
    present = [k for k in leads if k in value]
    name = _field(path)
    if len(present) > 1:
        ctx.add(f"{name} has {_or_list(present).replace(' or ', ' and ')}; use only one of "
                f"them", path, hint="split it into two steps", code="bad-form")
    elif not unknown:
        ctx.add(f"{name} needs {_or_list(leads)}", path,
                hint=_short_long_hint(path, fits), code="missing-key")


def _short_long_hint(path: tuple[Any, ...], flat: list[tuple[int, Mapping[str, Any]]]) -> str:
    leads = [k for _, b in flat for k in b.get("required", ())]
    forms = []
    if any("string" in (S._types(b) or ()) for _, b in flat):
        forms.append("a string (the short form)")
    if leads:
        forms.append("a mapping with " + _or_list(leads))
    return "write " + " or ".join(forms) if forms else "see `vvrun schema`"


def _iter_errors(validator: Any, instance: Any) -> Iterator[Any]:
    return iter(sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path))))


def validate_document(loaded: Loaded) -> list[Problem]:
    """Schema problems of a loaded document (see `validate`)."""
    return validate(loaded)[0]


def validate(loaded: Loaded) -> tuple[list[Problem], frozenset[tuple[Any, ...]]]:
    """Schema problems of a loaded document, and the paths they are about. YAML numbers are
    put back to text first where the schema wants text; steps and connections are validated
    by their type key."""
    data = loaded.data
    S.coerce_strings(data, loaded.texts)
    ctx = _Context(loaded)
    for error in _iter_errors(S.document_validator(), data):
        _rewrite(ctx, error, ())
    steps = data.get("steps")
    if isinstance(steps, list):
        for i, step in enumerate(steps):
            if isinstance(step, dict):
                _check_step(ctx, ("steps", i), step)
    conns = data.get("connections")
    if isinstance(conns, dict):
        for name, conn in conns.items():
            if isinstance(conn, dict):
                _check_connection(ctx, name, conn)
            else:
                ctx.add(f"connection '{name}' must be a mapping, not {_kind(conn)}",
                        ("connections", name), hint="write `postgres: <url>`, `redis: <url>` "
                        "or `http: {base_url: ...}` under it", code="bad-type")
    for path, message, hint in duration_problems(data, frozenset(ctx.bad_paths), _field):
        ctx.add(message, path, hint=hint, code="bad-value")
    return ctx.problems, frozenset(ctx.bad_paths)


def _check_step(ctx: _Context, path: tuple[Any, ...], step: dict[str, Any]) -> None:
    keys = [k for k in S.TYPE_KEYS if k in step]
    types = ", ".join(S.TYPE_KEYS)
    if "steps" in step:
        if keys:
            ctx.add(f"the step has both `steps` (a group) and a type key ({keys[0]})",
                    (*path, keys[0]), hint="a group only holds steps: move the "
                    f"{keys[0]} into a step inside it", code="step-type", key=True)
        inner = step["steps"]
        if isinstance(inner, list):
            for j, child in enumerate(inner):
                if isinstance(child, dict):
                    _check_step(ctx, (*path, "steps", j), child)
        return
    if not keys:
        ctx.add("the step has no type key", path,
                hint=f"add exactly one of: {types} (or `steps:` for a group)",
                code="step-type")
        return
    if len(keys) > 1:
        ctx.add(f"the step has {len(keys)} type keys ({', '.join(keys)}); a step does one thing",
                (*path, keys[1]), hint=f"keep exactly one of: {types}; split it into steps",
                code="step-type", key=True)
        return
    key = keys[0]
    for error in _iter_errors(S.body_validator(key), step[key]):
        _rewrite(ctx, error, (*path, key))


def _check_connection(ctx: _Context, name: str, conn: dict[str, Any]) -> None:
    path = ("connections", name)
    kinds = [k for k in S.CONNECTION_KINDS if k in conn]
    if len(kinds) != 1:
        guess = next((g for k in conn if (g := closest(k, S.CONNECTION_KINDS))), None)
        ctx.add(f"connection '{name}' needs exactly one of postgres, redis, http"
                + (f" (it has {', '.join(kinds)})" if kinds else ""), path,
                hint=f"did you mean '{guess}'?" if guess and not kinds else
                "write `postgres: <url>`, `redis: <url>` or `http: {base_url: ...}`",
                code="connection-kind")
        return
    for error in _iter_errors(S.connection_validator(kinds[0]), conn):
        _rewrite(ctx, error, path)
