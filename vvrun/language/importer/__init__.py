"""Markdown runbook → vvrun runbooks (`vvrun import`, SPEC §10).

    import_markdown(raw, source) -> [Imported]   one per procedure; each validated --strict

Reading (markdown.py) → finding procedures (procedures.py, fence.py, commands.py) → runbook
data and YAML with `# review:` comments (runbook.py, emit.py) → validation (check.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from vvrun.errors import UsageError

MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Imported:
    name: str  # the slug; the file is <name>.yaml
    text: str  # the YAML
    steps: int
    reviews: int


def decode(raw: bytes, source: str) -> str:
    """The document's text; refuses what is too large or not UTF-8, saying where."""
    if len(raw) > MAX_BYTES:
        raise UsageError(f"{source} is larger than {MAX_BYTES // 1024} KiB",
                         hint="split the document, or import the part that holds the procedures")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UsageError(f"{source} is not valid UTF-8: byte 0x{raw[exc.start]:02x} at offset "
                         f"{exc.start} (line {line})", hint="save the file as UTF-8") from None


def import_markdown(raw: bytes, source: str) -> list[Imported]:
    """Every procedure in the Markdown document as a runbook that validates --strict."""
    from vvrun.language.importer.check import check_strict
    from vvrun.language.importer.markdown import read_sections
    from vvrun.language.importer.procedures import build, find
    from vvrun.language.importer.runbook import render, slug

    text = decode(raw, source)
    out: list[Imported] = []
    names: set[str] = set()
    for section in find(read_sections(text)):
        proc = build(section)
        if not proc.steps:
            continue
        name = slug(section.title) or f"procedure-{section.line}"
        if not name[0].isalnum():
            name = "p" + name
        base, n = name, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.add(name)
        yaml_text, steps, reviews = render(proc, name, source)
        check_strict(yaml_text, f"{name}.yaml (imported from {source}:{section.line})")
        out.append(Imported(name, yaml_text, steps, reviews))
    if not out:
        raise UsageError(f"{source}: no procedure found",
                         hint="a procedure is a heading followed by commands (```bash, ```sql, "
                         "```redis fences) or a numbered list of steps")
    return out
