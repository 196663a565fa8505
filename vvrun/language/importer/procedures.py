"""Sections → procedures → steps.

A procedure is the first section, walking down the headings, that holds commands or numbered
steps itself (or whose sub-headings are numbered); its sub-headings then title its steps.
A section without them is passed through to its children: "Database Operations" is a folder
of procedures, "Database Backup" is one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from vvrun.language.importer import fence
from vvrun.language.importer.commands import Draft, translate
from vvrun.language.importer.context import Context, ref
from vvrun.language.importer.danger import sql_danger
from vvrun.language.importer.markdown import Block, Section

SHELL_LANGS = {"bash", "sh", "shell", "zsh", "console", "shell-session", "shellsession"}
SQL_LANGS = {"sql", "postgresql", "postgres", "psql", "pgsql"}
REDIS_LANGS = {"redis", "redis-cli"}
_NUMBERED_HEADING = re.compile(r"^(?:step\s*)?\d+[.):]?\s+", re.I)
_LABEL = re.compile(r"^\*{0,2}([^*\n]{1,60}?)\*{0,2}\s*:\s*\*{0,2}\s*$")
_KNOWN_CLI = {"psql", "redis-cli", "curl", "vercel", "git", "kubectl", "pg_dump", "npm", "docker",
              "systemctl", "aws", "gcloud", "heroku", "openssl", "dig", "nslookup", "ssh"}


@dataclass
class Step:
    draft: Draft
    title: str
    description: str = ""
    when: str = ""
    line: int = 0


@dataclass
class Procedure:
    section: Section
    description: str
    steps: list[Step] = field(default_factory=list)
    ctx: Context = field(default_factory=Context)


def _fence_commands(block: Block) -> list[str] | None:
    """The content of a fence as shell text, or None when it is not a shell fence."""
    if block.lang in SHELL_LANGS:
        if block.lang in ("console", "shell-session", "shellsession") or any(
                line.startswith("$ ") for line in block.content.splitlines()):
            return [line[2:] for line in block.content.splitlines() if line.startswith("$ ")]
        return [block.content]
    if not block.lang and any(line.startswith("$ ") for line in block.content.splitlines()):
        return [line[2:] for line in block.content.splitlines() if line.startswith("$ ")]
    return None


def _is_steps_block(block: Block) -> bool:
    if block.kind == "list":
        return block.ordered or any(_is_steps_block(b) for it in block.items for b in it.blocks)
    if block.kind != "fence":
        return False
    if block.lang in SQL_LANGS | REDIS_LANGS:
        return bool(block.content.strip())
    texts = _fence_commands(block)
    if texts is None:
        return False
    return any(c.commands or c.checklist or c.numbered for t in texts for c in fence.chunks(t))


def find(section: Section) -> Iterator[Section]:
    """Every procedure section under `section`, in document order."""
    own = any(_is_steps_block(b) for b in section.blocks)
    numbered = section.children and all(_NUMBERED_HEADING.match(c.title) for c in section.children)
    if section.level and (own or numbered):
        yield section
        return
    for child in section.children:
        yield from find(child)


def build(section: Section) -> Procedure:
    proc = Procedure(section, "")
    intro: list[str] = []
    _walk(proc, section, "", intro)
    proc.description = "\n\n".join(intro)
    return proc


def _walk(proc: Procedure, section: Section, label: str, intro: list[str]) -> None:
    pending = ""
    for block in section.blocks:
        m = _LABEL.match(block.source.strip()) if block.kind == "para" else None
        if m:
            pending = m.group(1).strip()
            continue
        here = " — ".join(x for x in (label, pending) if x)
        if block.kind == "para" and not proc.steps:
            intro.append(block.source)
        elif block.kind in ("list", "fence") and _is_steps_block(block):
            _steps_block(proc, block, here)
        elif not proc.steps:
            intro.append(block.source)
        else:
            _add(proc, Draft("manual", block.source), here or "Read", line=block.line)
        pending = ""
    for child in section.children:
        title = _NUMBERED_HEADING.sub("", child.title)
        _walk(proc, child, " — ".join(x for x in (label, title) if x), intro)


def _add(proc: Procedure, draft: Draft, title: str, *, description: str = "", when: str = "",
         line: int = 0) -> None:
    proc.steps.append(Step(draft, title, description, when, line))


def _steps_block(proc: Procedure, block: Block, label: str) -> None:
    if block.kind == "list":
        for n, item in enumerate(block.items, 1):
            title = " — ".join(x for x in (label, _first_line(item.text) or f"Step {n}") if x)
            inner = [b for b in item.blocks if _is_steps_block(b)]
            code = _inline_command(item.text)
            if code:
                draft = translate(code, proc.ctx)
                draft.reviews.append("the command was inline code in a list item")
                _add(proc, draft, title, line=block.line)
            for b in inner:
                _steps_block(proc, b, title)
            rest = [b.source for b in item.blocks if b not in inner]
            if not code and not inner:
                body = "\n\n".join([item.text, *rest]).strip() or title
                _add(proc, Draft("manual", body), title, line=block.line)
        return
    if block.lang in SQL_LANGS:
        ctx = proc.ctx
        reused = ctx.last("postgres")
        conn = reused or ctx.connection(
            "postgres", ref(ctx.env_input("DATABASE_URL")),
            "the document names no database for this SQL; DATABASE_URL is a guess")
        for title, query in _sql_statements(ctx.redact(block.content)[0]):
            q = ctx.templated(query)
            notes = [f"no database named here; assumed {conn}, as the steps before"] if reused \
                else []
            _add(proc, Draft("sql", q, danger=bool(sql_danger(q)), connection=conn, reviews=notes),
                 " — ".join(x for x in (label, title) if x), line=block.line)
        return
    if block.lang in REDIS_LANGS:
        for line in block.content.splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "//")):
                cmd = line[len("redis-cli"):].strip() if line.startswith("redis-cli") else line
                draft = translate("redis-cli " + cmd, proc.ctx)
                _add(proc, draft, " — ".join(x for x in (label, cmd.split()[0]) if x),
                     line=block.line)
        return
    for text in _fence_commands(block) or []:
        _chunks(proc, fence.chunks(text), label, block.line)


def _chunks(proc: Procedure, chunks: list[fence.Chunk], label: str, line: int) -> None:
    options = [c for c in chunks if c.option]
    choose = ""
    for chunk in chunks:
        title = " — ".join(x for x in (label, chunk.label, chunk.title) if x)
        when = ""
        if chunk.option and len(options) > 1:
            if not choose:
                choose = _choice_step(proc, options, label, line)
            when = f"steps.{choose}.result.fields.option == '{chunk.option}'"
        before = len(proc.steps)
        at = line + chunk.line + 1
        shell_run: list[str] = []
        for command in chunk.commands:
            draft = translate(command, proc.ctx)
            if draft.kind == "shell":
                shell_run.append(command)
                continue
            _flush(proc, shell_run, title, when, at)
            _add(proc, draft, title, when=when, line=at)
        _flush(proc, shell_run, title, when, at)
        notes = "\n".join(f"- {n}" for n in chunk.notes)
        if len(proc.steps) > before:
            proc.steps[before].description = notes
            if chunk.text:
                proc.steps[before].draft.reviews.append(
                    "the document shows text that is not a command (kept in the description)")
                proc.steps[before].description += "\n\n```\n" + "\n".join(chunk.text) + "\n```"
        elif chunk.notes or chunk.checklist or chunk.text or chunk.title:
            body: dict[str, Any] = {"instructions": chunk.title or "Do the following."}
            extra = "\n".join(chunk.text)
            if chunk.notes and chunk.checklist:
                body["instructions"] += "\n\n" + notes
            if extra:
                body["instructions"] += "\n\n```\n" + extra + "\n```"
            items = chunk.checklist or (chunk.notes if not chunk.checklist else [])
            if items:
                body["checklist"] = items
            _add(proc, Draft("manual", body), title or "Read", when=when,
                 line=line + chunk.line + 1)


def _flush(proc: Procedure, run: list[str], title: str, when: str, line: int) -> None:
    """Consecutive plain shell commands of one chunk as one shell step (bash -e stops it at
    the first that fails)."""
    if not run:
        return
    draft = translate("\n".join(run), proc.ctx)
    if len(run) > 1:
        draft.reviews.append(f"{len(run)} commands run as one step; the first that fails stops it")
    _add(proc, draft, title, when=when, line=line)
    run.clear()


def _choice_step(proc: Procedure, options: list[fence.Chunk], label: str, line: int) -> str:
    listing = "\n".join(f"- {c.option}: {c.title}" for c in options)
    draft = Draft("manual", {
        "instructions": f"The document gives {len(options)} alternatives; choose one:\n\n{listing}",
        "record": [{"name": "option", "choices": [c.option for c in options]}]},
        reviews=["the document lists alternatives (Option 1, 2, ...); only the chosen one runs"])
    _add(proc, draft, " — ".join(x for x in (label, "Choose an option") if x), line=line)
    return f"@{len(proc.steps) - 1}@"  # the choice step's index; runbook.py puts its id here


def _sql_statements(content: str) -> Iterator[tuple[str, str]]:
    """A SQL fence split at `-- comment` headings, so each titled query is one step."""
    title, body = "", []
    for line in content.splitlines():
        if line.strip().startswith("--") and not body:
            title = title or line.strip().lstrip("-").strip()
            continue
        if line.strip().startswith("--") and body:
            yield title, "\n".join(body).strip().rstrip(";")
            title, body = line.strip().lstrip("-").strip(), []
            continue
        if line.strip() or body:
            body.append(line)
    if "\n".join(body).strip():
        yield title, "\n".join(body).strip().rstrip(";")


def _first_line(text: str) -> str:
    line = text.split("\n", 1)[0]
    if _inline_command(line):
        line = re.sub(r"`[^`]*`", "", line)
    return re.sub(r"[*_`]", "", line).strip().rstrip(":").strip()


def _inline_command(text: str) -> str:
    spans = re.findall(r"`([^`]+)`", text)
    if len(spans) != 1:
        return ""
    word = spans[0].split()[0] if spans[0].split() else ""
    return spans[0] if word in _KNOWN_CLI or (text.lower().startswith(("run", "execute"))
                                             and " " in spans[0]) else ""

