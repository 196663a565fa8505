"""validate and --help must not import drivers, rich or jsonschema (PERF-NOTES: start-up)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# jsonschema too: validate uses vvrun.language.schema.validator (its import alone costs 64 ms)
HEAVY = ("psycopg", "redis", "httpx", "rich", "jsonschema")

PROBE = """
import json, sys
from vvrun import cli
try:
    cli.main({args!r})
except SystemExit as exc:
    code = exc.code
heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r}))
sys.stderr.write(json.dumps({{"code": code, "heavy": heavy}}) + "\\n")
"""


def _probe(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
                          capture_output=True, text=True)
    return json.loads(proc.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["schema"]])
def test_cheap_commands_import_no_driver(args: list[str]) -> None:
    assert _probe(args)["heavy"] == []


def test_validate_imports_no_driver(tmp_path: Path) -> None:
    runbook = tmp_path / "x.yaml"
    runbook.write_text(
        "version: 1\nname: x\ntitle: X\n"
        "connections:\n  db: {postgres: x}\n  c: {redis: x}\n  api: {http: {base_url: x}}\n"
        "steps:\n  - {id: a, sql: SELECT 1}\n  - {id: b, redis: PING}\n"
        "  - {id: c, http: GET /x}\n  - {id: d, shell: 'true'}\n  - {id: e, confirm: ok?}\n"
        "  - {id: f, manual: do it}\n"
    )
    got = _probe(["validate", str(runbook)])
    assert got == {"code": 0, "heavy": []}


STEP_PROBE = """
import json, sys
from vvrun import cli
try:
    cli.main({args!r})
except SystemExit as exc:
    code = exc.code
types = sorted(m.split('.')[2] for m in sys.modules
               if m.startswith('vvrun.steps.') and m.count('.') == 2 and m[12] != '_')
sys.stderr.write(json.dumps({{"code": code, "types": types}}) + "\\n")
"""


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_only_the_step_types_a_runbook_uses_are_loaded(tmp_path: Path, command: str) -> None:
    """The step registry is lazy: a runbook of sql and confirm steps never loads the code of
    http, redis, shell, manual, notify, stop or runbook steps (PERF-NOTES: cold start)."""
    runbook = tmp_path / "x.yaml"
    runbook.write_text(
        "version: 1\nname: x\ntitle: X\nconnections:\n  db: {postgres: 'postgresql://h/d'}\n"
        "steps:\n  - {id: a, sql: SELECT 1}\n  - {id: b, confirm: ok?}\n")
    proc = subprocess.run([sys.executable, "-c", STEP_PROBE.format(args=[command, str(runbook)])],
                          capture_output=True, text=True)
    got = json.loads(proc.stderr.strip().splitlines()[-1])
    assert got["code"] == 0
    # `base` is the interface, `sqlmeaning` the sql step's analyser
    assert set(got["types"]) - {"base", "sqlmeaning"} == {"sql", "confirm"}
