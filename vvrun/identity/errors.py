"""Why an identity could not be set up or an approval was not accepted."""

from __future__ import annotations

from typing import ClassVar

from vvrun.errors import EXIT_FAILED, UsageError, VvrunError


class IdentitySetupError(UsageError):
    """Nothing to sign or verify with: no key, no allowed_signers, no ssh-keygen (exit 2)."""


class ApprovalRefused(VvrunError):
    """A signature does not prove what it claims, or the approvers do not suffice (exit 1)."""

    exit_code: ClassVar[int] = EXIT_FAILED
