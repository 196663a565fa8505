"""What updates in place at a terminal: one status line per running step (spinner, what it is
doing, attempt n/N, progress, elapsed time) and a `watch` step's latest result, redrawn.

Only used when stdout is a terminal; elsewhere the console prints plain lines instead. rich is
imported when the first line is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def stopping_text(hurried: bool, grace: float | None) -> str:
    """What a step being stopped says. `grace` None: on the live line, which must fit 60
    columns beside its spinner and clock; else a line of its own in a log, where the signal
    may have come from elsewhere (SIGTERM) and the grace is worth stating."""
    if hurried:
        return "stopping now…"
    if grace is None:
        return "stopping… (Ctrl-C again to stop it now)"
    return (f"stopping: up to {grace:g} s for it to end (Ctrl-C again, or a second signal, "
            "to stop it now)")


class StatusLine:
    """One transient line under the step's header; gone when the step ends or a prompt asks."""

    def __init__(self, console: Any, text: str):
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                  TextColumn("{task.fields[count]}", style="dim"),
                                  TimeElapsedColumn(), console=console, transient=True)
        self._attempt = ""
        self._text = text
        self._task = self._progress.add_task(text, total=None, count="")
        self._progress.start()

    @property
    def description(self) -> str:
        return str(self._progress.tasks[0].description)

    def say(self, text: str) -> None:
        self._text = text
        self._progress.update(self._task, description=self._attempt + text)

    def attempt(self, n: int, total: int | None, why: str) -> None:
        """A retry or a `retry.until` poll: the same line counts attempts, never a new one."""
        self._attempt = f"attempt {n}/{total} · " if total else f"attempt {n} · "
        self.say(why)

    def stopping(self, text: str) -> None:
        """A cancel under way: the line says so instead of the step's own words."""
        self._attempt = ""
        self.say(text)
        self._progress.update(self._task, count="")

    def progress(self, done: int, total: int | None, label: str) -> None:
        count = f"{done}/{total} ({100 * done // total}%)" if total else str(done)
        self._progress.update(self._task, count=count)
        if label:
            self.say(label)

    def stop(self) -> None:
        self._progress.stop()


class WatchView:
    """A watched step's result redrawn in the same place; the last one stays on screen."""

    def __init__(self, console: Any):
        from rich.live import Live

        self._live = Live(console=console, auto_refresh=False)
        self._live.start()

    def show(self, title: str, lines: Sequence[str], indent: int) -> None:
        from rich.console import Group
        from rich.text import Text

        view = Group(Text(title, style="dim"),
                     *(Text(" " * indent + line) for line in lines))
        self._live.update(view, refresh=True)

    def stop(self) -> None:
        self._live.stop()
