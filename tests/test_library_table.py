"""The README's runbook table is generated from the runbooks themselves (which systems each
touches, whether it changes anything), so it cannot go stale. After changing a runbook:
`VVRUN_REGEN_GOLDEN=1 pytest tests/test_library_table.py` rewrites the section."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
RUNBOOKS = REPO / "runbooks"
START, END = "<!-- runbook-table:start -->", "<!-- runbook-table:end -->"

READ_SQL = re.compile(r"^\s*(SELECT|SHOW|EXPLAIN)\b", re.I)
WRITE_SQL = re.compile(r"\b(INSERT|UPDATE|DELETE|TRUNCATE|VACUUM|ANALYZE|REINDEX|CREATE|DROP|"
                       r"ALTER|pg_terminate_backend|pg_cancel_backend)\b", re.I)
READ_REDIS = {"PING", "COMMAND", "INFO", "DBSIZE", "LASTSAVE", "SLOWLOG", "SCAN", "GET", "TTL",
              "EXISTS", "MEMORY", "LATENCY", "CONFIG", "CLIENT", "TYPE", "STRLEN", "TIME"}
SHELL_TOOLS = {"vercel": "Vercel CLI", "pg_dump": "pg_dump", "psql": "psql",
               "npm": "npm", "npx": "npx", "node": "node", "git": "git", "openssl": "TLS (openssl)",
               "redis-cli": "redis-cli", "op read": "1Password"}
SHELL_WRITES = re.compile(r"pg_dump|psql|git (push|commit|merge|tag)|vercel (--prod|deploy|env "
                          r"(add|rm)|promote|rollback)|npm (audit fix|run db:)|redis-cli .*--rdb|"
                          r"\bmkdir\b|(?<![\d&>])>>?\s*(?!/dev/null)(?!&)\S")


def _steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        out.append(step)
        out.extend(_steps(step.get("steps") or []))
    return out


def _systems_and_writes(path: Path, seen: set[Path] | None = None) -> tuple[set[str], list[str]]:
    seen = seen or set()
    seen.add(path)
    doc = yaml.safe_load(path.read_text())
    systems: set[str] = set()
    for name, conn in (doc.get("connections") or {}).items():
        if "postgres" in conn:
            systems.add("PostgreSQL")
        elif "redis" in conn:
            systems.add("Redis")
        elif "http" in conn:
            base = str(conn["http"].get("base_url", ""))
            systems.add("Vercel API" if "vercel" in base else "Sentry" if "SENTRY" in base
                        else "VocaVision app")
        elif "ssh" in conn:
            systems.add(f"ssh {name}")
    for notifier in (doc.get("notifiers") or {}).values():
        for key, label in (("slack", "Slack"), ("pagerduty", "PagerDuty"),
                           ("statuspage", "Statuspage"), ("email", "email")):
            if key in notifier:
                systems.add(label)
    writes: list[str] = []
    for step in _steps(doc.get("steps") or []):
        sid = step["id"]
        if step.get("danger"):
            writes.append(sid)
        if "sql" in step:
            sql = step["sql"] if isinstance(step["sql"], str) else step["sql"]["query"]
            read_only = isinstance(step["sql"], dict) and step["sql"].get("read_only")
            if not read_only and (WRITE_SQL.search(sql)
                                  or not READ_SQL.match(sql.split("WITH", 1)[0] or sql)):
                writes.append(sid)
        if "redis" in step:
            body = step["redis"]
            word = (body.split()[0] if isinstance(body, str)
                    else next(iter(body))).upper()
            if word not in READ_REDIS:
                writes.append(sid)
        if "http" in step:
            body = step["http"]
            method = (body.split()[0] if isinstance(body, str) and " " in body
                      else body.get("method", "GET") if isinstance(body, dict) else "GET")
            if method.upper() not in ("GET", "HEAD"):
                writes.append(sid)
        if "shell" in step:
            run = step["shell"] if isinstance(step["shell"], str) else step["shell"]["run"]
            # a command word, not part of a file name or variable (vercel-logs.json, $VERCEL_…)
            systems.update(label for tool, label in SHELL_TOOLS.items()
                           if re.search(rf"(?<![\w$/.-]){re.escape(tool)}(?![\w.-])", run))
            if SHELL_WRITES.search(run):
                writes.append(sid)
        if "runbook" in step:
            call = step["runbook"]
            callee = (path.parent / (call if isinstance(call, str) else call["path"])).resolve()
            if callee not in seen:
                more, their = _systems_and_writes(callee, seen)
                systems |= more
                writes.extend(f"{sid} → {w}" for w in their)
    return systems, list(dict.fromkeys(writes))


def table() -> str:
    rows = ["| runbook | what it is for | systems it touches | read-only |",
            "|---|---|---|---|"]
    for path in sorted(RUNBOOKS.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        systems, writes = _systems_and_writes(path)
        ro = "yes" if not writes else "no: " + ", ".join(f"`{w}`" for w in writes[:4]) + (
            " …" if len(writes) > 4 else "")
        rows.append(f"| [{doc['name']}](docs/runbooks/{path.stem}.md) | {doc['title']} | "
                    f"{', '.join(sorted(systems)) or '—'} | {ro} |")
    return "\n".join(rows)


def test_the_readme_runbook_table_is_current() -> None:
    readme = REPO / "README.md"
    text = readme.read_text()
    assert START in text and END in text, "README.md lost its runbook table markers"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    fresh = f"{head}{START}\n{table()}\n{END}{tail}"
    if os.environ.get("VVRUN_REGEN_GOLDEN") == "1":
        readme.write_text(fresh)
    assert readme.read_text() == fresh, (
        "the README's runbook table is stale: VVRUN_REGEN_GOLDEN=1 pytest "
        "tests/test_library_table.py")


def test_the_table_knows_what_writes() -> None:
    rows = {line.split("]")[0].lstrip("| ["): line for line in table().splitlines()[2:]}
    assert rows["health-check"].endswith("| yes |")
    assert "`terminate`" in rows["db-emergency"]
    assert "Vercel API" in rows["site-down"]  # through rollback.yaml
    assert "`lock_accounts`" in rows["security-breach"]
