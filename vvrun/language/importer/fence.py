"""A shell fence → chunks: a title (from its `# comment`), notes, commands, checklist and text.

Wiki runbooks write shell fences as commented paragraphs: `# 2. Check DNS` then the command,
blank lines between. A numbered comment or a blank line starts a new chunk; comment lines under
a title are notes; `□ item` lines are a checklist; lines that are not commands (JSON to paste,
`NAME=value` settings, expected output) are kept as text for a manual step.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

_NUMBERED = re.compile(r"^(?:step\s+)?(\d+)[.)]\s+(.*)$", re.I)
_OPTION = re.compile(r"^option\s+(\d+)\s*[:.)-]?\s*(.*)$", re.I)
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S*$")
_TEXT_START = ("{", "}", "[", "]", '"', "<", ">")
_CHECK = ("□", "☐", "[ ]", "- [ ]")


@dataclass
class Chunk:
    title: str = ""
    line: int = 0  # offset in the fence, 0-based
    numbered: bool = False
    option: str = ""  # "2" for an "Option 2: ..." alternative
    label: str = ""  # an unnumbered heading comment over numbered ones ("Production (caution!)")
    notes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    checklist: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.notes or self.commands or self.checklist or self.text)


def logical_lines(content: str) -> list[tuple[int, str]]:
    """(offset, line) with `\\` continuations and quotes spanning lines joined."""
    out: list[tuple[int, str]] = []
    raw = content.splitlines()
    i = 0
    while i < len(raw):
        start, line = i, raw[i]
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and not stripped.startswith(_CHECK):
            while i + 1 < len(raw) and (line.rstrip().endswith("\\") or not _closed(line)):
                i += 1
                line += "\n" + raw[i]
        out.append((start, line))
        i += 1
    return out


def _closed(line: str) -> bool:
    try:
        shlex.split(line, comments=True)
    except ValueError:
        return False
    return True


def is_command(line: str) -> bool:
    s = line.strip()
    return bool(s) and not s.startswith(_TEXT_START) and not _ASSIGN.match(s)


def chunks(content: str) -> list[Chunk]:
    """The chunks of a shell fence, in order."""
    out: list[Chunk] = []
    cur = Chunk()
    fresh = True  # a blank line was just seen: the next comment titles a new chunk

    def start(**kw: object) -> Chunk:
        nonlocal cur
        if not cur.empty() or cur.title:
            out.append(cur)
        cur = Chunk(**kw)  # type: ignore[arg-type]
        return cur

    for offset, line in logical_lines(content):
        s = line.strip()
        if not s:
            fresh = True
            continue
        if s.startswith("#"):
            comment = s.lstrip("#").strip()
            if not comment:
                continue
            num, opt = _NUMBERED.match(comment), _OPTION.match(comment)
            if opt:
                start(title=comment, line=offset, option=opt.group(1))
            elif num and not (cur.option and not fresh):
                label = cur.label
                if cur.title and cur.empty() and not cur.numbered:
                    label, cur.title = cur.title, ""  # it heads the numbered chunks below
                start(title=num.group(2), line=offset, numbered=True, label=label)
            elif fresh:
                start(title=comment, line=offset)
            elif not cur.title:
                cur.title, cur.line = comment, offset
            else:
                cur.notes.append(comment)
            fresh = False
            continue
        fresh = False
        if s.startswith(_CHECK):
            cur.checklist.append(s.lstrip("□☐-[] ").strip())
        elif cur.text or not is_command(s):
            cur.text.append(line.rstrip())
        else:
            cur.commands.append(line.strip())
    if not cur.empty() or cur.title:
        out.append(cur)
    return out
