"""Markdown text → a tree of sections, each holding its blocks (paragraphs, fences, lists).

markdown-it-py (CommonMark, already installed with rich) does the parsing: fences inside list
items, setext headings, lazy continuation lines and the like are where hand-written readers go
wrong. It is imported here only, inside `read_sections`, so `vvrun --help` never loads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Item:
    """One list item: its first line of text and what is nested under it."""

    text: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Block:
    """A paragraph, fence, list, table or anything else, with its source Markdown."""

    kind: str  # "para" | "fence" | "list" | "table" | "other"
    source: str  # the Markdown as written, dedented
    line: int  # 1-based line where it starts
    lang: str = ""  # fence info word, lower case
    content: str = ""  # fence body or paragraph text
    ordered: bool = False
    items: list[Item] = field(default_factory=list)


@dataclass
class Section:
    title: str
    level: int
    line: int
    blocks: list[Block] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)


def read_sections(text: str) -> Section:
    """The document as a root section (level 0) holding every heading as a nested section."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    lines = text.splitlines()
    root = Section("", 0, 1)
    stack = [root]
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open":
            level = int(tok.tag[1])
            section = Section(tokens[i + 1].content.strip(), level, tok.map[0] + 1)
            while stack[-1].level >= level:
                stack.pop()
            stack[-1].children.append(section)
            stack.append(section)
            i += 3
            continue
        block, i = _block(tokens, i, lines)
        if block is not None:
            stack[-1].blocks.append(block)
    return root


def _close(tokens: list[Any], i: int) -> int:
    """Index just past the token that closes the one opened at `i`."""
    depth = 0
    for j in range(i, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j + 1
    return len(tokens)


def _source(tok: Any, lines: list[str]) -> str:
    if not tok.map:
        return tok.content
    chunk = lines[tok.map[0]:tok.map[1]]
    indent = min((len(x) - len(x.lstrip()) for x in chunk if x.strip()), default=0)
    return "\n".join(x[indent:] for x in chunk).strip("\n")


def _block(tokens: list[Any], i: int, lines: list[str]) -> tuple[Block | None, int]:
    tok = tokens[i]
    end = _close(tokens, i) if tok.nesting == 1 else i + 1
    line = (tok.map[0] + 1) if tok.map else 0
    if tok.type in ("fence", "code_block"):
        lang = tok.info.strip().split()[0].lower() if tok.info.strip() else ""
        return Block("fence", _source(tok, lines), line, lang=lang, content=tok.content), end
    if tok.type == "paragraph_open":
        return Block("para", _source(tok, lines), line, content=tokens[i + 1].content), end
    if tok.type in ("bullet_list_open", "ordered_list_open"):
        block = Block("list", _source(tok, lines), line, ordered=tok.type.startswith("ordered"))
        block.items = _items(tokens, i + 1, end - 1, lines)
        return block, end
    if tok.type == "table_open":
        return Block("table", _source(tok, lines), line), end
    if tok.type == "hr":
        return None, end
    return Block("other", _source(tok, lines), line), end


def _items(tokens: list[Any], i: int, end: int, lines: list[str]) -> list[Item]:
    items = []
    while i < end:
        stop = _close(tokens, i)
        item = Item("")
        j = i + 1
        while j < stop - 1:
            block, j = _block(tokens, j, lines)
            if block is None:
                continue
            if block.kind == "para" and not item.text and not item.blocks:
                item.text = block.content.strip()
            else:
                item.blocks.append(block)
        items.append(item)
        i = stop
    return items
