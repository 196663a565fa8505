"""`sql`: a PostgreSQL query through psycopg 3."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vvrun.errors import Location

NAME = "sql"

SCHEMA: Mapping[str, Any] = {
    "description": "Run SQL on PostgreSQL (psycopg 3). A string is the query; every `{{ }}` in "
    "it becomes a bound parameter (`{{ x | ident }}` for an identifier).",
    "examples": ["SELECT version()", {"query": "VACUUM ANALYZE", "connection": "db"}],
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "The query text."},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["query"],
            "properties": {
                "query": {"type": "string", "minLength": 1, "description": "The query text."},
                "connection": {
                    "type": "string",
                    "description": "Name of a postgres connection; default: the only one.",
                },
                "transaction": {
                    "type": "boolean",
                    "default": False,
                    "description": "Wrap the step in one transaction that rolls back on any "
                    "failure, `expect` included. Default: autocommit (VACUUM needs it).",
                },
                "read_only": {
                    "type": "boolean",
                    "default": False,
                    "description": "Run in a READ ONLY session: the server refuses writes.",
                },
                "max_rows": {
                    "type": "integer",
                    "minimum": 0,
                    "default": 1000,
                    "description": "Rows kept in `result.rows`; the rest are streamed past.",
                },
            },
        },
    ],
}


@dataclass(frozen=True)
class SqlSpec:
    query: str
    connection: str | None = None
    transaction: bool = False
    read_only: bool = False
    max_rows: int = 1000


def parse(body: Any, where: Location) -> SqlSpec:
    if isinstance(body, str):
        return SqlSpec(query=body)
    return SqlSpec(
        query=body["query"],
        connection=body.get("connection"),
        transaction=bool(body.get("transaction", False)),
        read_only=bool(body.get("read_only", False)),
        max_rows=int(body.get("max_rows", 1000)),
    )
