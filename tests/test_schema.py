"""The schema: generated from code, committed, complete, and what editors and validate share."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from vvrun.commands.validate import check_paths
from vvrun.language.pipeline import check_file
from vvrun.language.schema.document import TYPE_KEYS, accepted_types, runbook_schema, schema_text
from vvrun.steps import STEP_TYPES

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "schema" / "runbook.schema.json"

SPEC_EXAMPLE = """\
# yaml-language-server: $schema=../schema/runbook.schema.json
version: 1
name: db-emergency
title: Database emergency
description: |
  The database is unresponsive or overloaded.
tags: [database, emergency]
inputs:
  stuck_after:
    type: string
    default: 5 minutes
    description: Terminate active queries running longer than this.
    pattern: '^\\d+ (seconds|minutes|hours)$'
  database_url:
    type: string
    env: DATABASE_URL
    secret: true
connections:
  db:
    postgres: "{{ inputs.database_url }}"
    statement_timeout: 30s
  cache:
    redis: "{{ env.REDIS_URL }}"
  api:
    http:
      base_url: https://api.vocavision.com
      headers: {Accept: application/json}
defaults:
  timeout: 2m
steps:
  - id: version
    title: Check database status
    sql: SELECT version()
  - id: long_running
    title: Find stuck queries
    sql: |
      SELECT pid, now() - query_start AS age, left(query, 80) AS query
      FROM pg_stat_activity
      WHERE state = 'active' AND query_start < now() - {{ inputs.stuck_after }}::interval
        AND pid <> pg_backend_pid()
  - id: kill
    title: Terminate stuck queries
    when: steps.long_running.result.rowcount > 0
    danger: true
    sql: |
      SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE state = 'active' AND query_start < now() - {{ inputs.stuck_after }}::interval
        AND pid <> pg_backend_pid()
  - id: escalate
    manual:
      instructions: |
        If the database is still unresponsive, open a ticket with the provider
        and post the ticket link in #incidents.
      record: [ticket_url]
"""


def test_committed_schema_is_current() -> None:
    assert COMMITTED.read_text() == schema_text(), (
        "schema/runbook.schema.json is stale: run `make schema`")


def test_schema_is_valid_2020_12() -> None:
    Draft202012Validator.check_schema(runbook_schema())
    assert runbook_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_step_type_has_its_body_under_defs() -> None:
    defs = runbook_schema()["$defs"]
    for name, module in STEP_TYPES.items():
        assert defs[f"{name}_body"] == dict(module.SCHEMA)
    assert set(TYPE_KEYS) == set(STEP_TYPES)


def _objects(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if key in ("examples", "default", "const", "enum"):
                continue
            yield from _objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{path}/{i}")


def test_every_object_schema_is_closed() -> None:
    for path, node in _objects(runbook_schema()):
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, path


def test_every_property_has_a_description() -> None:
    missing = []
    for path, node in _objects(runbook_schema()):
        for name, prop in (node.get("properties") or {}).items():
            if isinstance(prop, dict) and "$ref" not in prop and "description" not in prop:
                missing.append(f"{path}/properties/{name}")
    assert missing == []


def test_the_spec_example_is_valid_for_editors_and_for_validate(tmp_path: Path) -> None:
    import yaml

    Draft202012Validator(runbook_schema()).validate(yaml.safe_load(SPEC_EXAMPLE))
    path = tmp_path / "db-emergency.yaml"
    path.write_text(SPEC_EXAMPLE)
    runbook, problems = check_file(str(path))
    assert problems == []
    assert runbook is not None
    assert runbook.connections["db"].settings == {
        "url": "{{ inputs.database_url }}", "statement_timeout": "30s"}
    assert runbook.connections["api"].kind == "http"
    assert [s.type for s in runbook.steps] == ["sql", "sql", "sql", "manual"]
    import hashlib

    assert runbook.source_hash == hashlib.sha256(path.read_bytes()).hexdigest()


def test_editor_schema_rejects_a_step_with_two_type_keys() -> None:
    import yaml

    doc = yaml.safe_load(SPEC_EXAMPLE)
    doc["steps"][0]["shell"] = "true"
    assert list(Draft202012Validator(runbook_schema()).iter_errors(doc))


@pytest.mark.parametrize(("path", "types"), [
    (("title",), {"string"}),
    (("steps", 0, "sql"), {"string", "object"}),
    (("steps", 0, "sql", "query"), {"string"}),
    (("steps", 0, "http", "headers", "X-Version"), {"string"}),
    (("steps", 0, "timeout"), {"string", "number"}),
    (("steps", 0, "danger"), {"boolean"}),
])
def test_accepted_types_follow_refs_and_alternatives(path: tuple, types: set) -> None:
    assert accepted_types(path) == types


def test_numbers_in_text_fields_keep_their_text(tmp_path: Path) -> None:
    text = (
        "version: 1\nname: t\ntitle: 1.10\n"
        "steps:\n  - id: a\n    http:\n      url: https://x.example/\n"
        "      headers: {X-Version: 2.50}\n    expect: [1.0]\n"
    )
    path = tmp_path / "t.yaml"
    path.write_text(text)
    runbook, problems = check_file(str(path))
    assert problems == []
    assert runbook is not None
    assert runbook.title == "1.10"
    assert runbook.steps[0].spec.headers == {"X-Version": "2.50"}


def _is_runbook(path: Path) -> bool:
    # examples/ also holds CI workflows that run vvrun; those are not runbooks
    import yaml

    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        return True  # broken YAML: let validate say so
    return not (isinstance(doc, dict) and "jobs" in doc)


def _repo_runbooks() -> list[str]:
    return [str(p) for folder in ("runbooks", "examples") if (ROOT / folder).is_dir()
            for p in sorted((ROOT / folder).rglob("*.y*ml")) if _is_runbook(p)]


@pytest.mark.parametrize("path", _repo_runbooks() or [None],
                         ids=lambda p: Path(p).name if p else "none")
def test_repo_runbooks_validate_clean_with_strict(path: str | None) -> None:
    if path is None:
        return  # no runbooks yet: nothing to check
    files, problems = check_paths([path], strict=True)
    assert files == 1
    assert [p.format() for p in problems] == []


def test_repo_runbooks_point_editors_at_the_schema() -> None:
    for path in _repo_runbooks():
        first = Path(path).read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        assert first.endswith("schema/runbook.schema.json"), path


def test_schema_json_is_deterministic() -> None:
    assert json.loads(schema_text()) == runbook_schema()
    assert schema_text() == schema_text()


def _units(data: dict) -> list[tuple[str, Any]]:
    """(validator name, instance) pairs the way validate dispatches them."""
    units: list[tuple[str, Any]] = [("document", data)]
    for step in data.get("steps") or []:
        if isinstance(step, dict):
            keys = [k for k in TYPE_KEYS if k in step]
            if len(keys) == 1:
                units.append((f"{keys[0]}_body", step[keys[0]]))
    conns = data.get("connections")
    for conn in (conns.values() if isinstance(conns, dict) else []):
        if isinstance(conn, dict):
            kinds = [k for k in ("postgres", "redis", "http") if k in conn]
            if len(kinds) == 1:
                units.append((f"connection_{kinds[0]}", conn))
    return units


def _corpus_documents() -> list[Path]:
    here = Path(__file__).parent
    return sorted((here / "invalid").glob("*.yaml")) + [Path(p) for p in _repo_runbooks()]


def test_the_small_validator_agrees_with_jsonschema() -> None:
    """vvrun validates with its own small validator (start-up cost); jsonschema is the reference."""
    import sys

    from vvrun.language.load import load_file
    from vvrun.language.schema import document as S

    sys.path.insert(0, str(ROOT / "bench"))
    from runbook_gen import runbook_text

    reference = {}
    for name in ("document", *(f"{t}_body" for t in TYPE_KEYS),
                 *(f"connection_{k}" for k in ("postgres", "redis", "http"))):
        schema = (S._document_schema() if name == "document"
                  else {"$defs": S._defs(), "$ref": f"#/$defs/{name}"})
        reference[name] = Draft202012Validator(
            schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    docs = []
    for path in _corpus_documents():
        loaded = load_file(str(path))
        if loaded.data is not None:
            S.coerce_strings(loaded.data, loaded.texts)
            docs.append((path.name, loaded.data))
    import yaml

    docs.append(("generated", yaml.safe_load(runbook_text(1))))
    checked = 0
    for name, data in docs:
        for which, instance in _units(data):
            ours = S._validator(which).is_valid(instance)
            theirs = reference[which].is_valid(instance)
            assert ours == theirs, f"{name}: {which} disagrees (jsonschema says {theirs})"
            checked += 1
    assert checked > 200


def test_the_small_validator_refuses_keywords_it_does_not_know() -> None:
    from vvrun.language.schema.validator import SchemaError, Validator

    with pytest.raises(SchemaError, match="anyOf"):
        Validator({"anyOf": [{"type": "string"}]})


def test_the_small_validator_knows_every_keyword_the_schema_uses() -> None:
    from vvrun.language.schema.validator import check_keywords

    check_keywords(runbook_schema())
