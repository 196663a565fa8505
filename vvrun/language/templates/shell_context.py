"""Where a templated value lands in a shell script, and how it is quoted there.

`shlex.quote` is right only where a word starts unquoted. Written inside double quotes
(`echo "Hello {{ name }}"`) its single quotes print literally and a `"` in the value ends the
string: `x"; rm -rf ~; echo "` would run. Inside single quotes, in a heredoc, in backticks or in
a comment the same holds, each in its own way. So the script is read as bash reads it — quotes,
`$'…'`, `$( )`, backticks, comments, heredocs — and each value is escaped for the place it is in:

| context | a value becomes | a secret (passed by environment) becomes |
|---|---|---|
| a word (also inside `$( )`) | `shlex.quote(v)` | `"$VAR"` |
| `"…"` | `\\`, `$`, `` ` ``, `"` backslash-escaped | `${VAR}` |
| `'…'` | `'` + `shlex.quote(v)` + `'` (close, quote, reopen) | `'"${VAR}"'` |
| `$'…'` | `'` + `shlex.quote(v)` + `$'` | `'"${VAR}"$'` |
| backticks | `shlex.quote(v)` with `\\`, `` ` ``, `$` escaped | `"${VAR}"` |
| a heredoc that expands (`<<EOF`) | `\\`, `$`, `` ` `` escaped | `${VAR}` |
| a heredoc that does not (`<<'EOF'`) | the value, if it has no line break | refused |
| a comment | the value with its line breaks as spaces | the name only |
"""

from __future__ import annotations

import re
import shlex

WORD = "word"
DOUBLE = "double"
SINGLE = "single"
ANSI = "ansi"
BACKTICK = "backtick"
HEREDOC = "heredoc"
HEREDOC_LITERAL = "heredoc-literal"
COMMENT = "comment"
SUBST = "subst"  # `$( … )`, `( … )` and `case … esac` are command context, like WORD
PAREN = "paren"
CASE = "case"  # inside `case … esac`: a pattern's `)` closes nothing
_COMMAND = (WORD, SUBST, PAREN, CASE)
_CASE = re.compile(r"case[ \t\n]")
_ESAC = re.compile(r"esac(?=$|[ \t\n;&|)])")

_HEREDOC = re.compile(r"<<(-?)[ \t]*(?:'([^'\n]*)'|\"([^\"\n]*)\"|\\?([A-Za-z0-9_.-]+))")
_WORD_START = " \t\n;|&()<>"


class ShellContextError(ValueError):
    """A value cannot go where it was written (a line break in a quoted heredoc)."""


def contexts(text: str, marks: list[tuple[int, int]]) -> list[str]:
    """The context of each mark (a `(start, end)` span that will hold a value), read the way
    bash reads `text`. A mark counts as one ordinary word character."""
    out: list[str] = []
    stack: list[str] = [WORD]  # WORD, SUBST (`$(`) and PAREN (`(`) are all command context
    pending: list[tuple[str, bool, bool]] = []  # heredocs opened on this line: (end, -, literal)
    body: tuple[str, bool, bool] | None = None  # the heredoc whose lines are being read
    ends = dict(marks)
    i, n = 0, len(text)
    while i < n:
        if i in ends:
            out.append((HEREDOC_LITERAL if body[2] else HEREDOC) if body is not None
                       else WORD if stack[-1] in _COMMAND else stack[-1])
            i = ends[i]
        elif body is not None:
            i, body = _in_heredoc(text, i, body, pending)
        elif stack[-1] == SINGLE:
            if text[i] == "'":
                stack.pop()
            i += 1
        elif stack[-1] == ANSI:
            if text[i] == "'":
                stack.pop()
            i = _escaped(text, i) if text[i] == "\\" else i + 1
        elif stack[-1] in (DOUBLE, BACKTICK):
            i = _in_double_or_backtick(text, i, stack)
        elif stack[-1] == COMMENT:
            if text[i] == "\n":
                stack.pop()
                if pending:
                    body = pending.pop(0)
            i += 1
        else:  # the command context: top level, `$( )`, `( )`, `case … esac`
            i, body = _in_command(text, i, stack, pending, body)
    return out


def _escaped(text: str, i: int) -> int:
    """Past a backslash and the character it escapes; never past a value's mark (a NUL, which
    bash text cannot hold otherwise)."""
    return i + 1 if text.startswith("\x00", i + 1) else i + 2


def _in_heredoc(text: str, i: int, body: tuple[str, bool, bool],
                pending: list[tuple[str, bool, bool]]
                ) -> tuple[int, tuple[str, bool, bool] | None]:
    """Inside a heredoc's lines: only its end line matters, and in one that expands, `\\`."""
    if i == 0 or text[i - 1] == "\n":
        line_end = text.find("\n", i)
        line_end = len(text) if line_end < 0 else line_end
        line = text[i:line_end]
        if (line.lstrip("\t") if body[1] else line) == body[0]:
            return line_end + 1, (pending.pop(0) if pending else None)
    if not body[2] and text[i] == "\\":
        return _escaped(text, i), body
    return i + 1, body


def _in_double_or_backtick(text: str, i: int, stack: list[str]) -> int:
    top, c = stack[-1], text[i]
    if c == "\\":
        return _escaped(text, i)
    if (top == DOUBLE and c == '"') or (top == BACKTICK and c == "`"):
        stack.pop()
        return i + 1
    if c == "`":
        stack.append(BACKTICK)
    elif text.startswith("$(", i):
        stack.append(SUBST)
        return i + 2
    elif top == BACKTICK and c in "'\"":
        stack.append(SINGLE if c == "'" else DOUBLE)
    return i + 1


def _in_command(text: str, i: int, stack: list[str], pending: list[tuple[str, bool, bool]],
                body: tuple[str, bool, bool] | None
                ) -> tuple[int, tuple[str, bool, bool] | None]:
    """Command context: the top level, `$( … )` and `( … )`."""
    c = text[i]
    if c == "\\":
        return _escaped(text, i), body
    if text.startswith("$'", i):
        stack.append(ANSI)
        return i + 2, body
    if text.startswith("$(", i):
        stack.append(SUBST)
        return i + 2, body
    if c == "'":
        stack.append(SINGLE)
    elif c == '"':
        stack.append(DOUBLE)
    elif c == "`":
        stack.append(BACKTICK)
    elif c == "(":
        stack.append(PAREN)
    elif c == ")" and stack[-1] in (SUBST, PAREN):
        stack.pop()
    elif (i == 0 or text[i - 1] in _WORD_START) and c in "#ce":
        if c == "#":
            stack.append(COMMENT)
        elif _CASE.match(text, i):
            stack.append(CASE)
        elif _ESAC.match(text, i) and stack[-1] == CASE:
            stack.pop()
    elif text.startswith("<<", i) and not text.startswith("<<<", i):
        m = _HEREDOC.match(text, i)
        if m:
            literal = m.group(4) is None or text[m.start(4) - 1] == "\\"
            delim = next(g for g in m.group(2, 3, 4) if g is not None)
            pending.append((delim, m.group(1) == "-", literal))
            return m.end(), body
    elif c == "\n" and pending:
        return i + 1, pending.pop(0)
    return i + 1, body


def quote(value: str, context: str) -> str:
    """`value` as a literal string where it stands (see the table above)."""
    if context == WORD:
        return shlex.quote(value)
    if context in (DOUBLE, HEREDOC):
        escaped = re.sub(r"([\\$`])", r"\\\1", value)
        return escaped.replace('"', '\\"') if context == DOUBLE else escaped
    if context == SINGLE:
        return "'" + shlex.quote(value) + "'"
    if context == ANSI:
        return "'" + shlex.quote(value) + "$'"
    if context == BACKTICK:
        return re.sub(r"([\\$`])", r"\\\1", shlex.quote(value))
    if context == HEREDOC_LITERAL:
        if "\n" in value or "\r" in value:
            raise ShellContextError("a value with a line break cannot go into a heredoc whose "
                                    "delimiter is quoted (a line of it could end the heredoc)")
        return value
    return value.replace("\r", " ").replace("\n", " ")  # a comment


def variable(name: str, context: str) -> str:
    """A secret's environment variable, read where it stands."""
    if context == WORD:
        return f'"${name}"'
    if context in (DOUBLE, HEREDOC):
        return "${" + name + "}"
    if context == SINGLE:
        return "'\"${" + name + "}\"'"
    if context == ANSI:
        return "'\"${" + name + "}\"$'"
    if context == BACKTICK:
        return '"${' + name + '}"'
    if context == HEREDOC_LITERAL:
        raise ShellContextError("a secret cannot go into a heredoc whose delimiter is quoted: "
                                "nothing expands there; write `<<EOF` instead")
    return name  # a comment: the name, never the value
