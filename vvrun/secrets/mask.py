"""The Masker: every writer of text (console, JSON events, state, audit, errors) goes through it.

Imported as `from vvrun.secrets import Masker`. Known secrets (and the encodings they leak in)
are found in one pass by one compiled alternation of escaped literals, longest first — `re`
matches literals without backtracking, so the pass is linear in the text; secrets found by
their shape (URL passwords, `password=`, Authorization headers) are `scan.py`'s passes.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from vvrun.secrets.forms import (
    CONNECTION_SCHEMES,
    MIN_SECRET_LENGTH,
    connection_url_passwords,
    env_name_is_secret,
    forms,
    parts_to_mask,
)
from vvrun.secrets.scan import MASK, by_shape

__all__ = ["CONNECTION_SCHEMES", "MASK", "MIN_SECRET_LENGTH", "Masker",
           "connection_url_passwords", "env_name_is_secret"]

#: Short strings (keys, statuses, ids, small values) recur in every event of every step: their
#: masked form is remembered until the secrets change (PERF-NOTES: per-step cost), up to a bound.
MEMO_MAX_LEN = 256
MEMO_MAX_ENTRIES = 4096

#: Keys whose value is a credential whatever it looks like (HTTP headers in results, events).
SECRET_KEYS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie",
                         "x-api-key", "api-key", "x-auth-token"})


class Masker:
    """Replaces known secrets, and secrets found by their shape, with `***`."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._forms: set[str] = set()
        self._values: set[str] = set()  # the secrets as added (for `is_secret`)
        self._pattern: re.Pattern[str] | None = None
        self._dirty = False
        self._lock = threading.Lock()
        self._memo: dict[str, str] = {}
        for s in secrets:
            self.add(s)

    def add(self, secret: Any) -> None:
        """Mask `secret` from now on (a multi-line one also line by line); a connection
        string hides only its password."""
        if secret is None:
            return
        s = str(secret)
        if len(s) < MIN_SECRET_LENGTH or s in self._values:
            return
        new: set[str] = set()
        for part in parts_to_mask(s):
            new |= forms(part)
            if "\n" in part:  # a PEM key or a multi-line token printed line by line
                for line in part.splitlines():
                    if len(line.strip()) >= MIN_SECRET_LENGTH:
                        new |= forms(line.strip())
        with self._lock:
            self._values.add(s)
            if not new <= self._forms:
                self._forms |= new
                self._dirty = True  # compiled at the next mask: adding many costs one compile
                self._memo = {}  # a string masked before may hold the new secret

    def add_env(self, environ: Mapping[str, str]) -> None:
        """Mask the values of environment variables whose names look secret."""
        for name, value in environ.items():
            if env_name_is_secret(name):
                self.add(value)

    def is_secret(self, value: str) -> bool:
        """True when `value` was added as a secret (exactly)."""
        return value in self._values

    def contains_secret(self, text: str) -> bool:
        """True when masking would change `text`."""
        return self.mask(text) != text

    def __call__(self, text: str) -> str:
        return self.mask(text)

    def _compiled(self) -> re.Pattern[str] | None:
        if self._dirty:
            with self._lock:
                # longest first, so a secret containing another is masked whole
                alternatives = sorted(self._forms, key=lambda f: (-len(f), f))
                self._pattern = re.compile("|".join(map(re.escape, alternatives)))
                self._dirty = False
        return self._pattern

    def _literals(self, text: str) -> str:
        pattern = self._compiled()
        return text if pattern is None else pattern.sub(MASK, text)

    def mask(self, text: str) -> str:
        if not isinstance(text, str):
            text = str(text)
        text = str.__str__(text)
        memo = self._memo
        done = memo.get(text)
        if done is not None:
            return done
        masked = by_shape(self._literals(text))
        if len(text) <= MEMO_MAX_LEN:
            if len(memo) >= MEMO_MAX_ENTRIES:
                memo.clear()
            memo[text] = masked
        return masked

    def mask_obj(self, obj: Any) -> Any:
        """Mask every string inside a JSON-like structure (results, events); the value of a
        credential header (`Authorization`, `Cookie`) is masked whole."""
        kind = type(obj)  # exact types first: an ABC check per value cost most of an event
        if kind is str:
            return self.mask(obj)
        if kind is int or kind is float or kind is bool or obj is None:
            return obj
        if kind is dict or isinstance(obj, Mapping):
            return self._mapping(obj)
        if kind is list or kind is tuple or isinstance(obj, list | tuple):
            return [self._leaf(v) for v in obj]
        if isinstance(obj, str):  # a str subclass (a tainted value)
            return self.mask(obj)
        return obj

    def _leaf(self, value: Any) -> Any:
        """`mask_obj` for one value inside a container, with the common cases inline: an
        event is mostly short strings and numbers, and a call per value cost most of it."""
        kind = type(value)
        if kind is str:
            done = self._memo.get(value)
            return done if done is not None else self.mask(value)
        if kind is int or kind is float or kind is bool or value is None:
            return value
        return self.mask_obj(value)

    def _mapping(self, obj: Mapping[Any, Any]) -> dict[str, Any]:
        memo = self._memo
        out = {}
        for k, v in obj.items():
            key = memo.get(k) if type(k) is str else None
            if key is None:
                key = self.mask(k if type(k) is str else str(k))
            if isinstance(v, str) and key.lower() in SECRET_KEYS:
                out[key] = _credential(v)
            else:
                out[key] = self._leaf(v)
        return out


def _credential(value: str) -> str:
    scheme, _, rest = value.strip().partition(" ")
    if rest and scheme.lower() in ("basic", "bearer", "token", "digest", "negotiate"):
        return f"{scheme} {MASK}"
    return MASK
