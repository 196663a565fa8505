"""Write runbook YAML by hand, so `# review:` comments sit on the line before what they concern.

Every scalar is written plain only when YAML reads it back as the same string; otherwise
quoted (JSON's quoting is valid YAML) or as a literal block. `dump` checks the round trip.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

Reviews = dict[tuple[Any, ...], list[str]]  # path of a key → review notes


def _plain_ok(s: str) -> bool:
    if not s or s != s.strip() or any(ord(c) < 32 for c in s):
        return False
    try:
        return yaml.safe_load(f"k: {s}") == {"k": s}
    except yaml.YAMLError:
        return False


def scalar(value: Any, indent: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return "null"
    s = str(value)
    if "\n" in s.rstrip("\n") and not any(
            ord(c) < 32 and c not in "\n\t" for c in s) and "\r" not in s:
        chomp = "-" if not s.endswith("\n") else ("+" if s.endswith("\n\n") else "")
        ind = "2" if s[:1] in (" ", "\t") else ""
        pad = " " * (indent + 2)
        body = "\n".join(pad + line if line else "" for line in s.rstrip("\n").split("\n"))
        if chomp == "+":
            body += "\n" * (len(s) - len(s.rstrip("\n")) - 1)
        return f"|{ind}{chomp}\n{body}"
    return s if _plain_ok(s) else json.dumps(s, ensure_ascii=False)


def _comments(notes: list[str], indent: int) -> list[str]:
    pad = " " * indent
    return [f"{pad}# review: {' '.join(n.split())}" for n in notes]


def _node(value: Any, indent: int, path: tuple[Any, ...], reviews: Reviews) -> list[str]:
    """Lines of a mapping or list value written at `indent`."""
    pad = " " * indent
    out: list[str] = []
    if isinstance(value, dict):
        for key, v in value.items():
            out += _comments(reviews.get((*path, key), []), indent)
            k = scalar(str(key), indent)
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:")
                out += _node(v, indent + 2, (*path, key), reviews)
            else:
                text = _empty(v) if isinstance(v, (dict, list)) else scalar(v, indent)
                out.append(f"{pad}{k}: {text}")
        return out
    for i, v in enumerate(value):
        out += _comments(reviews.get((*path, i), []), indent)
        if isinstance(v, dict) and v:
            lines = _node(v, indent + 2, (*path, i), reviews)
            first = next(n for n, line in enumerate(lines) if not line.lstrip().startswith("#"))
            lines[first] = f"{pad}- " + lines[first][indent + 2:]
            out += lines
        elif isinstance(v, (dict, list)):
            out.append(f"{pad}- {_empty(v)}")
        else:
            out.append(f"{pad}- {scalar(v, indent)}")
    return out


def _empty(v: Any) -> str:
    return "{}" if isinstance(v, dict) else "[]"


def dump(data: dict[str, Any], reviews: Reviews, header: list[str]) -> str:
    """The YAML text of `data` with review comments; raises AssertionError if it would not
    read back as `data` (a bug here, never the user's input)."""
    lines = [*header]
    for key, value in data.items():
        if lines and key in ("inputs", "connections", "steps"):
            lines.append("")
        lines += _node({key: value}, 0, (), reviews)
    text = "\n".join(lines) + "\n"
    if yaml.safe_load(text) != data:
        raise AssertionError("the importer wrote YAML that does not read back as its data")
    return text
