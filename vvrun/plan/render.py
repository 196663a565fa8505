"""One step as it would run: the step type's pure `render` + `describe`, and a plain rendering
from the step as written when a type has neither (or fails on a placeholder).

Only `parse` (done by the loader), `render` and `describe` are ever called here: never `execute`,
never a `Clients`. That is the first of the plan's two locks (the second is `vvrun.guard`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from vvrun.errors import VvrunError
from vvrun.guard import SideEffectBlocked
from vvrun.language.model import Connection, Step
from vvrun.language.templates import DependsOn, Templater, TemplateRefused, Unknown
from vvrun.steps import STEP_TYPES
from vvrun.steps.base import Description
from vvrun.text.literals import sql_literal


def show_value(value: Any) -> str:
    """A bound value as a reviewer reads it: SQL-style literals, ⟨placeholders⟩ as they are."""
    return sql_literal(value, _placeholder)


def _placeholder(value: Any) -> str | None:
    return str(value) if isinstance(value, Unknown) else None


def hash_of(obj: Any) -> str:
    data = json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


def describe_step(
    step_type: str,
    spec: Any,
    tpl: Templater,
    conns: Mapping[str, Connection],
    *,
    loose: Templater | None = None,
) -> tuple[Description, list[str], list[str]]:
    """The step type's own description of the rendered action; `(description, warnings,
    notes)`.

    Tried in order, the first that renders wins: the step type's `render`+`describe` with
    strict placeholders; the same with `loose` ones (when the action depends on a result only
    a run knows — said in a note); the planner's plain rendering of the spec (when the step
    type refuses a placeholder — said in a warning); the step as written.
    """
    module = STEP_TYPES[step_type]
    render = getattr(module, "render", None)
    describe = getattr(module, "describe", None)
    attempts: list[tuple[bool, Templater | None]] = []
    if render is not None and describe is not None:
        attempts += [(True, tpl), (True, loose)]
    attempts += [(False, tpl), (False, loose), (False, None)]
    depends: str | None = None
    problems: list[str] = []
    for own, t in attempts:
        if (own and t is None) or (t is loose and t is not None and depends is None):
            continue  # the loose pass is only for an action that depends on a run
        try:
            desc = (describe(render(spec, t, conns))  # type: ignore[misc]
                    if own else _plain(step_type, spec, t, conns))
        except (SideEffectBlocked, TemplateRefused, MemoryError, RecursionError):
            raise  # a refusal (exit 2) is never "shown as written", nor is running out
        except DependsOn as exc:
            depends = depends or exc.path
            continue
        except VvrunError as exc:
            problems.append(exc.message)
            continue
        except Exception as exc:  # a step type that chokes on a ⟨placeholder⟩ must not
            # hide the rest of the plan: the next attempt renders it another way.
            problems.append(f"{type(exc).__name__}: {exc}")
            continue
        warnings: list[str] = []
        notes: list[str] = []
        if t is None:
            why = f"it needs {depends}" if depends else (problems[0] if problems else "")
            warnings.append(f"shown as written ({why})" if why else "shown as written")
        elif not own and render is not None and problems and "⟨" not in problems[0]:
            # (a refusal of a ⟨placeholder⟩ itself, say a URL whose base comes from the
            # environment, is expected in a plan and not worth a reviewer's attention)
            warnings.append(f"rendered by the planner: the {step_type} step type refused it "
                            f"in a plan ({problems[0]})")
        if t is loose and depends:
            notes.append(f"parts of it come from {depends}, known only when the runbook runs")
        return desc, warnings, notes
    raise AssertionError("the step as written always describes")  # pragma: no cover


def fallback(
    step_type: str, spec: Any, tpl: Templater | None, conns: Mapping[str, Connection]
) -> Description:
    """A plain description from the spec: rendered through `tpl`, or as written (the template
    text itself, which holds no values) when `tpl` is None."""
    return _plain(step_type, spec, tpl, conns)


def _target(conns: Mapping[str, Connection], kind: str, name: str | None,
            tpl: Templater | None) -> str | None:
    of_kind = [c for c in conns.values() if c.kind == kind]
    conn = conns.get(name) if name else (of_kind[0] if len(of_kind) == 1 else None)
    if conn is None:
        return None
    url = conn.settings.get("url") or conn.settings.get("base_url")
    if url is None:
        return conn.name
    return f"{conn.name}: {_text(url, tpl)}"


def _text(source: Any, tpl: Templater | None) -> str:
    if tpl is None:
        return str(source)
    return str(tpl.text(source))


def _plain(step_type: str, spec: Any, tpl: Templater | None,
           conns: Mapping[str, Connection]) -> Description:
    if step_type == "sql":
        if tpl is None:
            body, params = spec.query.strip(), ()
        else:
            sql = tpl.sql(spec.query)
            body, params = sql.display().strip(), sql.params
        return Description(
            summary=_first_line(body), body=body, language="sql", params=tuple(params),
            target=_target(conns, "postgres", spec.connection, tpl),
        )
    if step_type == "shell":
        body = spec.run.strip() if tpl is None else tpl.shell(spec.run).strip()
        notes = tuple(f"env {k}={_text(v, tpl)}" for k, v in spec.env.items())
        if spec.cwd:
            notes += (f"in {_text(spec.cwd, tpl)}",)
        return Description(summary=_first_line(body), body=body, language="bash", notes=notes)
    if step_type == "http":
        url = spec.url if tpl is None else tpl.url(spec.url)
        lines = [f"{spec.method} {url}"]
        for k, v in spec.headers.items():
            lines.append(f"{k}: {_text(v, tpl)}")
        for k, v in spec.params.items():
            lines.append(f"?{k}={_text(v, tpl)}")
        if spec.has_json:
            value = spec.json if tpl is None else tpl.value(spec.json)
            lines += ["", json.dumps(value, indent=2, sort_keys=True, default=str,
                                     ensure_ascii=False)]
        elif spec.body is not None:
            lines += ["", _text(spec.body, tpl)]
        return Description(summary=lines[0], body="\n".join(lines), language="http",
                           target=_target(conns, "http", spec.connection, tpl))
    if step_type == "redis":
        target = _target(conns, "redis", spec.connection, tpl)
        if spec.op == "delete_pattern":
            summary = f"delete_pattern {_text(spec.pattern, tpl)}"
            return Description(summary=summary, body=summary, language="text", target=target,
                               notes=(f"SCAN + UNLINK in batches of {spec.batch}",))
        if spec.op == "info":
            return Description(summary=f"INFO {spec.section}", target=target)
        if isinstance(spec.command, str):
            words = spec.command.split() if tpl is None else tpl.words(spec.command)
        else:
            words = [_text(w, tpl) for w in spec.command]
        line = " ".join(words)
        return Description(summary=line, body=line, language="text", target=target)
    if step_type == "confirm":
        return Description(summary=_text(spec.prompt, tpl))
    if step_type == "manual":
        text = _text(spec.instructions, tpl).strip()
        return Description(summary=_first_line(text), body=text, language="markdown")
    return Description(summary=step_type)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def step_source_hash(step: Step) -> str:
    return hash_of(dict(step.raw) if step.raw else {"id": step.id, "type": step.type,
                                                    "spec": repr(step.spec)})
