"""What the operator sees (SPEC §5.3): a header per step with its target and rendered action,
one live status line while it runs, the outcome and its duration, a summary at the end.

rich is imported inside the sink, so `plan` and `validate` never load it. Every text from an
event is printed as plain `Text`, never as rich markup: SQL like `ARRAY[1]` or a shell test
`[ -f x ]` must come out as written. Values arrive already masked (see vvrun/events.py).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from vvrun.events import Event
from vvrun.text.controls import visible_obj
from vvrun.ui.header import Action, action, header
from vvrun.ui.live import StatusLine, WatchView, stopping_text
from vvrun.ui.results import MAX_ROWS, Line, off_reason, result_lines, watch_result
from vvrun.ui.summary import ICONS, STYLES, summary_lines
from vvrun.ui.tables import clip
from vvrun.ui.tables import fold as fold_line
from vvrun.ui.values import format_duration, short

__all__ = ["MAX_ROWS", "PLAIN_WIDTH", "TerminalSink", "format_duration"]

PLAIN_WIDTH = 100  # width when not at a terminal: logs wrap at this, not at $COLUMNS
_LEXERS = {"sql": "postgresql", "bash": "bash", "http": "http", "text": "text"}
_TRAILING = re.compile(r"[ \t]+\n")
_LIVE_TYPES = frozenset({"sql", "redis", "http", "shell"})  # confirm/manual prompt instead
_PARAMS = "parameters: "
_STATUS_WORDS = {"pending": "not started"}
_GOES_ON = {"continue": " — on_failure: continue; the run goes on and will end with failures",
            "ignore": " — on_failure: ignore; the run goes on (not counted)"}


def _same_parameters(line: str, announced: set[str]) -> bool:
    """A prompt's `parameters:` line is the header's, whatever way a caller wrote the values:
    both come from the same rendered action, whose other lines must match word for word."""
    return line.startswith(_PARAMS) and any(a.startswith(_PARAMS) for a in announced)


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
    and files); `interactive`: a live status line and in-place `watch` redraws (only with
    colour, as it needs cursor control); `width`: fixed width (default: the terminal's, or
    PLAIN_WIDTH when not interactive)."""

    def __init__(self, file: TextIO, *, color: bool, interactive: bool,
                 width: int | None = None):
        from rich.console import Console

        self.console = Console(
            file=file if interactive and color else _TrimLines(file),
            force_terminal=color, color_system="auto" if color else None,
            no_color=not color, width=width or (None if interactive else PLAIN_WIDTH),
            highlight=False, emoji=False, force_interactive=interactive and color)
        self.live_enabled = interactive and color
        # rich asks the terminal for its size on every `width`; a fixed width needs no asking
        self._fixed_width = width or (None if interactive else PLAIN_WIDTH)
        self.interactive = interactive
        # plain text (files, pipes, NO_COLOR) needs none of rich's rendering for a line: a
        # direct write is the same bytes, at a tenth of the cost a step (bench: sqlout)
        self._plain: TextIO | None = None if color else self.console.file
        self._lock = threading.RLock()
        self._live: StatusLine | None = None
        self._watch: WatchView | None = None
        self._steps: dict[str, tuple[str, str]] = {}  # step id → (type, summary)
        self._announced: set[str] = set()  # lines the current step's header showed
        self._errors: set[str] = set()  # step errors already on screen
        self._started_ts: float | None = None
        self._last_progress: dict[str, float] = {}
        self._watched: set[str] = set()  # steps whose last result a watch left on screen
        self._running: str | None = None  # the step whose header is the last on screen
        self.showed_error = False  # the run's error is on screen: the edge need not repeat it

    @property
    def width(self) -> int:
        if self._fixed_width is not None:
            return self._fixed_width
        return int(self.console.width)  # the terminal's, as it is now (it may be resized)

    # -- plumbing --------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is None:
            return  # kinds this view does not show (the JSON output has them all)
        with self._lock:  # no control sequence from a value reaches the terminal
            handler(visible_obj(event.data), event.ts)

    def pause(self) -> None:
        """Stop the live display (before a prompt); the next step starts a new one."""
        with self._lock:
            if self._live is not None:
                self._live.stop()
                self._live = None
            if self._watch is not None:
                self._watch.stop()  # the last redraw stays on the screen
                self._watch = None

    def already_shown(self, detail: str) -> bool:
        """Whether every line of a prompt's `detail` is in the step's header just above: the
        prompter then asks without repeating the action (issue 15: shown once)."""
        lines = [ln.strip() for ln in detail.splitlines() if ln.strip()]
        return bool(lines) and all(ln in self._announced or _same_parameters(ln, self._announced)
                                   for ln in lines)

    def _print(self, text: str, style: str = "", indent: int = 0, fold: bool = True) -> None:
        """Lines of vvrun's own at `indent`. At a terminal they are folded at spaces to its
        width (the terminal would break a word in two); `fold=False` for a command's output,
        which is shown as it came. A log keeps each line whole, for grep."""
        lines = text.splitlines() or [""]
        if fold and self.interactive:
            room = self.width - indent
            lines = [part for line in lines for part in fold_line(line, room)]
        if self._plain is not None:
            pad = " " * indent
            self._plain.write("".join(f"{pad}{line}\n" for line in lines))
            return
        from rich.text import Text

        for line in lines:
            self.console.print(Text(" " * indent + line, style=style), soft_wrap=True)

    def _lines(self, lines: Iterable[Line]) -> None:
        for line in lines:
            self._print(line.text, line.style, line.indent)

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
        self.console.print(Rule(Text(clip(f"{title} ({d.get('runbook', '')})", self.width - 6),
                                     style="bold")))
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
            self._print("inputs: " + ", ".join(f"{k}={short(v)}" for k, v in inputs.items()),
                        "dim")

    def _on_run_ended(self, d: Mapping[str, Any], ts: float) -> None:
        self.pause()
        self.console.print()
        total = (ts - self._started_ts) if ts and self._started_ts else None
        self._lines(summary_lines(d, total, self.width))
        status = str(d.get("status", ""))
        if d.get("error"):
            if str(d["error"]).strip() not in self._errors:  # a step's error is shown already
                self._print(str(d["error"]), STYLES.get(status, ""), indent=2)
            # at a terminal the person has just read it; a log or a pipe still wants stderr's
            self.showed_error = self.interactive
        if status in ("paused", "interrupted", "failed"):
            self._print(f"resume with `vvrun resume {d.get('run_id', '')}`", "dim", indent=2)

    # -- notifications (a delivered one is quiet: it is in the audit trail) ----------------

    def _on_notification(self, d: Mapping[str, Any], ts: float) -> None:
        if d.get("ok"):
            return
        about = "step " + str(d["step"]) if d.get("step") else str(d.get("about", ""))
        tries = int(d.get("attempts") or 1)
        self._note(f"notification to {d.get('notifier')} ({d.get('service')}) about {about} "
                   f"not delivered after {tries} attempt{'s' if tries != 1 else ''}: "
                   f"{d.get('error', '')}", "yellow")

    def _on_notifier_off(self, d: Mapping[str, Any], ts: float) -> None:
        name = str(d.get("notifier", ""))
        self._note(f"notifier {name} is off for this run: "
                   f"{off_reason(name, str(d.get('reason', '')))}", "yellow")

    def _on_notification_required_failed(self, d: Mapping[str, Any], ts: float) -> None:
        self._note(f"required notification to {d.get('notifier')} failed: "
                   f"{d.get('error', '')}", "bold red")

    def _note(self, text: str, style: str) -> None:
        self.pause()
        self._print("⚠ " + " ".join(text.split()), style, indent=2)

    # -- steps -----------------------------------------------------------------------------

    def _on_step_started(self, d: Mapping[str, Any], ts: float) -> None:
        from rich.text import Text

        self.pause()
        step_id = str(d.get("step_id", ""))
        type_ = str(d.get("type", ""))
        self._steps[step_id] = (type_, str(d.get("summary") or ""))
        segments = header(d, self.width)
        if self._plain is not None:
            self._plain.write("\n" + "".join(text for text, _ in segments) + "\n")
        else:
            line = Text()
            for text, style in segments:
                line.append(text, style=style)
            self.console.print()
            self.console.print(line, soft_wrap=True)
        if d.get("description"):
            from rich.markdown import Markdown

            self._block(Markdown(str(d["description"])))
        shown = action(d)
        self._announced = shown.lines() | {str(d.get("summary") or "").strip()}
        if shown.target:
            self._print(shown.target, "dim", indent=2, fold=False)  # a URL, whole
        self._show_action(shown)
        self._running = step_id
        self._live_again(step_id)

    def _show_action(self, shown: Action) -> None:
        body, language = shown.body, shown.language
        if body:
            if language == "markdown":
                from rich.markdown import Markdown

                self._block(Markdown(body), 4)
            elif self.live_enabled or self.console.color_system:
                from rich.syntax import Syntax

                self._block(Syntax(body, _LEXERS.get(language, "text"), theme="ansi_dark",
                                   background_color="default", word_wrap=True), 4)
            else:
                # the command as it will run: never reflowed
                self._print(("$ " if language == "bash" else "") + body, indent=4, fold=False)
        for line in (*shown.details, *shown.notes):
            self._print(line, "dim", indent=4)

    def _on_confirmed(self, d: Mapping[str, Any], ts: float) -> None:
        """The operator said yes to a danger step: its status line comes back while it runs."""
        self._live_again(str(d.get("step_id", "")))

    def _on_uncertain_settled(self, d: Mapping[str, Any], ts: float) -> None:
        """A resume asked whether to run an interrupted step again: on a yes it runs, and its
        status line comes back (the question had put it away)."""
        if d.get("decision") == "rerun":
            self._live_again(str(d.get("step_id", "")))

    def _live_again(self, step_id: str) -> None:
        """The status line of the step whose header is on screen, back after a prompt or a
        note put it away; not for a step that has ended, nor over a watch's redraw."""
        type_ = self._steps.get(step_id, ("", ""))[0]
        if (self.live_enabled and self._live is None and self._watch is None
                and step_id == self._running and type_ in _LIVE_TYPES):
            self._live = StatusLine(self.console, f"running {step_id}")

    def _on_step_output(self, d: Mapping[str, Any], ts: float) -> None:
        stream = d.get("stream", "stdout")
        text = str(d.get("text", ""))
        if stream == "status":  # what a step is doing now: the live line, or one dim line
            self._live_again(str(d.get("step_id", "")))
            if self._live is not None:
                self._live.say(text)
            else:
                self._print(f"  … {text}", "dim")
        elif stream == "watch":  # a watched step's latest result: redrawn in place
            self._show_watch(d, ts)
        elif stream == "stopping":
            self._show_stopping(d)
        elif stream == "stderr":
            self._print("  ! " + text, "red", fold=False)
        else:
            self._print("  │ " + text, fold=False)

    def _show_stopping(self, d: Mapping[str, Any]) -> None:
        """A signal asked the step to stop: the grace it may take must not look like a hang,
        and the person at the terminal should know a second Ctrl-C ends the wait."""
        if self._live is not None:
            self._live.stopping(stopping_text(bool(d.get("hurried")), None))
        else:
            grace = d.get("grace")
            self._print("  … " + stopping_text(bool(d.get("hurried")),
                                              float(grace) if grace is not None else 0.0),
                        "yellow")

    def _show_watch(self, d: Mapping[str, Any], ts: float) -> None:
        step_id = str(d.get("step_id", ""))
        type_, summary = self._steps.get(step_id, ("", ""))
        result = watch_result(d)
        lines = ([ln.text for ln in result_lines(type_, result, self.width - 2, summary)]
                 if result is not None else str(d.get("text", "")).splitlines())
        stamp = time.strftime("%H:%M:%S", time.localtime(ts)) if ts else ""
        self._watched.add(step_id)
        if not self.live_enabled:
            self._print(f"  ⟳ {stamp}".rstrip(), "dim")
            for line in lines:
                self._print(line, indent=4)
            return
        if self._watch is None:
            self.pause()
            self._watch = WatchView(self.console)
        self._watch.show(f"  ⟳ {stamp} (Enter to stop watching)", lines, 4)

    def _on_step_progress(self, d: Mapping[str, Any], ts: float) -> None:
        done = int(d.get("done") or 0)
        total = d.get("total")
        label = str(d.get("label") or "")
        self._live_again(str(d.get("step_id", "")))  # after a prompt: one line, not many
        if self._live is not None:
            self._live.progress(done, total, label)
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
        error = str(d.get("error") or "").strip().splitlines()
        why = error[0] if error else "failed"
        delay = d.get("delay")
        when = f"in {format_duration(delay)}" if delay else "now"
        attempt, total = d.get("attempt", "?"), d.get("attempts")
        if self._live is not None:  # polling at a terminal: one line that counts attempts
            self._live.attempt(int(attempt) if str(attempt).isdigit() else 0, total,
                               f"{why} · next {when}")
            return
        of = f"/{total}" if total else ""
        self._print(f"  ↻ {why}; attempt {attempt}{of} {when}", "yellow")

    def _on_step_skipped(self, d: Mapping[str, Any], ts: float) -> None:
        self.pause()
        reason = d.get("reason")
        self._print(f"↷ {d.get('step_id', '')} skipped" + (f" — {reason}" if reason else ""),
                    "dim")

    def _on_step_ended(self, d: Mapping[str, Any], ts: float) -> None:
        self.pause()
        step_id = str(d.get("step_id", ""))
        if step_id == self._running:
            self._running = None
        status = str(d.get("status", ""))
        if step_id not in self._steps:  # it failed before it could start (its template)
            from rich.text import Text

            self._steps[step_id] = ("", "")
            self.console.print()
            self.console.print(Text(step_id, style="bold"), soft_wrap=True)
        result = d.get("result") or {}
        if step_id in self._watched and self.live_enabled:
            result = {}  # the watch's last redraw, on screen just above, is the result
        if isinstance(result, Mapping) and result:
            type_, summary = self._steps.get(step_id, ("", ""))
            self._lines(result_lines(type_, result, self.width, summary))
        for name, value in (d.get("outputs") or {}).items():
            self._print(f"output {name} = {short(value)}", "dim", indent=2)
        line = f"{ICONS.get(status, '')} {_STATUS_WORDS.get(status, status)}"
        if d.get("duration") is not None:
            line += f" in {format_duration(d['duration'])}"
        if status == "failed" and d.get("on_failure") in _GOES_ON:
            line += _GOES_ON[str(d["on_failure"])]
        self._print(line, STYLES.get(status, ""), indent=2)
        if d.get("error"):
            self._errors.add(str(d["error"]).strip())
            self._print(str(d["error"]), STYLES.get(status, "red"), indent=4)
