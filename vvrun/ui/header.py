"""How a step announces itself: one header line that fits the width, then its target, its
action (the rendered SQL, command or request) and its parameters. Pure: styled segments and
plain lines; the console prints them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vvrun.ui.tables import clip, text_width
from vvrun.ui.values import parameters

Segment = tuple[str, str]  # text, rich style


def header(d: Mapping[str, Any], width: int) -> list[Segment]:
    """`[2/5] sql stuck — Find stuck queries  ⚠ DANGER` in one line of `width` columns."""
    parts: list[Segment] = []
    number = str(d.get("number") or "")
    if "." in number:  # a step inside a group or a called runbook: `[2.3]`, as plans number it
        parts.append((f"[{number}] ", "dim"))
    elif d.get("index") is not None:
        parts.append((f"[{d['index']}/{d.get('total', '?')}] ", "dim"))
    parts += [(f"{d.get('type', '')} ", "cyan"), (str(d.get("step_id", "")), "bold")]
    tail: list[Segment] = []
    item = d.get("item")
    if isinstance(item, Mapping):
        tail.append((f" (item {item.get('index')}/{item.get('total')})", "dim"))
    if (d.get("attempt") or 1) > 1:
        tail.append((f" (attempt {d['attempt']})", "yellow"))
    if d.get("danger"):
        tail.append(("  ⚠ DANGER", "bold red"))
    title = " ".join(str(d.get("title") or "").split())
    if title and title != " ".join(str(d.get("summary") or "").split()):
        # a title that is only the action's first line is left to the action below; a real
        # one gives way first, so that the header is one line at any width
        room = width - sum(text_width(t) for t, _ in parts + tail) - 3
        parts.append((" — " + clip(title, max(room, 8)), ""))
    return parts + tail


@dataclass
class Action:
    """A step's action as shown: where (`target`), `body` in `language`, `details` (its
    parameters) and `notes`."""

    target: str
    body: str
    language: str
    details: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> set[str]:
        """Every line the action puts on the screen (a prompt need not repeat them)."""
        texts = [self.target, self.body, *self.details]
        return {line.strip() for text in texts for line in text.splitlines() if line.strip()}


def action(d: Mapping[str, Any]) -> Action:
    body = str(d.get("body") or "").rstrip()
    language = str(d.get("language") or "text")
    if not body:
        body = str(d.get("summary") or "")
        language = "text" if language == "markdown" else language
    details = [line] if (line := parameters(d)) else []
    return Action(f"on {d['target']}" if d.get("target") else "", body, language, details,
                  [f"· {n}" for n in d.get("notes") or ()])
