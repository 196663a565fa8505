"""What could hurt: SQL values templated where they cannot be bound, destructive operations
without `danger: true`, `| raw` in shell."""

from __future__ import annotations

import re
from typing import Any

from vvrun.language.checks import redis
from vvrun.language.checks.context import (
    DANGER_HINT,
    Checker,
    Path,
)
from vvrun.language.model import Step


def sql(c: Checker, path: Path, query: str, step: Step, at: Path) -> None:
    if not isinstance(c.value(path), str):
        path = (*path, "query")
    from vvrun.steps.sqlmeaning import analyse as sql_meaning  # only for runbooks with SQL

    meaning = sql_meaning.analyse(query)
    error = meaning.parse_error
    if error is not None:
        blocks = "{%" in query or "{#" in query  # the rendered text may differ
        c.add(f"the SQL does not parse: {error.message}", path, code="sql-syntax",
                 offset=error.offset, severity="warning" if blocks else "error",
                 hint="PostgreSQL's own parser read it this way; fix the SQL")
    if step.type == "sql" and step.spec.read_only and error is None \
            and meaning.read_only_proof is not None:
        c.add(f"`read_only: true`, but {meaning.read_only_proof}", path,
                 code="sql-read-only", hint="run only SELECT/SHOW/EXPLAIN/VALUES here, "
                 "or drop `read_only` (and consider `danger: true`)")
    if step.type == "manual" and error is None and meaning.read_only_proof is not None:
        c.add(f"a `verify` check only reads, but {meaning.read_only_proof}", path,
              code="verify-writes", hint="check with SELECT/SHOW/EXPLAIN/VALUES; a change "
              "belongs in a step of its own (with `danger: true` if it is one)")
    words = {"single_quote": "inside a quoted string", "dollar_quote": "inside a dollar "
             "quote", "double_quote": "inside a quoted identifier", "line_comment":
             "inside a comment", "block_comment": "inside a comment"}
    bound = [h for h in meaning.holes if h.context == "code" and not h.ident]
    for hole in meaning.holes:
        if hole.context == "code":
            continue
        text = query[hole.start : hole.end]
        if hole.context == "double_quote":
            hint = "an identifier needs `{{ x | ident }}` without the quotes around it"
        elif hole.context in ("line_comment", "block_comment"):
            hint = "remove the template from the comment"
        else:
            hint = ("remove the quotes: every {{ }} is already a bound value "
                    "(e.g. `{{ inputs.n ~ ' minutes' }}::interval` builds text)")
        c.add(f"{text} is {words[hole.context]}, where a value cannot be bound", path,
                 code="sql-quoted-value", hint=hint, offset=hole.start)
    statements = meaning.statements
    if len(statements) > 1 and bound:
        c.add(f"{len(statements)} statements in one sql step cannot take templated "
                 "values", path, code="sql-multi-value", offset=bound[0].start,
                 hint="split it into one step per statement")
    for hole in bound:
        if hole.statement < 0:
            continue
        stmt = statements[hole.statement]
        if not stmt.takes_params or meaning.values_need_literals:
            c.add(f"{stmt.kind} cannot take a bound value "
                     f"({query[hole.start:hole.end]})", path, code="sql-ddl-value",
                     offset=hole.start,
                     hint="use `{{ x | ident }}` for a name; for a setting use "
                     "`SELECT set_config('name', {{ value }}, false)`")


def danger(c: Checker, at: Path, step: Step) -> None:
    if step.type == "redis":
        redis.danger(c, at, step)  # a redis step's danger is implied from its command
        return
    if step.type == "sql":
        sql_danger(c, at, step)  # so is a sql step's, from PostgreSQL's parser
        return
    if step.danger:
        return
    path: Path = (*at, step.type)
    why: list[str] = []
    if step.type == "shell" and re.search(
            r"\brm\s+(-\w*r\w*f|-\w*f\w*r|-r\s+-f|-f\s+-r|--recursive\s+--force)\b",
            step.spec.run):
        why.append("rm -rf deletes files recursively")
    for reason in dict.fromkeys(why):
        c.add(f"{reason}; the step is not marked `danger: true`", path, code="danger",
                 severity="warning", hint=DANGER_HINT)


def sql_danger(c: Checker, at: Path, step: Step) -> None:
    """Destructive SQL is confirmed at run time unless the step says `danger: false` (the
    step type implies it, `steps.sql.implied_danger`): say which, and why, either way."""
    from vvrun.steps.sqlmeaning import analyse as sql_meaning

    reasons = sql_meaning.analyse(step.spec.query).reasons
    said = step.raw.get("danger")
    if not reasons or said is True:
        return
    path: Path = (*at, "sql")
    if said is None:
        for reason in reasons:
            c.add(f"{reason}; the operator will be asked to confirm it at run time", path,
                  code="danger", severity="warning",
                  hint="add `danger: true` to say so (plans flag it), or `danger: false` if "
                  "it must run unattended")
        return
    c.add(f"`danger: false`, but {reasons[0]}: it runs without asking", path, code="danger",
          severity="warning", hint="make sure it may run unattended, or remove "
          "`danger: false` so the operator confirms it")


def shell_raw(c: Checker, at: Path, step: Step) -> None:
    if step.type != "shell":
        return
    path = c.shell_command(at)
    for m in re.finditer(r"\{\{[^}]*\|\s*raw\b[^}]*\}\}", step.spec.run):
        c.add(f"{m.group(0)} puts the value into the command unquoted", path,
                 code="shell-raw", severity="warning", offset=m.start(),
                 hint="remove `| raw` unless the value is trusted and must split into words")


#: HTTP methods a check may repeat without changing anything (RFC 9110 §9.2.1: safe methods)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def verify_only_reads(c: Checker, path: Path, verify: Any, step: Step, at: Path) -> None:
    """A manual step's `verify` runs again and again until it holds, and no one confirms it:
    it must only look. SQL is proved read-only (and runs in a READ ONLY session); a Redis
    command that writes or administers, or an HTTP method that is not safe, is refused."""
    body = (*path, verify.type)
    if verify.type == "sql":
        sql(c, body, verify.spec.query, step, at)
    elif verify.type == "redis":
        from vvrun.steps.redis.spec import implied_danger

        why = implied_danger(verify.spec)
        if why is not None:
            c.add(f"a `verify` check only reads, but {why}", body, code="verify-writes",
                  hint="check with a command that reads (GET, EXISTS, TTL, INFO, `scan:`); a "
                  "change belongs in a step of its own")
    elif verify.type == "http" and verify.spec.method.upper() not in SAFE_METHODS:
        c.add(f"a `verify` check is sent until it holds, but {verify.spec.method} may change "
              "something each time", body, code="verify-writes",
              hint="check with GET or HEAD; a change belongs in a step of its own")
