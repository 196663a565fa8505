"""What one parsed statement means: its kind, what makes it destructive, and whether it is
provably read-only.

Works on the JSON tree libpg_query gives (`pglast.parser.parse_sql_json`): plain dicts, each node
`{"NodeType": {fields}}`, so this module imports nothing heavy and walks the whole tree — CTEs,
subqueries and EXPLAIN targets included — so that a DELETE cannot hide inside a SELECT.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

Node = dict[str, Any]

# Statements PostgreSQL can bind parameters in (the others are "utility" statements).
_TAKE_PARAMS = frozenset({"SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt",
                          "ExplainStmt", "CallStmt"})
_WRITES = {"InsertStmt": "INSERT", "UpdateStmt": "UPDATE", "DeleteStmt": "DELETE",
           "MergeStmt": "MERGE"}
_KINDS = {"SelectStmt": "SELECT", "VariableSetStmt": "SET", "VariableShowStmt": "SHOW",
          "CreateStmt": "CREATE TABLE", "IndexStmt": "CREATE INDEX", "DoStmt": "DO",
          "CreateTableAsStmt": "CREATE TABLE AS", "CopyStmt": "COPY", "DropdbStmt": "DROP DATABASE",
          "VacuumStmt": "VACUUM", "ClusterStmt": "CLUSTER", "ReindexStmt": "REINDEX",
          "GrantStmt": "GRANT", "CommentStmt": "COMMENT", "LockStmt": "LOCK",
          "TruncateStmt": "TRUNCATE", "NotifyStmt": "NOTIFY", "ListenStmt": "LISTEN", **_WRITES}
# Functions that change something, or that take SQL text the parser cannot see into.
_WRITE_FUNCTIONS = frozenset({
    "nextval", "setval", "set_config", "pg_terminate_backend", "pg_cancel_backend",
    "pg_reload_conf", "pg_rotate_logfile", "pg_switch_wal", "pg_create_restore_point",
    "pg_notify", "pg_promote", "pg_backup_start", "pg_backup_stop", "pg_drop_replication_slot",
    "pg_create_physical_replication_slot", "pg_create_logical_replication_slot",
    "pg_import_system_collations", "pg_file_write", "lowrite", "dblink", "dblink_exec",
    "dblink_send_query", "query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema",
})
_WRITE_PREFIXES = ("lo_", "pg_advisory", "pg_stat_reset", "pg_replication_origin_", "setval")
_DANGER_FUNCTIONS = {
    "pg_terminate_backend": "pg_terminate_backend kills sessions",
    "pg_drop_replication_slot": "pg_drop_replication_slot drops a replication slot",
    "dblink_exec": "dblink_exec runs SQL on another database that vvrun cannot see",
}
_READ_ONLY_SETTINGS = ("transaction", "default_transaction", "session_authorization", "role")


def walk(node: Any, in_cte: bool = False) -> Iterator[tuple[str, Node, bool]]:
    """Every node below `node` as (type, fields, inside a WITH query)."""
    stack = [(node, in_cte)]
    while stack:
        item, cte = stack.pop()
        if isinstance(item, list):
            stack.extend((x, cte) for x in reversed(item))
            continue
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if key[:1].isupper() and isinstance(value, dict):
                yield key, value, cte
                inner = cte or key == "CommonTableExpr"
                stack.extend((v, inner) for v in value.values() if isinstance(v, dict | list))
            elif isinstance(value, dict | list):
                stack.append((value, cte))


def kind(stmt: Node) -> str:
    """`DELETE`, `DROP TABLE`, `ALTER TABLE`, `BEGIN`… for a statement node."""
    (name, fields), = stmt.items()
    if name == "DropStmt":
        return "DROP " + fields.get("removeType", "OBJECT_").removeprefix("OBJECT_")\
            .replace("_", " ")
    if name == "TransactionStmt":
        return fields.get("kind", "").removeprefix("TRANS_STMT_").replace("_", " ")
    if name == "VariableSetStmt" and fields.get("kind") == "VAR_RESET":
        return "RESET"
    if name in _KINDS:
        return _KINDS[name]
    words = re.findall(r"[A-Z][a-z]*", name.removesuffix("Stmt"))
    return " ".join(words).upper()


def takes_params(stmt: Node) -> bool:
    return next(iter(stmt)) in _TAKE_PARAMS


def returns_rows(stmt: Node) -> bool:
    """One SELECT/VALUES/TABLE that does not create a table: its rows can be streamed."""
    (name, fields), = stmt.items()
    return name == "SelectStmt" and "intoClause" not in fields


def _names(items: list[Any], show: Callable[[str], str]) -> str:
    out = []
    for item in items:
        inner = item.get("List", {}).get("items", [item]) if isinstance(item, dict) else []
        out.append(".".join(show(x.get("String", {}).get("sval", "?")) for x in inner))
    return ", ".join(out)


def _relation(fields: Node, show: Callable[[str], str]) -> str:
    rel = fields.get("relation") or {}
    name = ".".join(show(p) for p in (rel.get("schemaname"), rel.get("relname")) if p)
    return name or "?"


def dangers(stmt: Node, source: bytes, show: Callable[[str], str]) -> list[str]:
    """Plain-word reasons why a statement destroys data, locks for long or kills sessions.

    `source` is the whole text as UTF-8 (the tree's locations are byte offsets into it), to
    quote a WHERE; `show` maps a placeholder name back to the template that stands there.
    """
    found = []
    for name, fields, in_cte in walk(stmt):
        where = " (inside WITH)" if in_cte else ""
        if name in ("DeleteStmt", "UpdateStmt"):
            delete = name == "DeleteStmt"
            verb, effect = ("DELETE", "deletes") if delete else ("UPDATE", "changes")
            rel = _relation(fields, show)
            cond = fields.get("whereClause")
            if cond is None:
                found.append(f"{verb} without WHERE on {rel}{where} {effect} every row")
            elif _ignores_rows(cond):
                found.append(f"{verb} on {rel} with `{_where_text(cond, source)}`{where}: a WHERE "
                             f"that does not look at the row {effect} every row")
        elif name == "TruncateStmt":
            found.append(f"TRUNCATE empties {_names_of_relations(fields, show)}")
        elif name.startswith("Drop"):
            what = _names(fields.get("objects", []), show) or fields.get("dbname", "")
            found.append(f"{kind({name: fields})} {what} removes it".replace("  ", " "))
        elif name == "AlterTableStmt":
            for cmd in fields.get("cmds", []):
                sub = cmd.get("AlterTableCmd", {}).get("subtype", "")
                if sub in ("AT_DropColumn", "AT_DropConstraint"):
                    part = "COLUMN" if sub == "AT_DropColumn" else "CONSTRAINT"
                    found.append(f"ALTER TABLE {_relation(fields, show)} DROP {part} "
                                 f"{cmd['AlterTableCmd'].get('name', '')} removes it")
        elif name == "VacuumStmt" and _has_option(fields, "full"):
            found.append("VACUUM FULL locks the table for the whole rewrite")
        elif name == "ClusterStmt":
            found.append("CLUSTER locks the table for the whole rewrite")
        elif name == "CopyStmt" and fields.get("is_program"):
            found.append("COPY … PROGRAM runs a shell command on the database server")
        elif name == "FuncCall" and _function(fields) in _DANGER_FUNCTIONS:
            found.append(_DANGER_FUNCTIONS[_function(fields)])
        elif name == "MergeWhenClause" and fields.get("commandType") == "CMD_DELETE":
            found.append(f"MERGE … THEN DELETE{where} deletes rows")
        elif name == "DoStmt":  # a DELETE inside `DO $$ … $$` is text to the parser
            found.append("DO runs procedural code whose effects vvrun cannot read")
        elif name == "CallStmt":
            found.append(f"CALL {_function(fields.get('funccall', {}))} runs a procedure "
                         "whose effects vvrun cannot read")
    return found


def _names_of_relations(fields: Node, show: Callable[[str], str]) -> str:
    return ", ".join(_relation({"relation": r.get("RangeVar", {})}, show)
                     for r in fields.get("relations", []))


def not_read_only(stmt: Node) -> str | None:
    """None when the statement provably only reads; else why it cannot be proven so."""
    (name, fields), = stmt.items()
    label = kind(stmt)
    if name == "ExplainStmt":
        return not_read_only(fields["query"]) if _has_option(fields, "analyze") else None
    if name == "VariableSetStmt":
        setting = str(fields.get("name", "")).lower()
        if fields.get("is_local") and not setting.startswith(_READ_ONLY_SETTINGS):
            return None
        return (f"{label} {fields.get('name', '')} can change the transaction's read-only mode or "
                "outlive the step (only `SET LOCAL` of other settings is allowed)")
    if name == "TransactionStmt":
        return f"transaction control ({label}) would end vvrun's READ ONLY transaction"
    if name not in ("SelectStmt", "VariableShowStmt"):
        return f"{label} is not a read-only statement"
    if "intoClause" in fields:
        return "SELECT … INTO creates a table"
    for node, node_fields, _ in walk(stmt):
        if node in _WRITES:
            return f"data-modifying CTE ({_WRITES[node]} inside WITH)"
        if node == "LockingClause":
            return "SELECT … FOR UPDATE/SHARE locks rows"
        if node == "FuncCall":
            func = _function(node_fields)
            if func in _WRITE_FUNCTIONS or func.startswith(_WRITE_PREFIXES):
                return f"{func}() changes something on the server"
    return None


def _function(fields: Node) -> str:
    names = fields.get("funcname", [])
    return names[-1].get("String", {}).get("sval", "") if names else ""


def _has_option(fields: Node, option: str) -> bool:
    return any(o.get("DefElem", {}).get("defname") == option for o in fields.get("options", []))


def _ignores_rows(cond: Node) -> bool:
    """A WHERE that is always true, or that names no column (the same for every row: all of
    them, unless it is plainly false)."""
    value = _constant(cond)
    if value is True:  # `id = 3 OR 1 = 1` too
        return True
    return value is not False and not any(name == "ColumnRef" for name, _, _ in walk(cond))


def _constant(expr: Node) -> Any:
    """The value of a constant expression we can fold (booleans, numbers, strings), else None."""
    (name, fields), = expr.items()
    if name == "A_Const":
        for key in ("boolval", "ival", "fval", "sval"):
            if key in fields:
                value = fields[key].get(key, 0 if key == "ival" else False)
                return float(value) if key == "fval" else value
        return None
    if name == "BoolExpr":
        args = [_constant(a) for a in fields.get("args", [])]
        op = fields.get("boolop")
        if op == "NOT_EXPR":
            return None if args[0] is None else not args[0]
        if op == "OR_EXPR":
            return True if True in args else (None if None in args else False)
        return False if False in args else (None if None in args else True)
    if name == "A_Expr" and fields.get("kind") == "AEXPR_OP":
        left, right = _constant(fields.get("lexpr", {"X": {}})), _constant(fields["rexpr"])
        op = fields["name"][-1]["String"]["sval"]
        compare = {"=": left == right, "<>": left != right, "!=": left != right}
        if left is None or right is None or op not in compare:
            return None
        return compare[op]
    return None


def _where_text(cond: Node, source: bytes) -> str:
    starts = [f["location"] for _, f, _ in walk(cond) if f.get("location", -1) >= 0]
    start = min(starts, default=0)
    text = source[start:].decode("utf-8", "replace").split(";")[0]
    snippet = " ".join(text.split())
    for stop in (" RETURNING ", " returning "):
        snippet = snippet.split(stop)[0]
    return "WHERE " + (snippet if len(snippet) <= 40 else snippet[:39] + "…")
