"""Option injection in shell steps: a templated value that is a whole argument of a command
(`rm {{ x }}`, `grep {{ pattern }} file`) is read as an option when it starts with `-`.

Shell quoting keeps a value one word, but not from being an option. The warning says how to
guard it: `--` before it, or a prefix (`./{{ path }}`). Quiet where the value cannot be read
as an option: after `--`, after an option that may take it (`-e {{ p }}`, `--file {{ f }}`;
`-rf` is taken as flags),
inside a word (`--flag={{ x }}`, `./{{ x }}`), or for commands that read no options from
their arguments (`echo`, `export`…).
"""

from __future__ import annotations

import re
import shlex

from vvrun.language.checks.context import Checker, Path
from vvrun.language.model import Step

_HOLE = re.compile(r"\{\{.*?\}\}", re.S)
_MARK = re.compile(r"\x00vvo(\d+)\x00")
_SEPARATORS = frozenset({";", "|", "||", "&", "&&", "(", ")", ";;", "|&", "\n"})
#: Commands whose arguments are never options (or whose options do no harm).
QUIET = frozenset({"echo", "printf", "export", "local", "declare", "readonly", "test", "[",
                   "[[", "exit", "return", "true", "false", ":", "let", "eval", "sleep",
                   "cd", "pushd", "wait", "kill", "exec", "trap"})
#: Commands that run the next word as a command (its options are theirs, not ours).
WRAPPERS = frozenset({"sudo", "env", "nice", "nohup", "time", "timeout", "xargs", "command"})
#: Interpreters: the words after their script are the script's, not theirs.
INTERPRETERS = frozenset({"node", "python", "python3", "ruby", "perl", "bash", "sh", "php"})
_REDIRECTS = frozenset({">", ">>", "<", "2>", "2>>", "&>", "<<<"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def option_words(c: Checker, at: Path, step: Step) -> None:
    if step.type != "shell":
        return
    source = step.spec.run
    if "{{" not in source:
        return
    path: Path = (*at, "shell")
    if not isinstance(c.value(path), str):
        path = (*path, "run")
    holes = list(_HOLE.finditer(source))
    for command, hole in _risky(source):
        text = holes[hole].group(0)
        if _input_cannot_dash(c, text):
            continue
        c.add(f"{text} is a whole argument of `{command}`: a value that starts with `-` "
              "would be read as an option", path, code="shell-option", severity="warning",
              offset=holes[hole].start(),
              hint="put `--` before it (after any subcommand) if the command takes it, or "
              f"prefix a path (`./{text}`); or give the input a `pattern` or `choices` that "
              "cannot start with `-`")


_INPUT_REF = re.compile(r"^\{\{-?\s*inputs\.([A-Za-z_]\w*)\s*-?\}\}$")
_DASHED = ("-", "-x", "-1", "--x", "--help", "-v1.0.0", "-rf")


def _input_cannot_dash(c: Checker, text: str) -> bool:
    """True for `{{ inputs.x }}` whose declaration rules out a leading `-`: choices that do
    not start with one, a pattern that matches none of a few dashed probes, or a number."""
    m = _INPUT_REF.match(text)
    spec = c.rb.inputs.get(m.group(1)) if m else None
    if spec is None:
        return False
    if spec.type in ("integer", "number", "boolean"):
        return True
    if spec.choices:
        return not any(str(v).startswith("-") for v in spec.choices)
    if spec.pattern:
        try:
            return not any(re.search(spec.pattern, probe) for probe in _DASHED)
        except re.error:
            return False
    return False


def _takes_value(option: str) -> bool:
    """`-e`, `--file`: an option that may take the next word as its value (`-rf` is flags)."""
    return re.fullmatch(r"-[A-Za-z]|--[A-Za-z][\w-]*", option) is not None


def _risky(source: str) -> list[tuple[str, int]]:
    """(command, index of the hole) for each templated value that stands as an option."""
    holes: list[str] = []

    def hide(m: re.Match[str]) -> str:
        holes.append(m.group(0))
        return f"\x00vvo{len(holes) - 1}\x00"

    lexer = shlex.shlex(_HOLE.sub(hide, source).replace("\n", " ; "), posix=True,
                        punctuation_chars=";&|()")
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: bash reports it better than a guess here
        return []
    found: list[tuple[str, int]] = []
    command: str | None = None
    previous = ""
    ended = False  # `--` seen: nothing after it is an option
    for token in tokens:
        if token in _SEPARATORS:
            command, previous, ended = None, "", False
            continue
        if command is None:
            if _ASSIGNMENT.match(token) or token in WRAPPERS:
                continue
            command = token
            previous = token
            continue
        m = _MARK.match(token)
        if (m is not None and not ended and not _MARK.match(command)
                and command.rsplit("/", 1)[-1] not in QUIET
                and not _takes_value(previous) and previous not in _REDIRECTS):
            found.append((command, int(m.group(1))))
        if token == "--" or (command.rsplit("/", 1)[-1] in INTERPRETERS
                             and not token.startswith("-")):
            ended = True  # `--`, or an interpreter's script: what follows is not its options
        previous = token
    return found
