"""The sandbox's errors: it could not start, be found or be stopped, or its binaries are missing."""

from __future__ import annotations

from typing import ClassVar

from vvrun.errors import EXIT_FAILED, VvrunError

INSTALL_HINT = "pip install 'vvrun[sandbox]' (or `make demo`, which installs it)"
BROKEN_HINT = "`vvrun sandbox down` clears a broken sandbox; then try again"


class SandboxError(VvrunError):
    """The sandbox could not be started, found or stopped."""

    exit_code: ClassVar[int] = EXIT_FAILED


class SandboxUnavailable(SandboxError):
    """The server binaries (the `vvrun[sandbox]` extra, or the ones named) are not there."""
