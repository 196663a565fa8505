"""What `vvrun serve` was told, decided once at the edge and passed to every route."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from vvrun.secrets import Masker


@dataclass
class ServeConfig:
    runbooks_dir: str
    environ: dict[str, str]
    work_dir: str  # worker logs, the cookie key, vars files in flight
    secret: bytes  # signs cookies and CSRF tokens
    auth_header: str | None = None  # trusted header set by an authenticating proxy
    tokens: dict[str, str] = field(default_factory=dict)  # token -> user
    masker: Masker = field(default_factory=Masker)
    python: str = sys.executable
    scheduler: bool = True
    tick: float = 30.0  # seconds between two looks at the schedules
    max_lateness: float = 86400.0  # a missed slot older than this is not caught up
    clock: Any = None  # () -> epoch seconds for the scheduler; None: the real time

    def now(self) -> float:
        import time

        return float(self.clock()) if self.clock is not None else time.time()

    @contextmanager
    def store(self) -> Iterator[Any]:
        from vvrun.state import open_store

        store = open_store(self.environ, masker=self.masker)
        try:
            yield store
        finally:
            store.close()

    def path(self, *parts: str) -> str:
        return os.path.join(self.work_dir, *parts)


def load_secret(work_dir: str) -> bytes:
    """The key that signs cookies: kept in the work dir (mode 0600) so that a restart, or a
    second `serve` sharing the dir, keeps everyone signed in."""
    path = os.path.join(work_dir, "cookie.key")
    os.makedirs(work_dir, mode=0o700, exist_ok=True)
    try:
        with open(path, "rb") as fh:
            key = fh.read()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def read_tokens(path: str) -> dict[str, str]:
    """`token user` a line; blank lines and `#` comments ignored."""
    from vvrun.errors import UsageError

    tokens: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise UsageError(f"--auth {path}: cannot read the token file ({exc.strerror})",
                         hint="give a file of `token user` lines") from exc
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split()
        if len(parts) != 2 or len(parts[0]) < 16:
            raise UsageError(f"{path}:{number}: expected `token user` with a token of at "
                             "least 16 characters",
                             hint="e.g. `3f9a0c...e1 alice` (make tokens with "
                             "`openssl rand -hex 24`)")
        tokens[parts[0]] = parts[1]
    return tokens
