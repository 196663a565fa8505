"""Redis steps: danger from Redis's own command table and the calls inside `eval` scripts,
`| args` only as a whole command word, and `scan.where` that parses."""

from __future__ import annotations

from vvrun.language.checks.context import Checker, Path, parsed
from vvrun.language.model import Step

# The redis step's modules are imported inside the checks: only a runbook with redis steps
# pays for them (cold start).


def danger(c: Checker, at: Path, step: Step) -> None:
    """A dangerous command is confirmed at run time unless the step says `danger: false`:
    say which, and why, either way (a warning)."""
    from vvrun.steps.redis.action import NEEDS_DANGER
    from vvrun.steps.redis.spec import implied_danger, raw_words

    path: Path = (*at, "redis")
    why = implied_danger(step.spec)
    if why is None:
        return
    said = step.raw.get("danger")
    if said is True:
        return
    first = (raw_words(step.spec) or [""])[0].upper() if step.spec.op == "command" else ""
    if said is None:
        c.add(f"{why}; the operator will be asked to confirm it at run time", path,
              code="danger", severity="warning",
              hint="use `scan:` or `delete_pattern:` (SCAN), which never block the server"
              if first == "KEYS" else "add `danger: true` to say so (plans flag it), or "
              "`danger: false` if it must run unattended")
        return
    found = [w.upper() for w in raw_words(step.spec)] if step.spec.op == "command" else []
    if first in NEEDS_DANGER and not (first == "FLUSHDB" and "ASYNC" in found[1:]):
        c.add(f"`danger: false`, but {why}: vvrun refuses to run it", path, code="danger",
              severity="error", hint=NEEDS_DANGER[first])
        return
    c.add(f"`danger: false`, but {why}: it runs without asking", path, code="danger",
          severity="warning", hint="make sure it may run unattended, or remove `danger: false` "
          "so the operator confirms it")


def shape(c: Checker, at: Path, step: Step) -> None:
    """Errors: `| args` inside a word, `where` that does not parse."""
    from vvrun.steps.redis import words
    from vvrun.steps.redis.spec import raw_words

    spec = step.spec
    path: Path = (*at, "redis")
    if spec.op == "command":
        if isinstance(c.value(path), dict):
            path = (*path, "command")
        for word in raw_words(spec):
            if words.ARGS_FILTER.search(word) and not words.is_args(word):
                c.add(f"`| args` must be a whole word: {word}", path, code="redis-args",
                      hint="write the list as its own word, e.g. `DEL {{ keys | args }}`")
    if spec.op == "eval":
        for name in ("keys", "args"):
            for i, word in enumerate(getattr(spec, name)):
                if words.ARGS_FILTER.search(word) and not words.is_args(word):
                    c.add(f"`| args` must be the whole item: {word}",
                          (*path, "eval", name, i), code="redis-args")
    if spec.op == "scan" and spec.where is not None:
        _names, error, _line = parsed(spec.where, True)
        if error is not None:
            c.add(f"`where` does not parse: {error}", (*path, "scan", "where"),
                  code="expression", hint="a bare expression over `key` and `value`, e.g. "
                  "`value.user_id == '42'`")
