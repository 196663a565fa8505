"""May a failed request be sent again? (SPEC §3.3)

A POST or PATCH that may have reached the server — it timed out after being sent, the
connection broke, the server answered — is not repeated: the server may have acted on it, and
a second copy would act twice. It is repeated when the step says it is safe (`idempotent:
true`) or the server can tell the copies apart (an `Idempotency-Key` header, the same on every
attempt; `idempotency_key: true` makes vvrun add one derived from the run and the step).
Failing to connect is always safe to retry: nothing was sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

#: Methods that are not idempotent by definition (RFC 9110 §9.2.2).
NOT_IDEMPOTENT = frozenset({"POST", "PATCH"})
HEADER = "Idempotency-Key"
#: Statuses that say the request was not acted on, so another attempt is welcome.
NOT_PROCESSED = frozenset({429})


def derived_key(run_id: str, step_key: str) -> str:
    """The same key for every attempt of one step (item included) in one run, resumes too."""
    digest = hashlib.sha256(f"vvrun\0{run_id}\0{step_key}".encode()).hexdigest()
    return f"vvrun-{digest[:32]}"


def has_key(headers: Iterable[tuple[str, str]]) -> bool:
    return any(k.lower() == HEADER.lower() and v.strip() for k, v in headers)


def mark_reached(exc: BaseException, how: str) -> BaseException:
    """Note on an error that the request may have reached the server, and how."""
    exc.reached = how  # type: ignore[attr-defined]
    return exc


def retry_refusal(action: Any, exc: BaseException, *, idempotent: bool) -> tuple[str, str] | None:
    """(why not, how to allow it) when this failure must not be retried; None when it may."""
    reached = getattr(exc, "reached", None)
    if reached is None or action.method not in NOT_IDEMPOTENT or idempotent:
        return None
    if has_key(action.headers) or getattr(action, "idempotency_key", False):
        return None
    return (f"not retried: {action.method} is not idempotent and {reached}, so the server may "
            "have acted on it and another attempt could do it twice",
            "if repeating it is harmless, set `idempotent: true` on the step; if the server "
            f"dedupes by `{HEADER}`, send one (or set `idempotency_key: true` and vvrun sends "
            "the same key on every attempt)")
