"""The audit chain's key: 32 random bytes kept outside the store it protects.

A SQLite store's key is `audit.key` beside the store file (for the default store,
`$XDG_STATE_HOME/vvrun/audit.key`); a team (PostgreSQL) store is given its key
(`secrets.audit_key`), or uses this machine's `$XDG_STATE_HOME/vvrun/audit.key`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from vvrun.errors import StateError

KEY_BYTES = 32
KEY_NAME = "audit.key"


def default_key_path(environ: Mapping[str, str]) -> Path:
    """`$XDG_STATE_HOME/vvrun/audit.key`, falling back to `~/.local/state/vvrun/audit.key`."""
    base = environ.get("XDG_STATE_HOME", "")
    if not base or not os.path.isabs(base):  # the XDG spec says to ignore relative paths
        home = environ.get("HOME") or os.path.expanduser("~")
        base = os.path.join(home, ".local", "state")
    return Path(base) / "vvrun" / KEY_NAME


def load_key(path: str | os.PathLike[str]) -> bytes:
    """The key at `path`, created (0600, `secrets.token_bytes(32)`) if it does not exist.
    A key others could read or write is refused: with it, anyone could rewrite the trail."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return _create(path)
    except OSError as exc:
        raise StateError(f"cannot read the audit key {path}: {exc.strerror}",
                         hint="check the file's owner and permissions (it must be yours, "
                              "mode 0600)") from exc
    try:
        st = os.fstat(fd)
        _check_mode(path, st)
        data = os.read(fd, KEY_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) != KEY_BYTES:
        raise StateError(f"the audit key {path} is {len(data)} bytes, not {KEY_BYTES}",
                         hint="restore it from a backup; without the right key no run's "
                              "trail in this store verifies")
    return data


def _check_mode(path: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise StateError(f"the audit key {path} is not a regular file",
                         hint="remove it, or restore the key file from a backup")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise StateError(
            f"the audit key {path} has mode {mode:04o}: others may read or change it",
            hint=f"make it private: `chmod 600 {path}` (and check nobody else copied it)")


def _create(path: Path) -> bytes:
    key = secrets.token_bytes(KEY_BYTES)
    tmp = path.with_name(f".{path.name}.new-{secrets.token_hex(6)}")
    try:
        new_dir = not path.parent.exists()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if new_dir:
            os.chmod(path.parent, 0o700)
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)  # another process may have made one first: theirs wins
    except FileExistsError:
        return load_key(path)
    except OSError as exc:
        raise StateError(f"cannot create the audit key {path}: {exc.strerror}",
                         hint="check that its directory is writable by you and the disk "
                              "has room") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return key
