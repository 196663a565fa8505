"""Which imported commands change or destroy things, so the step asks before it runs.

Deliberately wider than `validate`'s checks (an UPDATE with a WHERE is still a change an
operator should approve at 3 a.m.); a false alarm costs one keypress, a miss costs data.
"""

from __future__ import annotations

import re

_SQL_STRINGS = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.S)
_SQL = (
    (re.compile(r"\bDELETE\s+FROM\b", re.I), "DELETE removes rows"),
    (re.compile(r"\bUPDATE\b[^;]*\bSET\b", re.I), "UPDATE changes rows"),
    (re.compile(r"\bTRUNCATE\b", re.I), "TRUNCATE empties tables"),
    (re.compile(r"\bDROP\b", re.I), "DROP removes objects"),
    (re.compile(r"\bALTER\b", re.I), "ALTER changes the schema"),
    (re.compile(r"\bpg_(terminate|cancel)_backend\s*\(", re.I), "it ends other sessions' work"),
    (re.compile(r"\bVACUUM\b[^;]*\bFULL\b", re.I), "VACUUM FULL locks tables while it rewrites"),
    (re.compile(r"\bREINDEX\b", re.I), "REINDEX locks tables while it rebuilds"),
)
_SHELL = (
    (re.compile(r"\brm\s+-\w*[rf]"), "rm -r/-f deletes files"),
    (re.compile(r"\b(kill|pkill|killall)\b"), "it kills processes"),
    (re.compile(r"\bgit\s+(push|revert|reset\s+--hard|merge)\b"), "it changes the shared branch"),
    (re.compile(r"\bvercel\b.*(--prod|\brollback\b|\bpromote\b|\bremove\b|\brm\b)"),
     "it changes production"),
    (re.compile(r"\b(psql|pg_restore)\b[^|]*<"), "it restores into the database"),
    (re.compile(r"\b(dropdb|DROP|DELETE|TRUNCATE|FLUSHALL|FLUSHDB)\b"), "it destroys data"),
    (re.compile(r"\bmigrat", re.I), "it migrates the database schema"),
    (re.compile(r"\b(systemctl|service)\s+\S*\s*(stop|restart)|\b(shutdown|reboot)\b"),
     "it stops a service"),
    (re.compile(r"\bnpm\s+audit\s+fix\b"), "it changes dependencies"),
)


def sql_danger(query: str) -> list[str]:
    code = _SQL_STRINGS.sub("''", query)
    return [why for pattern, why in _SQL if pattern.search(code)]


def redis_danger(words: list[str]) -> list[str]:
    """Why a redis command needs the operator's yes, from Redis's own command table (the
    same classes `validate` and the run use): writes, admin commands, unknown commands."""
    from vvrun.steps.redis.classify import danger

    why = danger(words)
    return [why] if why else []


def shell_danger(command: str) -> list[str]:
    return [why for pattern, why in _SHELL if pattern.search(command)]
