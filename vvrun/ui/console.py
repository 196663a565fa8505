"""What the operator sees (SPEC §5.3): a header per step with the rendered action, live
progress, the outcome and its duration, and a summary table at the end.

rich is imported inside the sink, so `plan` and `validate` never load it. Every text from an
event is printed as plain `Text`, never as rich markup: SQL like `ARRAY[1]` or a shell test
`[ -f x ]` must come out as written. Values arrive already masked (see vvrun/events.py).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO

from vvrun.events import Event
from vvrun.text.durations import format_duration

MAX_ROWS = 20  # rows of a result table shown; the rest are counted
MAX_LINES = 20  # lines of a JSON or text excerpt
MAX_CELL = 60  # characters of one table cell
PLAIN_WIDTH = 100  # width when not at a terminal: logs wrap at this, not at $COLUMNS
_LEXERS = {"sql": "postgresql", "bash": "bash", "http": "http", "text": "text"}
_ICONS = {"succeeded": "✓", "failed": "✗", "skipped": "↷", "paused": "⏸", "aborted": "■",
          "interrupted": "⚡", "running": "…", "uncertain": "?"}
_STYLES = {"succeeded": "green", "failed": "red", "skipped": "dim", "paused": "yellow",
           "aborted": "red", "interrupted": "yellow", "uncertain": "yellow"}
_TRAILING = re.compile(r"[ \t]+\n")
_LIVE_TYPES = frozenset({"sql", "redis", "http", "shell"})  # confirm/manual prompt instead


def _excerpt(value: Any, lines: int = MAX_LINES) -> str:
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
        if len(text) > 100:  # one short line reads best; a big document needs its shape
            text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    parts = text.splitlines()
    if len(parts) > lines:
        parts = [*parts[:lines], f"… {len(parts) - lines} more lines"]
    return "\n".join(p if len(p) <= 200 else p[:199] + "…" for p in parts)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    text = value if isinstance(value, str) else json.dumps(value, default=str,
                                                           ensure_ascii=False)
    text = text.replace("\n", "⏎")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


class _TrimLines:
    """A file that drops the spaces rich pads lines with: logs should not end lines in
    blanks."""

    def __init__(self, file: TextIO):
        self.file = file

    def write(self, text: str) -> int:
        self.file.write(_TRAILING.sub("\n", text))
        return len(text)

    def flush(self) -> None:
        self.file.flush()


class TerminalSink:
    """Renders run events for a person. `color`: ANSI styles (False: plain text, for NO_COLOR
    and files); `interactive`: a live status line with the elapsed time and progress bars
    (only with colour, as it needs cursor control); `width`: fixed width (default: the
    terminal's, or PLAIN_WIDTH when not interactive)."""

    def __init__(self, file: TextIO, *, color: bool, interactive: bool,
                 width: int | None = None):
        from rich.console import Console

        self.console = Console(
            file=file if interactive and color else _TrimLines(file),
            force_terminal=color, color_system="auto" if color else None,
            no_color=not color, width=width or (None if interactive else PLAIN_WIDTH),
            highlight=False, emoji=False, force_interactive=interactive and color)
        self.live_enabled = interactive and color
        self.interactive = interactive
        self._lock = threading.RLock()
        self._live: Any = None
        self._watch: Any = None
        self._task: Any = None
        self._types: dict[str, str] = {}
        self._started_ts: float | None = None
        self._last_progress: dict[str, float] = {}
        self.showed_error = False  # the run's error is on screen: the edge need not repeat it

    # -- plumbing --------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is None:
            return  # kinds this view does not show (the JSON output has them all)
        with self._lock:
            handler(event.data, event.ts)

    def pause(self) -> None:
        """Stop the live display (before a prompt); the next step starts a new one."""
        with self._lock:
            if self._live is not None:
                self._live.stop()
                self._live = self._task = None
            if self._watch is not None:
                self._watch.stop()  # the last redraw stays on the screen
                self._watch = None

    def _print(self, text: str, style: str = "", indent: int = 0) -> None:
        from rich.text import Text

        for line in text.splitlines() or [""]:
            self.console.print(Text(" " * indent + line, style=style), soft_wrap=True)

    def _block(self, renderable: Any, indent: int = 2) -> None:
        from rich.padding import Padding

        self.console.print(Padding(renderable, (0, 0, 0, indent), expand=False))

    # -- run -------------------------------------------------------------------------------

    def _on_run_started(self, d: Mapping[str, Any], ts: float) -> None:
        from rich.markdown import Markdown
        from rich.rule import Rule
        from rich.text import Text

        self._started_ts = ts or None
        title = d.get("title") or d.get("runbook") or "runbook"
        self.console.print(Rule(Text(f"{title} ({d.get('runbook', '')})", style="bold")))
        facts = [f"run {d.get('run_id', '?')}"]
        if d.get("operator"):
            facts.append(f"operator {d['operator']}")
        if d.get("resumed"):
            facts.append("resumed")
        self._print(" · ".join(facts), "dim")
        if d.get("description"):
            self._block(Markdown(str(d["description"])), 0)
        inputs = d.get("inputs") or {}
        if inputs:
            self._print("inputs: " + ", ".join(f"{k}={_cell(v)}" for k, v in inputs.items()),
                        "dim")

    def _on_run_ended(self, d: Mapping[str, Any], ts: float) -> None:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        self.pause()
        steps = d.get("steps") or []
        self.console.print()
        if steps:
            table = Table(box=box.SIMPLE_HEAD, title="Summary", title_justify="left",
                          show_edge=False)
            for name, justify in (("#", "right"), ("step", "left"), ("status", "left"),
                                  ("duration", "right"), ("note", "left")):
                table.add_column(name, justify=justify)  # type: ignore[arg-type]
            for i, s in enumerate(steps, 1):
                status = str(s.get("status", ""))
                error = str(s.get("error") or "").strip().splitlines()
                table.add_row(
                    Text(str(i)), Text(str(s.get("step_id", ""))),
                    Text(f"{_ICONS.get(status, ' ')} {status}", style=_STYLES.get(status, "")),
                    Text(format_duration(s.get("duration"))),
                    Text(_cell(error[0]) if error else ""))
            self.console.print(table)
        status = str(d.get("status", ""))
        total = (ts - self._started_ts) if ts and self._started_ts else None
        line = f"{_ICONS.get(status, '')} run {d.get('run_id', '')} {status}"
        if total is not None:
            line += f" in {format_duration(total)}"
        line += f" (exit {d.get('exit_code', 0)})"
        self._print(line, "bold " + _STYLES.get(status, ""))
        if d.get("error"):
            self._print(str(d["error"]), _STYLES.get(status, ""), indent=2)
            # at a terminal the person has just read it; a log or a pipe still wants stderr's
            self.showed_error = self.interactive
        if status in ("paused", "interrupted", "failed"):
            self._print(f"resume with `vvrun resume {d.get('run_id', '')}`", "dim", indent=2)

    # -- steps -----------------------------------------------------------------------------

    def _on_step_started(self, d: Mapping[str, Any], ts: float) -> None:
        from rich.text import Text

        self.pause()
        step_id = str(d.get("step_id", ""))
        type_ = str(d.get("type", ""))
        self._types[step_id] = type_
        header = Text()
        if d.get("index") is not None:
            header.append(f"[{d['index']}/{d.get('total', '?')}] ", style="dim")
        header.append(f"{type_} ", style="cyan")
        header.append(step_id, style="bold")
        if d.get("title"):
            header.append(f" — {d['title']}")
        item = d.get("item")
        if isinstance(item, Mapping):
            header.append(f" (item {item.get('index')}/{item.get('total')})", style="dim")
        if (d.get("attempt") or 1) > 1:
            header.append(f" (attempt {d['attempt']})", style="yellow")
        if d.get("danger"):
            header.append("  ⚠ DANGER", style="bold red")
        self.console.print()
        self.console.print(header, soft_wrap=True)
        if d.get("description"):
            from rich.markdown import Markdown

            self._block(Markdown(str(d["description"])))
        if d.get("target"):
            self._print(f"on {d['target']}", "dim", indent=2)
        self._show_action(d)
        if self.live_enabled and type_ in _LIVE_TYPES:
            self._start_live(step_id)

    def _show_action(self, d: Mapping[str, Any]) -> None:
        body = str(d.get("body") or "").rstrip()
        language = str(d.get("language") or "text")
        if not body:
            body = str(d.get("summary") or "")
            language = "text" if language == "markdown" else language
        if body:
            if language == "markdown":
                from rich.markdown import Markdown

                self._block(Markdown(body), 4)
            elif self.live_enabled or self.console.color_system:
                from rich.syntax import Syntax

                self._block(Syntax(body, _LEXERS.get(language, "text"), theme="ansi_dark",
                                   background_color="default", word_wrap=True), 4)
            else:
                self._print(("$ " if language == "bash" else "") + body, indent=4)
        params = d.get("params") or ()
        if params:
            self._print("params: " + ", ".join(f"${i} = {v!r}" for i, v in enumerate(params, 1)),
                        "dim", indent=4)
        for note in d.get("notes") or ():
            self._print(f"· {note}", "dim", indent=4)

    def _start_live(self, step_id: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            Task,
            TextColumn,
        )
        from rich.text import Text

        class Elapsed(ProgressColumn):  # the run's one duration format, not rich's 0:00:05
            def render(self, task: Task) -> Text:
                return Text(format_duration(task.elapsed or 0.0), style="progress.elapsed")

        self._live = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                              MofNCompleteColumn(), Elapsed(),
                              console=self.console, transient=True)
        self._task = self._live.add_task(f"running {step_id}", total=None)
        self._live.start()

    def _on_step_output(self, d: Mapping[str, Any], ts: float) -> None:
        stream = d.get("stream", "stdout")
        text = str(d.get("text", ""))
        if stream == "status":  # what a step is doing now: the live line, or one dim line
            if self._live is not None:
                self._live.update(self._task, description=text)
            else:
                self._print(f"  … {text}", "dim")
        elif stream == "watch":  # a watched step's latest result: redrawn in place
            self._show_watch(text, ts)
        elif stream == "stderr":
            self._print("  ! " + text, "red")
        else:
            self._print("  │ " + text)

    def _show_watch(self, text: str, ts: float) -> None:
        from rich.padding import Padding
        from rich.text import Text

        stamp = time.strftime("%H:%M:%S", time.localtime(ts)) if ts else ""
        if not self.live_enabled:
            self._print(f"  ⟳ {stamp}".rstrip(), "dim")
            self._print(text, indent=4)
            return
        from rich.console import Group
        from rich.live import Live

        view = Group(Text(f"  ⟳ {stamp} (Enter to stop watching)", style="dim"),
                     Padding(Text(text), (0, 0, 0, 4)))
        if self._watch is None:
            self.pause()
            self._watch = Live(view, console=self.console, auto_refresh=False)
            self._watch.start()
        self._watch.update(view, refresh=True)

    def _on_step_progress(self, d: Mapping[str, Any], ts: float) -> None:
        done = int(d.get("done") or 0)
        total = d.get("total")
        label = str(d.get("label") or "")
        if self._live is not None:
            self._live.update(self._task, completed=done, total=total,
                              description=label or f"running {d.get('step_id', '')}")
            return
        # Without a live display, a line at each quarter (or each doubling when the total is
        # unknown) says it is moving without flooding a log.
        key = str(d.get("step_id", ""))
        last = self._last_progress.get(key, -1.0)
        if total:
            mark = min(4.0, float(int(4 * done / total)))
            if mark <= last and done < total:
                return
            self._last_progress[key] = mark
            text = f"{done}/{total} ({100 * done // total}%)"
        else:
            if last >= 0 and done < 2 * last:
                return
            self._last_progress[key] = float(max(done, 1))
            text = str(done)
        self._print(f"  … {label + ' ' if label else ''}{text}", "dim")

    def _on_step_retry(self, d: Mapping[str, Any], ts: float) -> None:
        self.pause()
        error = str(d.get("error") or "").strip().splitlines()
        delay = d.get("delay")
        when = f" in {format_duration(delay)}" if delay else " now"
        self._print(f"  ↻ {error[0] if error else 'failed'}; attempt {d.get('attempt', '?')}"
                    f"{when}", "yellow")

    def _on_step_skipped(self, d: Mapping[str, Any], ts: float) -> None:
        self.pause()
        reason = d.get("reason")
        self._print(f"↷ {d.get('step_id', '')} skipped" + (f" — {reason}" if reason else ""),
                    "dim")

    def _on_step_ended(self, d: Mapping[str, Any], ts: float) -> None:
        self.pause()
        step_id = str(d.get("step_id", ""))
        status = str(d.get("status", ""))
        result = d.get("result") or {}
        if isinstance(result, Mapping) and result:
            self._show_result(self._types.get(step_id, ""), result)
        outputs = d.get("outputs") or {}
        for name, value in outputs.items():
            self._print(f"output {name} = {_cell(value)}", "dim", indent=2)
        line = f"{_ICONS.get(status, '')} {status}"
        if d.get("duration") is not None:
            line += f" in {format_duration(d['duration'])}"
        self._print(line, _STYLES.get(status, ""), indent=2)
        if d.get("error"):
            self._print(str(d["error"]), _STYLES.get(status, "red"), indent=4)

    # -- results by type -------------------------------------------------------------------

    def _show_result(self, type_: str, r: Mapping[str, Any]) -> None:
        if "items" in r and isinstance(r["items"], list):
            self._print(f"{len(r['items'])} items", indent=2)
        elif type_ == "sql" or "columns" in r:
            self._show_sql(r)
        elif type_ == "http" or ("status" in r and "elapsed_ms" in r):
            self._show_http(r)
        elif type_ == "shell" or "exit_code" in r:
            self._print(f"exit code {r.get('exit_code')}", indent=2)
        elif type_ == "confirm" or "confirmed" in r:
            self._print("confirmed" if r.get("confirmed") else "not confirmed", indent=2)
        elif type_ == "manual" or "acknowledged" in r:
            self._show_manual(r)
        elif "deleted" in r:
            self._print(f"scanned {r.get('scanned', '?')}, deleted {r['deleted']}", indent=2)
        elif "value" in r:
            self._print(_excerpt(r["value"]), indent=2)
        else:
            self._print(_excerpt(dict(r)), indent=2)

    def _show_sql(self, r: Mapping[str, Any]) -> None:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        rows = r.get("rows") or []
        columns = list(r.get("columns") or (rows[0].keys() if rows else []))
        if columns and rows:
            table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
            for c in columns:
                table.add_column(Text(str(c)), overflow="fold")
            for row in rows[:MAX_ROWS]:
                values = [row.get(c) for c in columns] if isinstance(row, Mapping) else row
                table.add_row(*(Text(_cell(v), style="dim" if v is None else "")
                                for v in values))
            self._block(table)
        count = r.get("rowcount")
        count = len(rows) if count is None or count < 0 else count
        more = max(count, len(rows)) - min(len(rows), MAX_ROWS)
        if columns and more > 0:
            self._print(f"… {more} more rows", "dim", indent=2)
        facts = []
        if columns:
            facts.append(f"({count} row{'s' if count != 1 else ''})")
        if r.get("status"):
            facts.append(str(r["status"]))
        if facts:
            self._print(" ".join(facts), indent=2)

    def _show_http(self, r: Mapping[str, Any]) -> None:
        line = f"HTTP {r.get('status')} {r.get('reason') or ''}".rstrip()
        if r.get("elapsed_ms") is not None:
            line += f" · {format_duration(r['elapsed_ms'] / 1000)}"
        if r.get("url"):
            line += f" · {r['url']}"
        self._print(line, indent=2)
        if r.get("json") is not None:
            self._print(_excerpt(r["json"]), indent=4)
        elif r.get("text"):
            self._print(_excerpt(str(r["text"])), indent=4)

    def _show_manual(self, r: Mapping[str, Any]) -> None:
        self._print("acknowledged" if r.get("acknowledged") else "not acknowledged", indent=2)
        for item in r.get("checklist") or ():
            self._print(f"[x] {item}", indent=4)
        for name, value in (r.get("fields") or {}).items():
            self._print(f"{name} = {_cell(value)}", indent=4)
        if r.get("notes"):
            self._print(f"notes: {r['notes']}", indent=4)
        if r.get("verified") is not None:
            self._print("verified" if r["verified"] else "not verified", indent=4)
