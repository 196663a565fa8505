"""The runbooks `serve` offers: loaded from `--runbooks DIR`, with their docs and schedules.

This is the one module of `vvrun.web` that imports the language front end (`load_runbook`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from vvrun.errors import VvrunError


@dataclass(frozen=True)
class Entry:
    path: str
    name: str
    runbook: Any | None  # vvrun.language.model.Runbook, None when the file does not load
    error: str | None = None
    schedule: dict[str, str] | None = None  # {"cron": ..., "timezone": ...}

    @property
    def title(self) -> str:
        return self.runbook.title if self.runbook else self.name


_cache: dict[str, tuple[float, Entry]] = {}


def load_runbook(path: str) -> Any:
    from vvrun.language import load_runbook as _load

    return _load(path)


def runbook_files(directory: str) -> list[str]:
    names = sorted(n for n in os.listdir(directory) if n.endswith((".yaml", ".yml")))
    return [os.path.abspath(os.path.join(directory, n)) for n in names]


def raw_schedule(path: str) -> dict[str, str] | None:
    """`schedule:` read from the YAML itself, as a string or {cron, timezone}."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    value = data.get("schedule") if isinstance(data, dict) else None
    if isinstance(value, str):
        return {"cron": value, "timezone": "UTC"}
    if isinstance(value, dict) and isinstance(value.get("cron"), str):
        return {"cron": value["cron"], "timezone": str(value.get("timezone") or "UTC")}
    return None


def entry(path: str) -> Entry:
    """One runbook file, cached until it changes on disk."""
    try:
        mtime = os.stat(path).st_mtime
    except OSError as exc:
        return Entry(path, os.path.basename(path), None, f"cannot read: {exc.strerror}")
    cached = _cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    schedule = raw_schedule(path)
    try:
        book = load_runbook(path)
        when = book.schedule
        found = Entry(path, book.name, book, None,
                      {"cron": when.cron, "timezone": when.timezone} if when else None)
    except VvrunError as exc:
        stem = os.path.splitext(os.path.basename(path))[0]
        found = Entry(path, stem, None, exc.format(), schedule)
    _cache[path] = (mtime, found)
    return found


def catalogue(directory: str) -> list[Entry]:
    return [entry(p) for p in runbook_files(directory)]


def find(directory: str, name: str) -> Entry | None:
    return next((e for e in catalogue(directory) if e.name == name), None)


def markdown_html(text: str) -> str:
    """Markdown to HTML with raw HTML disabled: runbook text cannot inject markup."""
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark", {"html": False}).enable("table").render(text))


def docs_html(item: Entry) -> str:
    from vvrun.ui.markdown import render_runbook_doc

    if item.runbook is None:
        return ""
    # the file's name in the catalogue's directory: the server's own paths are not the
    # reader's business, and `source` is a name, never the file's contents
    doc = render_runbook_doc(item.runbook, os.path.basename(item.path))
    # the first block is the "generated, do not edit" comment for a `.md` file in a
    # repository; with raw HTML off it would show on the page as text
    head, _, rest = doc.partition("\n\n")
    return markdown_html(rest if head.startswith("<!--") else doc)
