"""Asking the operator: at a terminal, with no terminal (pause), and from `resume --ack`.

All three implement `vvrun.steps.base.Prompter`. The edge (`commands/run.py`) decides which
one a run gets: `TerminalPrompter` when stdin is a terminal, else `NoTerminalPrompter`, and
`AckPrompter` around either when `vvrun resume RUN --ack STEP --field k=v` answers a manual step.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from vvrun.errors import Paused, UsageError
from vvrun.text.controls import visible

TYPE_WORD_TRIES = 3  # a typo at 3 a.m. should not abort the run; a fourth wrong word does


class TerminalPrompter:
    """Asks at a real terminal with rich: questions, typed words, fields, checklists and
    Markdown instructions; secrets are read without echo.

    `console` is a rich Console or a text stream to write to (default: stderr, so that
    `--output json` on stdout stays clean); `stdin` the stream answers come from (default:
    sys.stdin). `yes=True` answers every `confirm` with yes
    (and says so) but never a typed word. `before_prompt` is called before each question so a
    live display (the console sink's spinner) can step aside. `shown(detail)` says whether a
    question's detail (the action) is already on the screen, so it is not printed twice; by
    default it is asked of the object `before_prompt` belongs to (the console sink).
    """

    def __init__(self, console: Any = None, *, stdin: TextIO | None = None, yes: bool = False,
                 before_prompt: Callable[[], None] | None = None,
                 shown: Callable[[str], bool] | None = None):
        import sys

        from rich.console import Console

        if console is None or not isinstance(console, Console):
            console = Console(file=console or sys.stderr, highlight=False)
        self.console = console
        self.stdin = stdin if stdin is not None else sys.stdin
        self.yes = yes
        self.before_prompt = before_prompt
        sink = getattr(before_prompt, "__self__", None)
        self.shown = shown or getattr(sink, "already_shown", None) or (lambda detail: False)

    # -- plumbing --------------------------------------------------------------------------

    def _quiet(self) -> None:
        # the live status line must be gone before the prompter writes anything, or the
        # question's details are glued to the spinner's line
        if self.before_prompt is not None:
            self.before_prompt()

    def _say(self, text: str, style: str = "") -> None:
        from rich.text import Text

        self._quiet()
        self.console.print(Text(visible(text), style=style), soft_wrap=True)

    def _markdown(self, text: str) -> None:
        from rich.markdown import Markdown

        self._quiet()
        self.console.print(Markdown(visible(text)))

    def _read(self, prompt: str, *, secret: bool = False) -> str:
        """One line from the operator. End of input pauses the run (resumable) rather than
        taking silence for an answer."""
        from rich.text import Text

        self._quiet()
        if secret and self._stdin_is_terminal():
            # getpass writes the prompt only once echo is off: an answer typed ahead of it
            # is never shown
            try:
                return getpass.getpass(visible(prompt), stream=self.console.file)
            except EOFError as exc:
                raise Paused("no answer: the terminal's input was closed",
                             hint="resume the run with `vvrun resume RUN`") from exc
        self.console.print(Text(visible(prompt), style="bold"), end="")
        self.console.file.flush()
        line = self.stdin.readline()
        if not line:
            self.console.print()
            raise Paused("no answer: the input was closed before the question was answered",
                         hint="resume the run with `vvrun resume RUN` at a terminal")
        if secret:
            self.console.print()
        return line.rstrip("\r\n")

    def _stdin_is_terminal(self) -> bool:
        try:
            return self.stdin.isatty()
        except (AttributeError, ValueError):
            return False

    # -- the Prompter interface ------------------------------------------------------------

    def _detail(self, detail: str) -> None:
        if detail and not self.shown(detail):
            self._say(detail)

    def confirm(self, question: str, *, default: bool = False, detail: str = "") -> bool:
        self._detail(detail)
        if self.yes:
            self._say(f"{question} yes (--yes)")
            return True
        choices = "[Y/n]" if default else "[y/N]"
        while True:
            answer = self._read(f"{question} {choices} ").strip().lower()
            if not answer:
                return default
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            self._say("Please answer y or n.", "yellow")

    def type_word(self, question: str, word: str, *, detail: str = "") -> bool:
        self._detail(detail)
        self._say(question)
        for _ in range(TYPE_WORD_TRIES):
            answer = self._read(f"Type {word} to confirm (Enter to cancel): ").strip()
            if answer == word:
                return True
            if not answer:
                return False
            self._say(f"That is not {word!r}; type it exactly.", "yellow")
        return False

    def ask(self, name: str, *, description: str = "", choices: tuple[str, ...] = (),
            pattern: str | None = None, secret: bool = False, optional: bool = False) -> str:
        from vvrun.steps.manual import RecordField, field_problem

        field = RecordField(name, description, tuple(choices), pattern, optional)
        if description:
            self._say(description, "dim")
        if optional:
            self._say("(optional: Enter leaves it empty)", "dim")
        for i, choice in enumerate(choices, 1):
            self._say(f"  {i}) {choice}")
        while True:
            answer = self._read(f"{name}: ", secret=secret)
            answer = answer if secret else answer.strip()
            if choices and answer.isdigit() and 1 <= int(answer) <= len(choices):
                answer = choices[int(answer) - 1]
            problem = field_problem(field, answer)
            if problem is None:
                return answer
            self._say(problem.replace(repr(answer), "that answer") if secret else problem,
                      "yellow")

    def checklist(self, items: tuple[str, ...]) -> list[str]:
        ticked = []
        for item in items:
            answer = self._read(f"  [ ] {item} — done? [Y/n] ").strip().lower()
            if answer in ("", "y", "yes"):
                ticked.append(item)
        return ticked

    def acknowledge(self, text: str) -> str:
        self._markdown(text)
        return self._read("Press Enter when it is done (or type a note, then Enter): ").strip()


class NoTerminalPrompter:
    """Nobody to ask: every question pauses the run (exit 3), saying what it waits for and
    how to continue."""

    def __init__(self, run_id: str | None = None):
        self.run_id = run_id or "RUN"

    def _pause(self, what: str, hint: str) -> Paused:
        return Paused(f"{what}, and there is no terminal to ask", hint=hint)

    def confirm(self, question: str, *, default: bool = False, detail: str = "") -> bool:
        raise self._pause(f"waiting for an answer to {question!r}",
                          f"run `vvrun resume {self.run_id}` at a terminal, or resume with "
                          "`--yes` to answer yes")

    def type_word(self, question: str, word: str, *, detail: str = "") -> bool:
        raise self._pause(f"waiting for the word {word!r} ({question})",
                          f"run `vvrun resume {self.run_id}` at a terminal, or resume with "
                          f"`--yes --confirm-word {word}`")

    def ask(self, name: str, *, description: str = "", choices: tuple[str, ...] = (),
            pattern: str | None = None, secret: bool = False, optional: bool = False) -> str:
        raise self._pause(f"waiting for a value for {name!r}",
                          f"`vvrun resume {self.run_id} --ack STEP --field {name}=VALUE`, or "
                          f"`vvrun resume {self.run_id}` at a terminal")

    def checklist(self, items: tuple[str, ...]) -> list[str]:
        raise self._pause("waiting for the checklist to be ticked",
                          f"`vvrun resume {self.run_id} --ack STEP`, or "
                          f"`vvrun resume {self.run_id}` at a terminal")

    def acknowledge(self, text: str) -> str:
        first = next((ln.strip("# ").strip() for ln in text.splitlines() if ln.strip()), "")
        raise self._pause(f"waiting for an operator to acknowledge: {first}",
                          f"`vvrun resume {self.run_id} --ack STEP`, or "
                          f"`vvrun resume {self.run_id}` at a terminal")


class AckPrompter:
    """Answers a manual step from `vvrun resume RUN --ack STEP --field k=v --note TEXT`:
    acknowledged, every checklist item ticked, fields from `fields`. Anything else (and a
    field not given) goes to `fallback` when there is one; a missing field with no fallback
    is a usage error that names the option to add."""

    def __init__(self, fields: Mapping[str, str], *, notes: str = "",
                 fallback: Any = None, step_id: str = "STEP"):
        self.fields = dict(fields)
        self.notes = notes
        self.fallback = fallback
        self.step_id = step_id
        self.used: set[str] = set()

    def confirm(self, question: str, *, default: bool = False, detail: str = "") -> bool:
        if self.fallback is None:
            return NoTerminalPrompter().confirm(question)  # raises Paused
        return bool(self.fallback.confirm(question, default=default, detail=detail))

    def type_word(self, question: str, word: str, *, detail: str = "") -> bool:
        if self.fallback is None:
            return NoTerminalPrompter().type_word(question, word)  # raises Paused
        return bool(self.fallback.type_word(question, word, detail=detail))

    def ask(self, name: str, *, description: str = "", choices: tuple[str, ...] = (),
            pattern: str | None = None, secret: bool = False, optional: bool = False) -> str:
        from vvrun.steps.manual import RecordField, field_problem

        field = RecordField(name, description, tuple(choices), pattern, optional)
        if name in self.fields:
            self.used.add(name)
            problem = field_problem(field, self.fields[name])
            if problem is None:
                return self.fields[name]
            if self.fallback is None:
                raise UsageError(f"--field {name}: {problem}", hint=_allowed(field))
        if self.fallback is not None:
            return str(self.fallback.ask(name, description=description, choices=choices,
                                         pattern=pattern, secret=secret, optional=optional))
        if optional:
            return ""
        example = "|".join(choices[:5]) if choices else "VALUE"
        raise UsageError(f"step '{self.step_id}' records {name!r}, and --ack did not give it",
                         hint=f"add `--field {name}={example}`")

    def checklist(self, items: tuple[str, ...]) -> list[str]:
        return list(items)

    def acknowledge(self, text: str) -> str:
        return self.notes

    def unused(self) -> list[str]:
        """`--field` names the step never asked for (most likely typos)."""
        return sorted(set(self.fields) - self.used)


def _allowed(field: Any) -> str:
    """What `--field` may say, for the hint of a refused value."""
    if field.choices:
        return f"give one of: {', '.join(field.choices)}"
    if field.pattern:
        return f"give a value matching {field.pattern}"
    return "give a value"
