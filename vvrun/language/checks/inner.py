"""A value templated into a string that another program reads again (a warning).

vvrun quotes a value for the shell that runs the step (`templates/shell_context.py`). A string
handed on — `ssh host "…"`, `bash -c "…"`, `eval "…"`, `python -c "…"`, `psql -c "…"` — is read
a second time by the remote shell, the inner shell, Python or SQL, and that reading knows
nothing of the first quoting: `x; rm -rf ~` is text to bash and a command to the remote shell,
`x' OR '1'='1` is text to bash and SQL to psql. The safe spellings are an environment variable
(`env:`) read by the inner program, or the step type that binds values (`sql`).
"""

from __future__ import annotations

import re
import shlex

from vvrun.language.checks.context import Checker, Path
from vvrun.language.model import Step
from vvrun.language.templates.shell_context import ANSI, DOUBLE, SINGLE, contexts

_VALUE = re.compile(r"\{\{.*?\}\}", re.S)
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash"})
_LANGUAGES = {"python": "-c", "python3": "-c", "perl": "-e", "ruby": "-e", "node": "-e",
              "php": "-r"}
_SQL = {"psql": ("-c", "--command"), "mysql": ("-e", "--execute"),
        "sqlite3": ()}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_ENV_HINT = "pass the value in the step's `env:` and read it as \"$NAME\" in the inner script"


def inner_readers(c: Checker, at: Path, step: Step) -> None:
    if step.type != "shell":
        return
    path = c.shell_command(at)
    text: str = step.spec.run
    marks = [m.span() for m in _VALUE.finditer(text)]
    for (start, _end), place in zip(marks, contexts(text, marks), strict=True):
        if place not in (DOUBLE, SINGLE, ANSI):
            continue
        who = _reader(_words_before(text, start))
        if who is None:
            continue
        reader, then = who
        c.add(f"{text[start:_end]} is quoted for this step's shell, but {reader} reads the "
              "string again: a value with a quote or a `;` changes what it runs", path,
              code="shell-inner", severity="warning", offset=start, hint=then)


def _words_before(text: str, at: int) -> list[str]:
    """The words of the simple command that the quoted string at `at` belongs to, up to that
    string (its own text left out)."""
    start, quote = 0, None
    opened = 0
    i = 0
    while i < at:
        ch = text[i]
        if quote is None:
            if ch in "'\"":
                quote, opened = ch, i
            elif ch == "\\":
                i += 1
            elif ch in ";|&\n(`":
                start = i + 1
        elif ch == quote:
            quote = None
        elif ch == "\\" and quote == '"':
            i += 1
        i += 1
    head = text[start:opened if quote is not None else at]
    try:
        return shlex.split(head, comments=False)
    except ValueError:
        return head.split()


def _reader(words: list[str]) -> tuple[str, str] | None:
    """Who reads the string again, and what to do instead; None for an ordinary argument.
    Any word before the string counts (`sudo`, `timeout 5`, `kubectl exec pod --` in front
    change nothing)."""
    names = [w.rsplit("/", 1)[-1] for w in words if not _ASSIGNMENT.match(w)]
    for n, name in enumerate(names):
        rest = names[n + 1:]
        if name == "ssh":
            return "the remote shell", ("run it on the host with an ssh connection and the "
                                        "step's `on:` (vvrun quotes for the remote shell)")
        if name == "eval" or (name in _SHELLS and "-c" in rest) or (name == "su"
                                                                     and "-c" in rest):
            return f"`{name}`", _ENV_HINT
        if name in _LANGUAGES and _LANGUAGES[name] in rest:
            return f"`{name}`", ("pass the value in `env:` and read it from the environment "
                                 "(`os.environ[\"NAME\"]` in Python)")
        if name in _SQL and (not _SQL[name] or any(o in rest for o in _SQL[name])):
            return f"`{name}` (as SQL)", ("use a `sql` step: its values are bound parameters, "
                                          "never SQL text")
    return None
