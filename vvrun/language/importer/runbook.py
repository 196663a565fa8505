"""A procedure → runbook data (name, inputs, connections, steps with unique ids), its review
notes, and the YAML text."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from vvrun.language.importer.context import escape as _escape
from vvrun.language.importer.emit import Reviews, dump
from vvrun.language.importer.procedures import Procedure


def slug(title: str, sep: str = "-") -> str:
    """`Preparation (1 week before)` → `preparation`; emoji and punctuation dropped."""
    text = re.sub(r"\([^)]*\)", " ", title)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", text.lower())
    return sep.join(words)[:60].strip(sep)


def _unique(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def to_data(proc: Procedure, name: str) -> tuple[dict[str, Any], Reviews]:
    reviews: Reviews = {}
    ctx = proc.ctx
    steps: list[dict[str, Any]] = []
    ids: set[str] = set()
    for step in proc.steps:
        draft = step.draft
        base = slug(step.title.split(" — ")[-1] or " ".join(draft.source.split()[:3]), "_")
        if len(base) > 40:
            base = base[:41].rsplit("_", 1)[0]
        base = base or draft.kind
        if not base[0].isalpha():
            base = f"{draft.kind}_{base}"
        sid = _unique(base, ids)
        out: dict[str, Any] = {"id": sid}
        if step.title:
            out["title"] = _escape(step.title)
        if step.description:
            out["description"] = _escape(ctx.redact(step.description)[0])
        if step.when:
            out["when"] = step.when
        if draft.danger:
            out["danger"] = True
        body = draft.body
        if draft.kind == "manual":
            body = _escape_body(body, ctx)
        out[draft.kind] = _with_connection(draft.kind, body, draft.connection, ctx)
        notes = list(draft.reviews)
        if draft.danger:
            notes.append("marked danger: it changes or deletes things; confirm before it runs")
        if notes and step.line:
            notes.append(f"from line {step.line} of the document")
        if notes:
            reviews[("steps", len(steps))] = notes
        steps.append(out)
    for step in steps:
        if "when" in step:
            step["when"] = re.sub(r"@(\d+)@", lambda m: steps[int(m.group(1))]["id"], step["when"])
    data: dict[str, Any] = {"version": 1, "name": name, "title": _escape(proc.section.title)}
    description, found = ctx.redact(proc.description)
    if description.strip():
        data["description"] = _escape(description.strip()) + "\n"
    if found:
        reviews[("description",)] = ["a literal password in the text was replaced by its input"]
    if ctx.inputs:
        data["inputs"] = {}
        for inp in ctx.inputs.values():
            spec: dict[str, Any] = {"type": "string", "description": inp.description}
            if inp.env:
                spec["env"] = inp.env
            if inp.secret:
                spec["secret"] = True
            elif not inp.env:
                # a placeholder is a value the operator types; one starting with `-` would be
                # read as an option by the command it lands in (validate warns about that)
                spec["pattern"] = r"^[^-\s]"
            data["inputs"][inp.name] = spec
            if inp.review:
                reviews[("inputs", inp.name)] = [inp.review]
    if ctx.connections:
        data["connections"] = {}
        for cname, (kind, url, review) in ctx.connections.items():
            data["connections"][cname] = {kind: url}
            if review:
                reviews[("connections", cname)] = [review]
    data["steps"] = steps
    return data, reviews


def _with_connection(kind: str, body: Any, conn: str, ctx: Any) -> Any:
    """The body naming its connection when the procedure has several of that kind."""
    kinds = {"sql": "postgres", "redis": "redis"}
    if not conn or sum(k == kinds.get(kind) for k, _, _ in ctx.connections.values()) < 2:
        return body
    if isinstance(body, str):
        return {"query" if kind == "sql" else "command": body, "connection": conn}
    return {**body, "connection": conn}


def _escape_body(body: Any, ctx: Any) -> Any:
    """Manual text as the document wrote it, passwords removed, templates made literal."""
    if isinstance(body, str):
        return _escape(ctx.redact(body)[0])
    if isinstance(body, dict) and "instructions" in body:
        return {**body, "instructions": _escape(ctx.redact(body["instructions"])[0])}
    return body


def render(proc: Procedure, name: str, source: str) -> tuple[str, int, int]:
    """(YAML text, step count, review count) of one procedure."""
    data, reviews = to_data(proc, name)
    header = [
        f"# Imported by `vvrun import` from {source}, line {proc.section.line}.",
        "# Read every `# review:` note, then delete it.",
    ]
    count = sum(len(v) for v in reviews.values())
    return dump(data, reviews, header), len(data["steps"]), count
