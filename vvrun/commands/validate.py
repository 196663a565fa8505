"""`vvrun validate PATH...` (schema and meaning checks) and `vvrun schema` (the JSON Schema).

Validation imports no driver (psycopg, redis, httpx) and no rich: it must stay as cheap as
loading YAML and jsonschema (tests/test_imports.py proves the imports, bench/ the time).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence

import click

from vvrun.commands.paths import expand
from vvrun.errors import EXIT_INVALID, EXIT_OK, Problem

FORMATS = ("text", "json", "github")


def check_paths(paths: Sequence[str], *, strict: bool = False) -> tuple[int, list[Problem]]:
    """(number of files, every problem) for the files and folders in `paths`. With `strict`,
    warnings are reported as errors."""
    from vvrun.language.pipeline import check_file

    files, problems = expand(paths)
    for file in files:
        problems += check_file(file)[1]
    if strict:
        problems = [_as_error(p) for p in problems]
    return len(files), problems


def _as_error(p: Problem) -> Problem:
    if p.severity == "error":
        return p
    return Problem(p.message, p.where, "error", p.hint, p.code)


def summary(files: int, problems: Iterable[Problem]) -> str:
    problems = list(problems)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors

    def n(count: int, word: str) -> str:
        return f"{count} {word}{'' if count == 1 else 's'}"

    return f"{n(files, 'file')}, {n(errors, 'error')}, {n(warnings, 'warning')}"


def _github_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def format_github(p: Problem) -> str:
    """A GitHub Actions workflow command: an annotation on the file and line."""
    props = [f"file={_github_escape(p.where.file or '', prop=True)}"]
    if p.where.line is not None:
        props.append(f"line={p.where.line}")
        props.append(f"col={p.where.column or 1}")
    props.append("title=" + _github_escape(f"vvrun {p.code or p.severity}", prop=True))
    message = p.message
    if p.where.step_id:
        message += f" [{p.where.step_id}]"
    if p.hint:
        message += f"\nhint: {p.hint}"
    return f"::{p.severity} {','.join(props)}::{_github_escape(message)}"


def to_json(files: int, problems: Sequence[Problem]) -> str:
    errors = sum(p.severity == "error" for p in problems)
    return json.dumps({
        "files": files,
        "errors": errors,
        "warnings": len(problems) - errors,
        "problems": [
            {"file": p.where.file, "line": p.where.line, "column": p.where.column,
             "step": p.where.step_id, "severity": p.severity, "code": p.code,
             "message": p.message, "hint": p.hint}
            for p in problems
        ],
    }, indent=2)


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text: file:line:col lines; json; github: workflow annotations.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.pass_context
def validate(ctx: click.Context, paths: tuple[str, ...], fmt: str, strict: bool) -> None:
    """Check runbooks (files or folders): YAML, schema and meaning, every problem in one pass.

    Exit 0 when clean (warnings allowed unless --strict), 2 otherwise.
    """
    files, problems = check_paths(paths, strict=strict)
    out = sys.stdout
    if fmt == "json":
        out.write(to_json(files, problems) + "\n")
    else:
        for p in problems:
            out.write((format_github(p) if fmt == "github" else p.format()) + "\n")
        out.write(summary(files, problems) + "\n")
    failed = any(p.severity == "error" for p in problems)
    ctx.exit(EXIT_INVALID if failed else EXIT_OK)


@click.command()
@click.option("--format", "fmt", type=click.Choice(("json", "markdown")), default="json",
              show_default=True, help="json: the JSON Schema; markdown: the language reference.")
def schema(fmt: str) -> None:
    """Print the runbook JSON Schema (what `schema/runbook.schema.json` holds), or the
    language reference made from it (docs/reference.md)."""
    if fmt == "markdown":
        from vvrun.language.schema.reference import reference_markdown

        sys.stdout.write(reference_markdown())
        return
    from vvrun.language.schema.document import schema_text

    sys.stdout.write(schema_text())
