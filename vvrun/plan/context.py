"""The template context of a plan: what can be known before a run, and ⟨placeholders⟩ for the rest.

- inputs: given or default values; a secret input is `⟨secret⟩` even when its value was given;
  an input taken from the environment is `⟨env.NAME⟩` unless `--show-env NAME`; a missing one
  is `⟨inputs.x⟩`.
- env: `⟨env.NAME⟩` for every name, except those `--show-env` lets through.
- steps: every `steps.<id>…` is `⟨steps.<id>…⟩`: only a live run knows results.
- run: `⟨run.id⟩`, `⟨run.operator⟩`, `dry_run: true`.
- secrets: `⟨secrets.name⟩` always: a plan never fetches a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vvrun.language.model import Input, Runbook
from vvrun.language.templates import Unknown, referenced_names

SECRET = "secret"


class Placeholder(Unknown):
    """An Unknown for rendering a step's action (never its `when`): truth-testing gives True
    and everything derived stays a Placeholder, so `rows | map(attribute='pid') | list`
    renders as `[⟨steps.x.result.rows[…].pid⟩]` instead of stopping the render. Only used
    after a strict render said the step depends on a run; the plan says so beside it."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Placeholder:
        if name.startswith("__"):
            raise AttributeError(name)
        return Placeholder(f"{self.path}.{name}")

    def __getitem__(self, key: Any) -> Placeholder:
        if isinstance(key, slice):
            return Placeholder(f"{self.path}[…]")
        return Placeholder(f"{self.path}[{key!r}]")

    def __iter__(self):
        yield Placeholder(f"{self.path}[…]")

    def __reversed__(self) -> Placeholder:
        return Placeholder(self.path)

    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:
        raise TypeError(f"the length of {self} is known only when the runbook runs")

    def _op(self, *_: Any) -> Placeholder:
        return Placeholder(self.path)

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _op  # type: ignore[assignment]
    __hash__ = Unknown.__hash__
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _op
    __truediv__ = __rtruediv__ = __floordiv__ = __mod__ = __neg__ = __pow__ = _op
    __contains__ = _op


class PlaceholderMap(dict):
    """A mapping where a name it does not hold is a placeholder `⟨<prefix>.<name>⟩`."""

    def __init__(self, prefix: str, known: Mapping[str, Any] | None = None,
                 factory: type[Unknown] = Unknown):
        super().__init__(known or {})
        self.prefix = prefix
        self.factory = factory

    def __missing__(self, key: Any) -> Unknown:
        return self.factory(f"{self.prefix}.{key}")


def lenient(value: Any) -> Any:
    """The same context with every Unknown turned into a Placeholder."""
    if isinstance(value, Unknown):
        return Placeholder(value.path)
    if isinstance(value, PlaceholderMap):
        return PlaceholderMap(value.prefix, {k: lenient(v) for k, v in value.items()},
                              Placeholder)
    if isinstance(value, dict):
        return {k: lenient(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ResolvedInput:
    """An input's value for a plan and whence it came (given, default, env, missing)."""

    input: Input
    value: Any  # the value, or an Unknown
    source: str  # given | default | env NAME | missing

    @property
    def known(self) -> bool:
        return not isinstance(self.value, Unknown)


def resolve_plan_inputs(
    runbook: Runbook,
    variables: Mapping[str, Any],
    environ: Mapping[str, str],
    show_env: tuple[str, ...],
) -> list[ResolvedInput]:
    """Each declared input with the value a plan may show. Secret values never enter here."""
    shown_env = {k: environ[k] for k in show_env if k in environ}
    given = {
        k: v for k, v in variables.items() if k in runbook.inputs and not runbook.inputs[k].secret
    }
    public_env = {
        k: v
        for k, v in shown_env.items()
        if not any(i.secret and i.env == k for i in runbook.inputs.values())
    }
    values = _coerce(runbook, given, public_env)
    out = []
    for name, inp in runbook.inputs.items():
        if inp.secret:
            source = _source(inp, variables, environ)
            out.append(ResolvedInput(inp, Unknown(SECRET), source))
        elif name in given:
            out.append(ResolvedInput(inp, values[name], "given"))
        elif inp.env is not None and inp.env in environ:
            if inp.env in public_env:
                out.append(ResolvedInput(inp, values[name], f"env {inp.env}"))
            else:
                out.append(ResolvedInput(inp, Unknown(f"env.{inp.env}"), f"env {inp.env}"))
        elif inp.has_default:
            out.append(ResolvedInput(inp, values[name], "default"))
        elif inp.env is not None:
            out.append(ResolvedInput(inp, Unknown(f"env.{inp.env}"), f"env {inp.env}"))
        else:
            out.append(ResolvedInput(inp, Unknown(f"inputs.{name}"), "missing"))
    return out


def _source(inp: Input, variables: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    if inp.name in variables:
        return "given"
    if inp.env is not None:
        return f"env {inp.env}"
    return "default" if inp.has_default else "missing"


def _coerce(runbook: Runbook, given: Mapping[str, Any], environ: Mapping[str, str]) -> dict:
    """Type, pattern and choices checks exactly as a run does them, for the public inputs."""
    from vvrun.language.inputs import resolve_inputs

    public = Runbook(
        path=runbook.path,
        name=runbook.name,
        title=runbook.title,
        inputs={k: v for k, v in runbook.inputs.items() if not v.secret},
        where=runbook.where,
    )
    return dict(resolve_inputs(public, given, environ, missing="unknown"))


def make_context(
    inputs: list[ResolvedInput], environ: Mapping[str, str], show_env: tuple[str, ...]
) -> dict[str, Any]:
    shown = {k: environ[k] for k in show_env if k in environ}
    return {
        "inputs": PlaceholderMap("inputs", {r.input.name: r.value for r in inputs}),
        "env": PlaceholderMap("env", shown),
        "steps": PlaceholderMap("steps"),
        "run": {"id": Unknown("run.id"), "operator": Unknown("run.operator"), "dry_run": True},
        "secrets": PlaceholderMap("secrets"),  # never fetched by a plan: ⟨secrets.name⟩
    }


def unknowns_in(source: str, context: Mapping[str, Any], *, expression: bool) -> list[str]:
    """The ⟨paths⟩ a template or expression reads that the plan cannot know, in order, once
    per reference."""
    try:
        paths = referenced_names(source, expression=expression)
    except Exception:  # a template that does not parse: validate reports it, not the plan
        return []
    found: list[str] = []
    for path in paths:
        value: Any = context
        for part in path:
            if isinstance(value, Unknown):
                break
            try:
                value = value[part]
            except (KeyError, TypeError, IndexError):
                value = None
                break
        if isinstance(value, Unknown):
            found.append(value.path)
    return found


def dependency(path: str) -> str:
    """What an unknown path waits for, in words: `long_running` for steps.long_running.…"""
    parts = path.split(".")
    if parts[0] == "steps" and len(parts) > 1:
        return parts[1].split("[")[0]
    if path == SECRET:
        return "a secret input"
    if parts[0] == "env":
        return f"the environment ({path})"
    if parts[0] == "inputs":
        return f"input {parts[1] if len(parts) > 1 else path} (not given)"
    return path
