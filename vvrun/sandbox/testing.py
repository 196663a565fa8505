"""The test fixtures' sandbox: started once per process, stopped when that process exits."""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
from pathlib import Path

from vvrun.sandbox.errors import SandboxError
from vvrun.sandbox.lifecycle import down, up, with_client_path
from vvrun.sandbox.processes import pid_alive
from vvrun.sandbox.state import Sandbox, read

TEST_PREFIX = "vvrun-test-sandbox-"
_test_sandbox: Sandbox | None = None


def reap_stale_test_sandboxes() -> None:
    """Stop what test sessions killed with SIGKILL (their atexit never ran) left behind."""
    for path in Path(tempfile.gettempdir()).glob(TEST_PREFIX + "*"):
        with contextlib.suppress(SandboxError, OSError):
            recorded = read(path)
            if recorded is not None and not pid_alive(recorded.owner_pid):
                down(path)


def test_services() -> dict[str, str]:
    """{"postgres": url, "redis": url} for the test fixtures: a fresh sandbox, started once
    per process and stopped when it exits.

    It also puts the server's bin directory first on this process's PATH, so that the
    runbooks' psql and pg_dump that the tests run are the sandbox server's version.
    """
    global _test_sandbox
    if _test_sandbox is None:
        reap_stale_test_sandboxes()
        root = Path(tempfile.mkdtemp(prefix=TEST_PREFIX))
        root.chmod(0o755)  # mkdtemp makes it 0700; the server's user must reach it when root
        try:
            _test_sandbox = up(root, owner_pid=os.getpid())
        except BaseException:
            down(root)
            raise
        atexit.register(down, root)
        os.environ["PATH"] = with_client_path(os.environ.get("PATH", ""),
                                              Path(_test_sandbox.postgres.binary))
    return {"postgres": _test_sandbox.postgres.url, "redis": _test_sandbox.redis.url}


test_services.__test__ = False  # type: ignore[attr-defined]  # not a test, despite its name
