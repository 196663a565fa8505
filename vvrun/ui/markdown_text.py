"""Runbook-authored text put into a Markdown document without letting it change the document.

A plan in a pull request and a `vvrun docs` page are read by a reviewer who trusts their
structure: every step has its heading, its danger box and its command. The text inside comes
from the runbook's author, who may be the very person the review is meant to catch. Left as it
is, one step's `<!--` comments out the next steps, an unclosed ``` fence turns the rest of the
document into code, `<details>` folds it away, a `[!caution]: …` reference turns the danger box
into a link, and a `#### 3.` line fakes a step boundary.

So every piece of authored text goes through one of:

- `inline` (titles, notes, prompts, values in prose): one line; raw HTML and character
  references neutralised; backticks that open no code span escaped, so they cannot pair with the
  renderer's own code spans later on the line;
- `block` (descriptions, manual instructions): Markdown that stays Markdown (lists, emphasis,
  links, code), with raw HTML and character references neutralised, headings and link reference
  definitions made literal, and an unclosed fence closed; then *checked* with a CommonMark parser
  (markdown-it, the one `vvrun import` uses), and shown literally in a fence when the check fails;
- `code` and `fence`, for values and commands shown as written.

Control and bidirectional characters are shown as their escapes, as on a terminal
(`vvrun.text.controls`), and so are characters that a reference such as `&#x202e;` would
produce.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from vvrun.text.controls import visible

# ASCII punctuation: what a backslash can escape in CommonMark
_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# `<` that may open raw HTML (a tag, a closing tag, a comment, `<!X`, `<?`, CDATA) or an autolink
_HTML_START = re.compile(r"<(?=[A-Za-z/!?])")
# `&` that starts a character reference, which would be decoded (`&#x202e;` is a bidi override)
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});")
_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
# container markers (blockquote, list items) that may come before a block's first character
_PREFIX = r"^((?:[ \t>]|[-+*][ \t]|\d{1,9}[.)][ \t])*)"
_ATX = re.compile(_PREFIX + r"#")
_SETEXT = re.compile(_PREFIX + r"([=-])")
_REFDEF = re.compile(_PREFIX + r"\[")
# inline text that needs a parser's look: code spans, escapes, HTML, references, or a start
# that a line-start position would read as a block (heading, quote, list, fence, table…)
_RISKY = re.compile(r"[`\\<&]|^\s*(?:[#>*+=~|_-]|\d{1,9}[.)])")
_SENTINEL = "#### vvrun-sentinel"


@lru_cache(maxsize=1)
def _parser() -> Any:
    # html on: the check must see HTML where GitHub would; table: GitHub's tables end blocks too
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


# -- the pieces ------------------------------------------------------------------------------


def code(text: str) -> str:
    """Inline code that survives backticks in `text`."""
    text = visible(str(text)).replace("\n", " ")
    runs = [len(r) for r in re.findall(r"`+", text)]
    ticks = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def cell(text: str) -> str:
    """Text made safe for one table cell: already `inline` or `code`, or the renderer's own.
    Any `|` preceded by a backslash is not a column separator, so none can add a column."""
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def fence(body: str, language: str = "") -> list[str]:
    """`body` as written, in a fence longer than any run of backticks inside it."""
    body = visible(str(body)).rstrip("\n")
    runs = [len(r) for r in re.findall(r"`{3,}", body)]
    ticks = "`" * max(3, max(runs, default=0) + 1)
    # split on line feeds only: `splitlines` would also break at U+2028 and hide it
    return [f"{ticks}{language}", *(body.split("\n") if body else []), ticks]


def literal(text: str) -> str:
    """`text` with every ASCII punctuation character escaped: no Markdown at all."""
    return "".join("\\" + c if c in _PUNCT else c for c in text)


def inline(text: str) -> str:
    """Authored text for one line of prose (a heading, a list item, a table cell)."""
    text = re.sub(r"[ \t]*\n[ \t]*", " ", visible(str(text)))
    if not _RISKY.search(text):
        return text
    safe = _neutral(text, pair_ticks=True)
    tokens = _parser().parse(safe)
    shape = [t.type for t in tokens]
    if shape == ["paragraph_open", "inline", "paragraph_close"] and _clean(tokens):
        return safe
    return literal(text)


def prose(text: str) -> str:
    """Authored text for a paragraph of the renderer's (`Asks: **…**`), its line breaks kept when
    no line can start a block or turn the paragraph into a heading or a table."""
    lines = visible(str(text)).split("\n")
    if len(lines) == 1:
        return inline(text)
    safe = [_neutral(line, pair_ticks=True) for line in lines]
    tokens = _parser().parse("\n".join(safe))
    if [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"] \
            and _clean(tokens):
        return "\n".join(safe)
    return inline(text)


def block(text: str) -> str:
    """Authored Markdown for a block of its own, followed by a blank line: kept as Markdown when
    it stays inside its block, shown literally in a fence otherwise."""
    text = visible(str(text))
    lines = _close_fence(text.split("\n"))
    lines = _unstructure(lines)
    if _contained(lines):
        return "\n".join(lines)
    return "\n".join(fence(text.strip("\n"), "text"))


def comment_text(text: str) -> str:
    """Text for inside the renderer's own `<!-- … -->`: nothing in it can end the comment."""
    text = visible(str(text))
    return text.replace("--", "-%2D").replace(">", "%3E").replace("<", "%3C").replace("\n", "%0A")


def alert(kind: str, lines: Sequence[str]) -> list[str]:
    """A GitHub alert box; `lines` are already made safe."""
    out = [f"> [!{kind}]"]
    for line in lines:
        out += [f"> {part}".rstrip() for part in line.split("\n")]
    return out


def quote(text: str) -> list[str]:
    """An authored block as a quotation."""
    return [f"> {line}".rstrip() for line in block(text.strip()).split("\n")]


# -- how --------------------------------------------------------------------------------------


def _neutral(text: str, *, pair_ticks: bool) -> str:
    """`text` with HTML openers and character references escaped, left to right as CommonMark
    reads them (a backslash escape or a code span hides them). With `pair_ticks`, a backtick run
    that closes nowhere in `text` is escaped: it could otherwise close on the renderer's text."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in _PUNCT:
            out.append(text[i:i + 2])
            i += 2
        elif c == "\\" and i + 1 == n and pair_ticks:
            out.append("\\\\")  # else it would escape what the renderer writes next
            i += 1
        elif c == "`":
            j = i
            while j < n and text[j] == "`":
                j += 1
            close = re.compile(rf"(?<!`)`{{{j - i}}}(?!`)").search(text, j)
            if close:
                out.append(text[i:close.end()])
                i = close.end()
            else:
                out.append("\\`" * (j - i) if pair_ticks else text[i:j])
                i = j
        elif (c == "<" and _HTML_START.match(text, i)) or (c == "&" and _ENTITY.match(text, i)):
            out.append("\\" + c)
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _close_fence(lines: list[str]) -> list[str]:
    """Lines with HTML neutralised outside fences, and a fence left open closed. Only a guess at
    the structure (lists can nest fences): `_contained` checks the result."""
    out: list[str] = []
    open_: tuple[str, int] | None = None
    for line in lines:
        m = _FENCE.match(line)
        if open_ is not None:
            char, size = open_
            if m and m.group(2)[0] == char and len(m.group(2)) >= size and not m.group(3).strip():
                open_ = None
            out.append(line)
        elif m and not (m.group(2)[0] == "`" and "`" in m.group(3)):
            open_ = (m.group(2)[0], len(m.group(2)))
            out.append(line)
        else:
            out.append(_neutral(line, pair_ticks=False))
    if open_ is not None:
        out.append(open_[0] * open_[1])
    return out


def _unstructure(lines: list[str]) -> list[str]:
    """Headings and link reference definitions made literal: a heading in a step's text would
    pass for a step of its own, and a definition applies to the whole document (`[!caution]:`
    would turn the renderer's danger box into a link)."""
    env: dict[str, Any] = {}
    tokens = _parser().parse("\n".join(lines), env)
    lines = list(lines)
    for t in tokens:
        if t.type != "heading_open" or t.map is None:
            continue
        if t.markup.startswith("#"):
            lines[t.map[0]] = _ATX.sub(r"\1\\#", lines[t.map[0]], count=1)
        else:  # setext: the underline is the heading's last line
            last = t.map[1] - 1
            lines[last] = _SETEXT.sub(r"\1\\\2", lines[last], count=1)
    if env.get("references"):
        lines = [_REFDEF.sub(r"\1\\[", line, count=1) if re.search(r"\]:", line) else line
                 for line in lines]
    return lines


def _contained(lines: list[str]) -> bool:
    """Whether `lines`, followed by a blank line and a heading, end before that heading, hold no
    raw HTML, no heading and no reference definition, and decode to no hidden character."""
    if lines and lines[0][:1] in (" ", "\t"):
        return False  # an indented first line could continue the list before it
    env: dict[str, Any] = {}
    tokens = _parser().parse("\n".join([*lines, "", _SENTINEL]), env)
    if env.get("references") or not _clean(tokens):
        return False
    headings = [t for t in tokens if t.type == "heading_open"]
    return (len(headings) == 1 and headings[0].level == 0
            and headings[0].map is not None and headings[0].map[0] == len(lines) + 1)


def _clean(tokens: Sequence[Any]) -> bool:
    for t in tokens:
        if t.type == "html_block":
            return False
        for child in t.children or ():
            if child.type == "html_inline" or visible(child.content) != child.content:
                return False
    return True
