"""Secrets found by their shape rather than by value, each in one pass linear in the text:
passwords inside URLs (`postgres://app:PW@db`), `password=PW` (libpq strings, query strings,
logs; quoted or not), and the credentials of an `Authorization` header (`Basic …`, `Bearer …`).

No pattern here can backtrack over more than a bounded stretch: every repeat is possessive or
has an upper bound, and each pattern starts at a fixed literal or one character (SPEC §8: a
1 MB value is masked in well under a second).
"""

from __future__ import annotations

import base64
import binascii
import re

MASK = "***"
# the scheme's last character, `://`, user (no `:/@` or space), `:`, password (no `@/` or
# space), `@`. One scheme character is enough to anchor it: a scheme matched whole
# (`[a-z][a-z0-9+.-]*://`) rescans a long word from each of its letters (quadratic).
_URL_USERINFO = re.compile(r"[A-Za-z0-9+.\-]://[^:/@\s]*+:([^@\s/]++)@")
_KEY_VALUE = re.compile(
    r"(?<![A-Za-z0-9_])(?:ssl)?(?:password|passwd|passphrase)\"?"
    r"(?:\s{0,8}+[=:]\s{0,8}+(?:'((?:[^'\\\n]|\\.){0,512}+)'|\"((?:[^\"\\\n]|\\.){0,512}+)\""
    # not `FILE:LINE:COL:` (a file named `password` or `/etc/passwd` in an error's location)
    r"|(?!\d{1,9}+:\d{1,9}+:(?:\s|$))([^\s&;,'\"<>]{1,512}+))"
    r"|\s{1,8}+'((?:[^'\\\n]|''){0,512}+)')",  # SQL: ALTER ROLE x PASSWORD 'pw'
    re.I)
_AUTH_HEADER = re.compile(
    r"(?<![A-Za-z0-9_-])(?:proxy-)?authorization\"?\s{0,8}+[:=]\s{0,8}+\"?\s{0,8}+"
    r"(?:(?:basic|bearer|token|digest|negotiate|apikey)\s{1,8}+)?([^\s\"',}]{1,4096}+)", re.I)
_BEARER = re.compile(r"(?<![A-Za-z0-9_])(basic|bearer)\s{1,8}+([A-Za-z0-9+/=._~-]{8,4096}+)",
                     re.I)


def _url_password(m: re.Match[str]) -> str:
    return m.string[m.start():m.start(1)] + MASK + "@"


def _key_value(m: re.Match[str]) -> str:
    for group in (1, 2, 3, 4):
        value = m.group(group)
        if value is not None:
            if not value:
                return m.group(0)  # `password=''`: nothing to hide
            start, end = m.span(group)
            return m.string[m.start():start] + MASK + m.string[end:m.end()]
    return m.group(0)


def _auth_header(m: re.Match[str]) -> str:
    return m.string[m.start():m.start(1)] + MASK


def _bearer(m: re.Match[str]) -> str:
    token = m.group(2)
    if m.group(1).lower() == "basic":
        try:  # `Basic base64(user:password)`; "basic information" stays as it is
            if b":" not in base64.b64decode(token + "=" * (-len(token) % 4), validate=True):
                return m.group(0)
        except (binascii.Error, ValueError):
            return m.group(0)
    elif not any(c.isdigit() or c in "+/=._~-" for c in token):
        return m.group(0)  # "bearer instrument": a word, not a token
    return m.string[m.start():m.start(2)] + MASK


def by_shape(text: str) -> str:
    """Every shape-found secret of `text` masked."""
    if "://" in text:
        text = _URL_USERINFO.sub(_url_password, text)
    lowered = text.lower()
    if "pass" in lowered:
        text = _KEY_VALUE.sub(_key_value, text)
    if "authorization" in lowered:
        text = _AUTH_HEADER.sub(_auth_header, text)
    if "basic" in lowered or "bearer" in lowered:
        text = _BEARER.sub(_bearer, text)
    return text
