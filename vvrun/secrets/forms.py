"""What to mask for one secret: the value as written plus the encodings it commonly leaks in,
and, for a connection string, only its password (the operator must see which server and
database a step changes, SPEC §5.3; a webhook https URL is secret whole)."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

MIN_SECRET_LENGTH = 3  # shorter values would mask ordinary text everywhere
#: URLs whose only secret part is the password.
CONNECTION_SCHEMES = frozenset({"postgres", "postgresql", "redis", "rediss", "unix", "mysql",
                                "mariadb", "mongodb", "mongodb+srv", "amqp", "amqps"})
_SECRET_ENV = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY$|^KEY$|PASSWD|CREDENTIAL|PASSPHRASE)",
                         re.I)
# libpq's key=value connection string: `host=db user=ops password='p w' dbname=app`
_DSN_WORD = re.compile(r"\A\s*[a-z_]+\s*=", re.I)
_DSN_KEY = re.compile(r"(?:^|\s)(?:host|hostaddr|dbname|user|port|password)\s*=", re.I)
_DSN_PASSWORD = re.compile(
    r"(?:^|\s)password\s*=\s*(?:'((?:[^'\\]|\\.){0,1024})'|([^\s']{1,1024}))", re.I)


def env_name_is_secret(name: str) -> bool:
    """A variable whose name says it holds a secret (`*PASSWORD*`, `*TOKEN*`, `*_KEY`…)."""
    return bool(_SECRET_ENV.search(name))


def forms(secret: str) -> set[str]:
    """The secret as written plus the encodings it commonly leaks in."""
    found = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
             json.dumps(secret, ensure_ascii=False)[1:-1]}
    raw = secret.encode()
    for encoder in (base64.b64encode, base64.urlsafe_b64encode):
        enc = encoder(raw).decode().rstrip("=")
        # the last character may depend on what follows; mask the stable part
        found.add(enc[:-1] if len(raw) % 3 else enc)
    return {f for f in found if len(f) >= MIN_SECRET_LENGTH}


def connection_url_passwords(value: str) -> list[str] | None:
    """The passwords inside a database or Redis URL (`postgres://ops:PW@db/x`, `?password=PW`),
    or None when `value` is not such a URL (then the whole value is the secret)."""
    text = value.strip()
    if "\n" in text or "://" not in text:
        return None
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return None
    if parts.scheme.lower() not in CONNECTION_SCHEMES or not (parts.netloc or parts.path):
        return None
    found = [unquote(password)] if password else []
    found += [v for k, v in parse_qsl(parts.query) if k.lower() in ("password", "sslpassword")]
    return found


def dsn_passwords(value: str) -> list[str] | None:
    """The password of a libpq key=value string (`host=db password='p w'`), or None when
    `value` is not one."""
    if "\n" in value or not _DSN_WORD.match(value) or not _DSN_KEY.search(value):
        return None
    found = []
    for m in _DSN_PASSWORD.finditer(value):
        quoted, bare = m.group(1), m.group(2)
        found.append(re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare)
    return found


def parts_to_mask(value: str) -> list[str]:
    """What masks `value`: a connection string's passwords, else the value itself."""
    passwords = connection_url_passwords(value)
    if passwords is None:
        passwords = dsn_passwords(value)
    if passwords is not None and all(len(p) >= MIN_SECRET_LENGTH for p in passwords):
        return passwords  # may be empty: a connection string without a password hides nothing
    return [value]
