"""Which file system a path lives on, read from `/proc/self/mountinfo`: SQLite's locks are
unreliable on network file systems, so a SQLite store there is refused."""

from __future__ import annotations

import os
from pathlib import Path

from vvrun.errors import StateError

NETWORK_FS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "coda", "fuse.sshfs", "ceph",
    "glusterfs", "fuse.glusterfs", "lustre", "fuse.s3fs", "davfs", "fuse.davfs2",
})


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes (\040 ...)
    return field.encode().decode("unicode_escape") if "\\" in field else field


def fs_type(path: str | os.PathLike[str], mountinfo: str) -> str | None:
    """The type of the file system holding `path` (the longest mount point above it)."""
    target = str(path)
    best, best_type = "", None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right.split():
            continue
        point = _unescape(fields[4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, right.split()[0]
    return best_type


def refuse_network_fs(path: str | os.PathLike[str], mountinfo: str | None = None) -> None:
    """StateError if the SQLite store at `path` would live on a network file system."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text(errors="replace")
        except OSError:
            return  # not Linux: nothing to read, nothing to refuse
    kind = fs_type(os.path.realpath(path), mountinfo)  # symlinks resolved, as far as they go
    if kind in NETWORK_FS:
        raise StateError(
            f"state store {path} is on a network file system ({kind}), where SQLite's locks "
            "are unreliable: two vvruns could both run one step",
            hint="use a local path (VVRUN_STATE=/local/path/state.db), or a team store on "
                 "PostgreSQL: VVRUN_STATE=postgresql://user@host/db")
