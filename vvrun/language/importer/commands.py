"""One command line from a shell fence → a typed step draft: `psql -c` → sql, `redis-cli` →
redis, `curl` → http when the translation is unambiguous, everything else → shell."""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from dataclasses import dataclass, field
from typing import Any

from vvrun.language.importer.context import Context, escape, ref
from vvrun.language.importer.danger import redis_danger, shell_danger, sql_danger

_OPERATORS = re.compile(r"^[|&;<>()]+$")
_STREAMING_REDIS = {"MONITOR", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"}
_REDIS_MODES = {"--latency", "--latency-history", "--stat", "--bigkeys", "--memkeys", "--scan"}


@dataclass
class Draft:
    """A step before it has an id: its type key, body, and the guesses made."""

    kind: str
    body: Any
    danger: bool = False
    reviews: list[str] = field(default_factory=list)
    title: str = ""
    source: str = ""  # the command as written, to name a step that has no title
    connection: str = ""  # named when the procedure ends up with several of its kind


def _words(command: str) -> tuple[list[str], bool] | None:
    """Shell words and whether the line has pipes/redirections/lists; None when unparsable."""
    try:
        lex = shlex.shlex(command, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        lex.commenters = ""
        words = list(lex)
    except ValueError:
        return None
    return words, any(_OPERATORS.match(w) for w in words)


def translate(command: str, ctx: Context) -> Draft:
    command, secrets = ctx.redact(command)
    draft = _translate(escape(command), ctx)
    draft.source = command
    if secrets:
        draft.reviews.append("a literal password was written here; it now comes from an input")
    return draft


def _translate(command: str, ctx: Context) -> Draft:
    parsed = _words(re.sub(r"\\\n\s*", " ", command))
    if parsed and parsed[0]:
        words, compound = parsed
        head = words[0]
        draft = None
        if head == "psql":
            draft = _psql(words, compound, ctx)
        elif head == "redis-cli":
            draft = _redis_cli(words, command, ctx)
        elif head == "curl" and not compound:
            draft = _curl(words, ctx)
        if draft is not None:
            return draft
    return shell(command, ctx)


def shell(command: str, ctx: Context) -> Draft:
    run, env = ctx.shell_env(command)
    body: Any = {"run": run, "env": env} if env else run
    return Draft("shell", body, danger=bool(shell_danger(command)))


def _psql(words: list[str], compound: bool, ctx: Context) -> Draft | None:
    query = None
    target = None
    parts: dict[str, str] = {}
    i = 1
    while i < len(words):
        w = words[i]
        if w in ("-c", "--command") and i + 1 < len(words):
            query, i = words[i + 1], i + 2
            continue
        if w in ("-h", "-U", "-d", "-p") and i + 1 < len(words):
            parts[w], i = words[i + 1], i + 2
            continue
        if w.startswith("-"):
            i += 1
            continue
        target, i = w, i + 1
    if compound:
        return None
    if target is None and parts:
        user = parts.get("-U", "")
        host = parts.get("-h", "localhost") + (f":{parts['-p']}" if "-p" in parts else "")
        url = f"postgresql://{user + '@' if user else ''}{host}/{parts.get('-d', '')}"
        review = ("built from psql's -h/-U/-d options; the password comes from ~/.pgpass or "
                  "PGPASSWORD")
    else:
        url = ctx.url_template(target) if target else ref(ctx.env_input("DATABASE_URL"))
        review = "" if target and target.startswith("$") else "the database is a guess"
    conn = ctx.connection("postgres", url, review)
    if query is None:
        return Draft("manual", {"instructions": "Open an interactive session:\n\n    "
                                                + " ".join(words)},
                     reviews=["psql without -c is an interactive session: a manual step"])
    query = ctx.templated(textwrap.dedent(query.strip("\n")).strip())
    return Draft("sql", query, danger=bool(sql_danger(query)), connection=conn)


def _redis_cli(words: list[str], command: str, ctx: Context) -> Draft | None:
    url = None
    rest: list[str] = []
    pipe: list[str] = []
    opts: dict[str, str] = {}
    i = 1
    while i < len(words):
        w = words[i]
        if _OPERATORS.match(w):
            pipe = words[i:]
            break
        if w in ("-u", "-h", "-p", "-n", "-a") and i + 1 < len(words) and not rest:
            if w == "-a":
                return None  # a password on the command line: leave it to shell, redacted
            opts[w] = words[i + 1]
            i += 2
            continue
        if w in _REDIS_MODES and not rest:
            return Draft("manual", {"instructions": f"Run in a terminal:\n\n    {command}"},
                         reviews=[f"redis-cli {w} runs until interrupted; it became a manual step"])
        if w.startswith("-") and not rest:
            i += 1
            continue
        rest.append(w)
        i += 1
    if pipe and pipe[0] != "|":
        return None
    if not rest or rest[0].upper() in _STREAMING_REDIS:
        what = (f"{rest[0].upper()} streams until interrupted" if rest
                else "an interactive session")
        return Draft("manual", {"instructions": f"Run in a terminal:\n\n    {command}"},
                     reviews=[f"redis-cli: {what}; it became a manual step"])
    conn_review = assumed = ""
    if "-u" in opts:
        url = ctx.url_template(opts["-u"])
    elif "-h" in opts or "-p" in opts:
        host, port = opts.get("-h", "localhost"), opts.get("-p", "6379")
        url = f"redis://{host}:{port}/{opts.get('-n', '0')}"
        conn_review = "built from redis-cli's -h/-p/-n options"
    elif ctx.last("redis"):
        url = ctx.connections[ctx.last("redis")][1]  # type: ignore[index]
        assumed = f"no server named here; assumed {ctx.last('redis')}, as the steps before"
    else:
        url = ref(ctx.env_input("REDIS_URL"))
        conn_review = "the document names no server; REDIS_URL is a guess"
    conn = ctx.connection("redis", url, conn_review)
    rest = [ctx.templated(w) for w in rest]
    reviews = [assumed] if assumed else []
    if pipe:
        reviews.append(f"the document filtered the reply with `{' '.join(pipe[1:])}`; "
                       "read the reply for that (or add an `expect:`)")
    name = rest[0].upper()
    if name in ("DEL", "UNLINK") and len(rest) == 2 and any(c in rest[1] for c in "*?["):
        reviews.append(f"{name} does not expand patterns (it would delete the one key named "
                       f"{rest[1]!r}); the document means every matching key: delete_pattern "
                       "uses SCAN + UNLINK")
        body: Any = {"delete_pattern": rest[1]}
    elif name == "KEYS" and len(rest) == 2:
        draft = shell(f"redis-cli -u {_var_for(url, ctx)} --scan --pattern {shlex.quote(rest[1])}",
                      ctx)
        draft.reviews.append("KEYS blocks the server while it walks every key; "
                             "redis-cli --scan walks them with SCAN instead")
        return draft
    else:
        body = shlex.join([name, *rest[1:]])
    return Draft("redis", body, danger=bool(redis_danger(rest)), reviews=reviews, connection=conn)


def _var_for(url: str, ctx: Context) -> str:
    """A shell word for a connection URL: `"$CACHE_URL"` for an input from the environment."""
    m = re.fullmatch(r"\{\{ inputs\.(\w+) \}\}", url)
    if m and ctx.inputs[m.group(1)].env:
        return f'"${ctx.inputs[m.group(1)].env}"'
    return shlex.quote(url)


def _curl(words: list[str], ctx: Context) -> Draft | None:
    method = None
    headers: dict[str, str] = {}
    data = None
    url = None
    follow = False
    reviews: list[str] = []
    i = 1
    while i < len(words):
        w = words[i]
        arg = words[i + 1] if i + 1 < len(words) else None
        if w in ("-X", "--request") and arg:
            method, i = arg.upper(), i + 2
        elif w in ("-H", "--header") and arg and ":" in arg:
            k, v = arg.split(":", 1)
            headers[k.strip()], i = ctx.templated(v.strip()), i + 2
        elif w in ("-d", "--data", "--data-raw", "--json") and arg is not None and data is None:
            data, i = arg, i + 2
            if w == "--json":
                headers.setdefault("Content-Type", "application/json")
        elif w in ("-I", "--head"):
            method, i = method or "HEAD", i + 1
        elif w in ("-L", "--location"):
            follow, i = True, i + 1
        elif w in ("-s", "-S", "-sS", "-f", "-fsS", "-sf", "--silent", "--fail", "--show-error"):
            i += 1
        elif w.startswith("-") or url is not None:
            return None  # an option we do not translate exactly: keep the command as shell
        else:
            url, i = w, i + 1
    if url is None or not re.match(r"^(https?://|\$)", url):
        return None
    method = method or ("POST" if data is not None else "GET")
    body: dict[str, Any] = {"method": method, "url": ctx.templated(url)}
    if headers:
        body["headers"] = headers
    if data is not None:
        try:
            body["json"] = json.loads(data)
            if headers.get("Content-Type") == "application/json":
                del headers["Content-Type"]  # httpx sets it for a json body
            if not headers:
                body.pop("headers", None)
        except ValueError:
            body["body"] = ctx.templated(data)
            reviews.append("the request body is not JSON; it is sent as text")
    if follow:
        body["follow_redirects"] = True
    danger = method in ("POST", "PUT", "PATCH", "DELETE", "PURGE")
    short = set(body) == {"method", "url"}
    return Draft("http", f"{method} {body['url']}" if short else body, danger=danger,
                 reviews=reviews)
