"""The runbook files a command reads, and what is wrong with a path that cannot be read — said
once, the same way by `validate`, `plan`, `run` and `docs` (SPEC §8: what, where, and the
nearest name when a file is missing).

    path_problem(path)     -> Problem | None    missing (with did-you-mean), link loop, no access
    require_runbook(path)                       raises RunbookInvalid with that problem
    expand(paths)          -> (files, problems) folders walked; an empty or unreadable one is a
                                                problem, never a silent "0 files" (CI would pass)
    write_atomic(path, text)                    a reader never sees half a file
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence
from pathlib import Path

from vvrun.errors import Location, Problem, RunbookInvalid
from vvrun.text.suggest import nearest_path

EXTENSIONS = (".yaml", ".yml")
MISSING = "no such file or folder"

_CI_JOBS = re.compile(r"^jobs\s*:", re.M)
_RUNBOOK_STEPS = re.compile(r"^steps\s*:", re.M)


def path_problem(path: str, *, hint: str = "check the path") -> Problem | None:
    """Why `path` cannot be opened at all, or None when it exists (a folder, a FIFO or a device
    exists: the caller or the loader says what it is). `hint` is for a missing path with no
    near name."""
    try:
        os.stat(path)
    except OSError as exc:
        return _os_problem(path, exc, hint)
    return None


def _os_problem(path: str, exc: OSError, hint: str) -> Problem:
    where = Location(path)
    if exc.errno == errno.ELOOP:
        return Problem(f"cannot read: {exc.strerror} (a symbolic link loop)", where,
                       hint="the link leads back to itself: point it at a runbook file "
                       "(`ls -l` shows where each link leads)", code="io")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        if os.path.islink(path):  # `exists` says False for a link whose target is gone
            return Problem(f"is a symbolic link to {os.readlink(path)}, which does not exist",
                           where, hint="point the link at an existing runbook file", code="io")
        near = nearest_path(path)
        return Problem(MISSING, where, hint=f"did you mean '{near}'?" if near else hint,
                       code="io")
    if exc.errno == errno.EACCES:
        hint = "check the permissions of the file and of the folders above it"
    return Problem(f"cannot read: {exc.strerror or exc}", where, hint=hint, code="io")


def require_runbook(path: str) -> None:
    """Raise RunbookInvalid when `path` cannot be opened, saying why (the loader's own message
    for a missing file has no did-you-mean, and plan and run should say what validate says)."""
    problem = path_problem(path)
    if problem is not None:
        raise RunbookInvalid([problem])


def expand(paths: Sequence[str]) -> tuple[list[str], list[Problem]]:
    """Files as given, folders expanded to their `*.yaml`/`*.yml` (recursive, sorted; hidden
    folders and CI workflows passed over). A file named explicitly is always checked."""
    files: list[str] = []
    problems: list[Problem] = []
    for path in paths:
        problem = path_problem(path, hint="give runbook files or folders")
        if problem is not None:
            problems.append(problem)
        elif os.path.isdir(path):
            found, trouble = _walk(path)
            files += found
            problems += trouble
        else:  # a FIFO or a device too: the loader says what it is and refuses it
            files.append(path)
    return files, problems


def _walk(folder: str) -> tuple[list[str], list[Problem]]:
    found: list[str] = []
    problems: list[Problem] = []
    passed_over = 0
    seen: set[tuple[int, int]] = set()

    def unreadable(exc: OSError) -> None:
        # os.walk (like Path.rglob) would skip an unreadable folder without a word
        problems.append(Problem(f"cannot read folder: {exc.strerror or exc}",
                                Location(exc.filename or folder),
                                hint="vvrun needs to list (r) and enter (x) it: check its "
                                "permissions", code="io"))

    for here, dirs, names in os.walk(folder, onerror=unreadable, followlinks=True):
        key = _identity(here)
        if key in seen:  # a linked folder that leads back up: walk it once
            dirs[:] = []
            continue
        seen.add(key)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            full = str(Path(here, name))  # as Path.rglob spells it: `x.yaml`, not `./x.yaml`
            if name.startswith(".") or os.path.splitext(name)[1] not in EXTENSIONS:
                continue
            if not os.path.exists(full):  # a dangling or looping link: say so, do not skip
                problems.append(path_problem(full) or Problem(MISSING, Location(full)))
            elif not os.path.isfile(full):
                continue
            elif _is_ci_workflow(full):
                passed_over += 1
            else:
                found.append(full)
    if not found and not problems:
        also = f"; {passed_over} CI workflow file(s) passed over" if passed_over else ""
        problems.append(Problem(
            f"no runbooks found in this folder (looked for *.yaml, *.yml{also})",
            Location(folder), hint="give a folder that holds runbooks, or the runbook files",
            code="io"))
    return sorted(found), problems


def _identity(folder: str) -> tuple[int, int]:
    try:
        st = os.stat(folder)
    except OSError:
        return (0, 0)  # os.walk reports it through `unreadable`
    return (st.st_dev, st.st_ino)


def _is_ci_workflow(path: str) -> bool:
    """A GitHub Actions / GitLab CI file (top-level `jobs:`, no `steps:`) kept beside runbooks,
    such as examples/ci/: not a runbook, so a folder walk passes it over."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return False
    return bool(_CI_JOBS.search(text)) and not _RUNBOOK_STEPS.search(text)


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`."""
    import tempfile  # only when writing: it costs ~5 ms of a cold start (see cli.py)

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
