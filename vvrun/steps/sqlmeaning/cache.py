"""A disk cache of SQL meanings, so that `validate` of an unchanged runbook does not load the
parser (pglast costs more to import than the rest of `validate` spends on a small runbook).

One small JSON file per text under `$XDG_CACHE_HOME/vvrun/sql-meaning/`, named by the sha256 of
the text salted with the analyser's own source and the installed parser, so that a new vvrun or
pglast never reads an old answer. Writes are atomic (a temporary file renamed into place); a
missing, unreadable or damaged entry is a miss, never an error. While a plan's no-side-effects
guard is active the cache is only read.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

_MAX_ENTRY_BYTES = 1 << 20


def directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base) / "vvrun" / "sql-meaning"


@functools.cache
def _salt() -> bytes:
    digest = hashlib.sha256()
    for path in sources():
        with contextlib.suppress(OSError):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(_parser_identity().encode())
    return digest.digest()


def sources() -> list[Path]:
    """The analyser's own source files (this package): a change to any of them is a new
    salt. Listed, not named, so that a renamed module cannot drop out of it."""
    return sorted(Path(__file__).parent.glob("*.py"))


def _parser_identity() -> str:
    """Which pglast is installed, found without importing it (that is the cost we avoid)."""
    from importlib.util import find_spec

    try:
        spec = find_spec("pglast")
    except (ImportError, ValueError):
        return "none"
    locations = list(spec.submodule_search_locations or []) if spec else []
    parts = []
    for folder in locations:
        with contextlib.suppress(OSError):
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.name.startswith("parser"):
                    st = entry.stat()
                    parts.append(f"{entry.path}:{st.st_size}:{st.st_mtime_ns}")
    return ";".join(parts) or "none"


def key(text: str) -> str:
    return hashlib.sha256(_salt() + text.encode("utf-8", "surrogatepass")).hexdigest()


def load(name: str) -> dict[str, Any] | None:
    try:
        with open(directory() / f"{name}.json", "rb") as f:
            data = json.loads(f.read(_MAX_ENTRY_BYTES))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def store(name: str, value: dict[str, Any]) -> None:
    from vvrun import guard

    if guard.active():  # a plan writes nothing, not even a cache
        return
    folder = directory()
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(value, f, separators=(",", ":"))
        os.replace(tmp, folder / f"{name}.json")
        tmp = None
    except OSError:
        pass  # a cache that cannot be written is only slower
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
