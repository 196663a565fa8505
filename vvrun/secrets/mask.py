"""The Masker: every writer of text (console, JSON events, state, audit, errors) goes through it.

Imported as `from vvrun.secrets import Masker`; this module holds its algorithm.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

MASK = "***"
MIN_SECRET_LENGTH = 3  # shorter values would mask ordinary text everywhere
_SECRET_ENV = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY$|^KEY$|PASSWD|CREDENTIAL)", re.I)
#: URLs whose only secret part is the password: the operator must see which server and
#: database a step changes (SPEC §5.3). A webhook URL (https) is secret whole.
CONNECTION_SCHEMES = frozenset({"postgres", "postgresql", "redis", "rediss", "unix", "mysql",
                                "mariadb", "mongodb", "mongodb+srv", "amqp", "amqps"})
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s/]+)(?=@)")


def env_name_is_secret(name: str) -> bool:
    return bool(_SECRET_ENV.search(name))


def _forms(secret: str) -> set[str]:
    """The secret as written plus the encodings it commonly leaks in."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    raw = secret.encode()
    for encoder in (base64.b64encode, base64.urlsafe_b64encode):
        enc = encoder(raw).decode().rstrip("=")
        # the last character may depend on what follows; mask the stable part
        forms.add(enc[:-1] if len(raw) % 3 else enc)
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


def connection_url_passwords(value: str) -> list[str] | None:
    """The passwords inside a database or Redis URL (`postgres://ops:PW@db/x`, `?password=PW`),
    or None when `value` is not such a URL (then the whole value is the secret)."""
    text = value.strip()
    if "\n" in text or "://" not in text:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in CONNECTION_SCHEMES or not (parts.netloc or parts.path):
        return None
    found = [unquote(parts.password)] if parts.password else []
    found += [v for k, v in parse_qsl(parts.query) if k.lower() in ("password", "sslpassword")]
    return found


class Masker:
    """Replaces known secrets, and passwords inside URLs, with `***`."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for s in secrets:
            self.add(s)

    def add(self, secret: Any) -> None:
        if secret is None:
            return
        s = str(secret)
        if len(s) < MIN_SECRET_LENGTH:
            return
        passwords = connection_url_passwords(s)
        if passwords is not None and all(len(p) >= MIN_SECRET_LENGTH for p in passwords):
            if not passwords:
                return  # a connection URL without a password hides nothing
            for password in passwords:
                self._forms |= _forms(password)
        else:
            self._forms |= _forms(s)
        # longest first, so a secret containing another is masked whole
        alternatives = sorted(self._forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(f) for f in alternatives))

    def add_env(self, environ: Mapping[str, str]) -> None:
        """Mask the values of environment variables whose names look secret."""
        for name, value in environ.items():
            if env_name_is_secret(name):
                self.add(value)

    def __call__(self, text: str) -> str:
        return self.mask(text)

    def mask(self, text: str) -> str:
        if not isinstance(text, str):
            text = str(text)
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        if "://" not in text:  # most text has no URL: skip the URL scan (a step pays per event)
            return text
        return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)

    def mask_obj(self, obj: Any) -> Any:
        """Mask every string inside a JSON-like structure (results, events)."""
        if isinstance(obj, str):
            return self.mask(obj)
        if isinstance(obj, Mapping):
            return {self.mask(str(k)): self.mask_obj(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.mask_obj(v) for v in obj]
        return obj
