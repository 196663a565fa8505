"""`vvrun import FILE.md [--out DIR] [--force]`: Markdown runbooks → one YAML runbook per
procedure (SPEC §10). Nothing is written unless every file can be: an existing file stops
the whole import (naming it) unless `--force`."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import click

from vvrun.commands.paths import write_atomic
from vvrun.errors import UsageError


def _read(path: str) -> bytes:
    from vvrun.language.importer import MAX_BYTES

    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path} is not a regular file", hint="give a Markdown file")
        with open(path, "rb") as fh:
            return fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}",
                         hint="check the path") from None


@click.command("import")
@click.argument("file", metavar="FILE.md")
@click.option("--out", "out", default=".", show_default=True, metavar="DIR",
              help="Folder to write DIR/<name>.yaml into.")
@click.option("--force", is_flag=True, help="Overwrite runbooks that already exist.")
def import_md(file: str, out: str, force: bool) -> None:
    """Turn a Markdown runbook into vvrun runbooks, one per procedure, each with `# review:`
    notes for every guess made. Every file written validates with `validate --strict`."""
    from vvrun.language.importer import import_markdown

    results = import_markdown(_read(file), file)
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{out} is not a folder", hint="give --out a folder")
    targets = [folder / f"{r.name}.yaml" for r in results]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        shown = ", ".join(existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5
                                            else "")
        raise UsageError(f"{shown} already exist{'s' if len(existing) == 1 else ''}; "
                         "nothing was written",
                         hint="pass --force to overwrite, or --out another folder")
    folder.mkdir(parents=True, exist_ok=True)
    width = max(len(str(t)) for t in targets)
    total = 0
    for result, target in zip(results, targets, strict=True):
        write_atomic(target, result.text)
        total += result.reviews
        s = "" if result.steps == 1 else "s"
        sys.stdout.write(f"{target!s:<{width}}  {result.steps:>3} step{s}  "
                         f"{result.reviews:>3} to review\n")
    sys.stdout.write(f"{len(results)} runbook{'' if len(results) == 1 else 's'} written, "
                     f"{total} review note{'' if total == 1 else 's'}: read each `# review:` "
                     "comment, then `vvrun validate --strict`\n")
