"""What a Lua script asks Redis to do: the command of every `redis.call`/`redis.pcall` in it.

A small tokeniser over Lua's lexical grammar (strings in all three forms, comments, long
brackets), so that `redis.call` inside a string or a comment is not a call, and a call whose
command name is not a string literal — `redis.call(cmd)`, `local c = redis.call`,
`redis['call']` — or code the reader cannot see (`loadstring`, `_G`, `getfenv`) is reported as
unreadable: the caller takes the script as dangerous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: `redis.*` members that only compute, log or shape a reply.
HARMLESS_MEMBERS = frozenset({
    "log", "sha1hex", "error_reply", "status_reply", "setresp", "breakpoint", "debug",
    "acl_check_cmd", "LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING",
    "REDIS_VERSION", "REDIS_VERSION_NUM", "REPL_ALL", "REPL_AOF", "REPL_REPLICA",
    "REPL_SLAVE", "REPL_NONE",
})
CALLS = frozenset({"call", "pcall"})
#: Globals that run or reach code this reader cannot see.
OPAQUE = frozenset({"loadstring", "load", "dofile", "loadfile", "_G", "getfenv", "setfenv",
                    "rawget", "rawset", "setmetatable", "getmetatable", "require", "module"})

_LONG_OPEN = re.compile(r"\[(=*)\[")
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>--)
  | (?P<long>\[=*\[)
  | (?P<string>["'])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>0[xX][0-9a-fA-F.]+(?:[pP][+-]?\d+)?|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)
  | (?P<op>\.\.\.|\.\.|==|~=|<=|>=|::|[-+*/%^\#<>=(){}\[\];:,.])
""", re.X)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
            "\\": "\\", '"': '"', "'": "'", "\n": "\n"}


class LuaSyntax(ValueError):
    """The script does not tokenise (an unclosed string or comment)."""


@dataclass(frozen=True)
class Token:
    kind: str  # name | string | number | op
    text: str  # a string's decoded value; otherwise the source text


@dataclass(frozen=True)
class Call:
    """One `redis.call(...)`: its literal words up to the first non-literal argument."""

    words: tuple[str, ...]
    literal_name: bool


@dataclass(frozen=True)
class ScriptCalls:
    calls: tuple[Call, ...]
    opaque: tuple[str, ...]  # why a part of the script cannot be read, one reason each


def tokens(source: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None:
            raise LuaSyntax(f"unexpected {source[pos]!r} at offset {pos}")
        kind = m.lastgroup
        if kind == "comment":
            long = _LONG_OPEN.match(source, m.end())
            if long:
                pos = _close_long(source, long.end(), long.group(1))
            else:
                end = source.find("\n", m.end())
                pos = len(source) if end < 0 else end + 1
            continue
        if kind == "long":
            start = m.end()
            pos = _close_long(source, start, m.group(0)[1:-1])
            body = source[start : pos - len(m.group(0))]
            out.append(Token("string", body[1:] if body.startswith("\n") else body))
            continue
        if kind == "string":
            text, pos = _short_string(source, m.end(), m.group(0))
            out.append(Token("string", text))
            continue
        if kind != "space":
            out.append(Token(kind or "op", m.group(0)))
        pos = m.end()
    return out


def _close_long(source: str, start: int, level: str) -> int:
    close = "]" + level + "]"
    end = source.find(close, start)
    if end < 0:
        raise LuaSyntax("a long string or comment is not closed")
    return end + len(close)


def _short_string(source: str, pos: int, quote: str) -> tuple[str, int]:
    out: list[str] = []
    while pos < len(source):
        ch = source[pos]
        if ch == quote:
            return "".join(out), pos + 1
        if ch == "\n":
            break
        if ch == "\\" and pos + 1 < len(source):
            nxt = source[pos + 1]
            digits = re.match(r"\d{1,3}", source[pos + 1 :])
            if digits:
                out.append(chr(int(digits.group(0)) % 256))
                pos += 1 + len(digits.group(0))
                continue
            if nxt == "x" and re.match(r"[0-9a-fA-F]{2}", source[pos + 2 : pos + 4]):
                out.append(chr(int(source[pos + 2 : pos + 4], 16)))
                pos += 4
                continue
            if nxt == "z":  # skips the following whitespace
                pos += 2
                while pos < len(source) and source[pos].isspace():
                    pos += 1
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            pos += 2
            continue
        out.append(ch)
        pos += 1
    raise LuaSyntax("a string is not closed")


def calls(source: str) -> ScriptCalls:
    """Every `redis.call`/`redis.pcall` (also `server.…`) and everything that hides one."""
    toks = tokens(source)
    found: list[Call] = []
    opaque: list[str] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        after_dot = i > 0 and toks[i - 1].text in (".", ":") and toks[i - 1].kind == "op"
        if tok.kind == "name" and tok.text in OPAQUE and not after_dot:
            opaque.append(f"uses `{tok.text}`, which runs or reaches code vvrun cannot read")
        if tok.kind != "name" or tok.text not in ("redis", "server") or after_dot:
            i += 1
            continue
        member = toks[i + 2] if i + 2 < len(toks) and toks[i + 1].text == "." else None
        if member is None or member.kind != "name":
            opaque.append(f"uses `{tok.text}` other than as `{tok.text}.call(...)`")
            i += 1
            continue
        if member.text in CALLS:
            if i + 3 >= len(toks) or toks[i + 3].text != "(":
                opaque.append(f"uses `{tok.text}.{member.text}` without calling it")
                i += 3
                continue
            words, j = _literal_args(toks, i + 4)
            found.append(Call(tuple(words), literal_name=bool(words)))
            i = j
            continue
        if member.text not in HARMLESS_MEMBERS:
            opaque.append(f"uses `{tok.text}.{member.text}`, which vvrun does not know")
        i += 3
    return ScriptCalls(tuple(found), tuple(dict.fromkeys(opaque)))


def _literal_args(toks: list[Token], i: int) -> tuple[list[str], int]:
    """The leading string-literal arguments of a call starting at token i."""
    words: list[str] = []
    while i < len(toks) and toks[i].kind == "string":
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if nxt is None or nxt.text not in (",", ")"):
            break  # `'FLUSH' .. 'ALL'`: not a plain literal
        words.append(toks[i].text)
        i += 2
        if nxt.text == ")":
            break
    return words, i
