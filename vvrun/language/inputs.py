"""Inputs: `--var`/`--vars-file` parsing, and resolving a runbook's declared inputs.

Order of precedence for one input: the value given (`--var`, `--vars-file`), then its `env:`
variable, then its `default`, then asking the operator (when a terminal can), else an error
(a run) or an `Unknown` (a plan). Every value is coerced to the declared type and checked
against `pattern` and `choices`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from vvrun.errors import Location, UsageError
from vvrun.language.model import Input, Runbook
from vvrun.text.suggest import closest

_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}
_DIGITS = re.compile(r"[+-]?[0-9]+")  # ASCII only: `int("١٢٣")` is 123, and no --var means it

# name → (value, where it is written) for each value of the last `--vars-file` read: a problem
# with one of them is shown at its line in that file, whatever copies of the values callers make
# (a value given again with --var is another object, and is the --var's)
_FROM_FILE: dict[str, tuple[Any, Location]] = {}


def parse_vars(pairs: list[str] | tuple[str, ...], vars_file: str | None) -> dict[str, Any]:
    """`--var k=v` pairs over the values of a `--vars-file` (YAML or JSON mapping).

    Values from `--var` stay strings (they are coerced later, by the input's declared type);
    values from a file keep their YAML types.
    """
    values: dict[str, Any] = {}
    _FROM_FILE.clear()
    if vars_file is not None:
        values.update(_read_vars_file(vars_file))
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(
                f"--var {_shown(pair)} is not name=value",
                hint=f"write it as --var {_shown(name) if name else 'name'}=VALUE",
            )
        values[_arg(name, "the name of a --var")] = _arg(value, f"--var {_shown(name)}")
    return values


def _shown(text: str) -> str:
    """Text from the command line as it can be printed (bytes that are not UTF-8 as \\xNN)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _arg(text: str, what: str) -> str:
    from vvrun.language.source import SourceRefused, check_arg

    try:
        return check_arg(text, what)
    except SourceRefused as exc:
        raise UsageError(exc.message, hint="give the value as UTF-8 text") from None


def _read_vars_file(path: str) -> dict[str, Any]:
    # The runbook's loader, with its bounds: size, regular files only, UTF-8, aliases, depth.
    from vvrun.language.load import load_file

    loaded = load_file(path, kind="vars")
    errors = [p for p in loaded.problems if p.severity == "error"]
    if errors:
        first = errors[0]
        message = first.message
        if first.code == "yaml-syntax":
            message = f"--vars-file is not valid YAML or JSON: {message}"
        hint = first.hint
        if first.code == "io":
            hint = "give the path of a YAML or JSON file of name: value pairs"
        raise UsageError(message, where=first.where, hint=hint)
    if loaded.data is None:
        return {}
    for key, value in loaded.data.items():
        line, column = loaded.positions.value((key,)) or (None, None)
        _FROM_FILE[str(key)] = (value, Location(path, line, column))
    return {str(k): v for k, v in loaded.data.items()}


def _given_where(name: str, raw: Any) -> tuple[str, Location | None]:
    """Where a given value came from: its line in the `--vars-file`, or `--var`."""
    value, where = _FROM_FILE.get(name, (None, None))
    return ("--vars-file", where) if where is not None and value is raw else ("--var", None)


def resolve_inputs(
    runbook: Runbook,
    given: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    ask: Callable[[Input], str] | None = None,
    missing: str = "error",
) -> dict[str, Any]:
    """Every declared input's value, coerced and checked.

    `ask(input)` is called for a value nobody gave (a terminal); without it a missing value is
    a UsageError (`missing="error"`) or an `Unknown("inputs.<name>")` (`missing="unknown"`,
    for plans). A name in `given` that the runbook does not declare is a UsageError.
    """
    unknown = [name for name in given if name not in runbook.inputs]
    if unknown:
        name = unknown[0]
        close = closest(name, list(runbook.inputs))
        declared = ", ".join(runbook.inputs) or "none"
        source, where = _given_where(name, given[name])
        raise UsageError(
            f"unknown input '{name}' (runbook '{runbook.name}' declares: {declared})",
            where=where or Location(runbook.path),
            hint=f"did you mean '{close}'?" if close else f"remove it from the {source}, or "
            "declare the input under `inputs:`",
        )
    values: dict[str, Any] = {}
    for name, spec in runbook.inputs.items():
        if name in given:
            raw = given[name]
            source, where = _given_where(name, raw)
            values[name] = coerce(spec, raw, source=source, where=where)
            continue
        elif spec.env and spec.env in environ:
            raw, source = _arg(environ[spec.env], f"${spec.env}"), f"${spec.env}"
        elif spec.has_default:
            raw, source = spec.default, "default"
        elif ask is not None:
            raw, source = ask(spec), "answer"
        elif missing == "unknown":
            from vvrun.language.templates import Unknown

            values[name] = Unknown(f"inputs.{name}")
            continue
        else:
            hint = f"give it with --var {name}=..."
            if spec.env:
                hint += f" or set ${spec.env}"
            raise UsageError(f"input '{name}' is required", where=spec.where, hint=hint)
        values[name] = coerce(spec, raw, source=source)
    return values


def coerce(spec: Input, raw: Any, *, source: str = "--var",
           where: Location | None = None) -> Any:
    """The value converted to the input's type and checked against pattern and choices.
    `where`: where the value is written (a `--vars-file` line); else the input's declaration."""
    shown = "***" if spec.secret else repr(raw)
    where = where or spec.where

    def bad(what: str, hint: str) -> UsageError:
        if source == "--vars-file":  # the example as the file writes it
            hint = f"in {where.file}, write " + hint.replace(f"--var {spec.name}=",
                                                             f"{spec.name}: ")
        return UsageError(f"input '{spec.name}' ({source}) {what}, got {shown}",
                          where=where, hint=hint)

    kind = spec.type
    if kind == "string":
        value: Any = raw if isinstance(raw, str) else _scalar_text(raw)
    elif kind == "integer":
        value = _integer(raw)
        if value is None:
            raise bad("must be an integer", f"--var {spec.name}=42")
    elif kind == "number":
        value = _number(raw)
        if value is None:
            raise bad("must be a number", f"--var {spec.name}=1.5")
    elif kind == "boolean":
        value = _boolean(raw)
        if value is None:
            raise bad("must be true or false", f"--var {spec.name}=true")
    elif kind == "list":
        value = _list(raw)
        if value is None:
            raise bad("must be a list", f"--var {spec.name}=a,b,c (or a YAML list)")
    else:  # the schema allows only the kinds above
        value = raw

    for item in value if isinstance(value, list) else [value]:
        if spec.pattern is not None and not re.search(spec.pattern, _scalar_text(item)):
            raise bad(f"must match the pattern {spec.pattern!r}",
                      spec.description or f"see the input's `pattern` in {spec.where}")
        if spec.choices is not None and item not in spec.choices and not any(
            _scalar_text(item) == _scalar_text(c) for c in spec.choices
        ):
            raise bad("must be one of " + ", ".join(repr(c) for c in spec.choices),
                      f"--var {spec.name}={_scalar_text(spec.choices[0])}")
    return value


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _integer(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() else None
    text = str(raw).strip().replace("_", "")
    if not _DIGITS.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:  # more digits than Python converts
        return None


def _number(raw: Any) -> int | float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return raw
    text = str(raw).strip()
    as_int = _integer(text)
    if as_int is not None:
        return as_int
    if not text.isascii():  # `float("١.٥")` is 1.5; only ASCII digits make a number
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def _boolean(raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _list(raw: Any) -> list[Any] | None:
    if isinstance(raw, list | tuple):
        return list(raw)
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if text.startswith("["):
        from vvrun.language.load import load_bytes  # bounded: a `--var` may be an alias bomb

        loaded = load_bytes(text.encode("utf-8", "surrogateescape"), "--var", kind="value")
        data = loaded.data
        return list(data) if isinstance(data, list) and not loaded.problems else None
    if not text:
        return []
    return [part.strip() for part in text.split(",")]
