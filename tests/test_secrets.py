"""The Masker: secrets and their common encodings, passwords in URLs, secret-looking env."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from vvrun.secrets import MASK, Masker, env_name_is_secret

CANARY = "Canary/s3cr3t+pw=&x"


@pytest.mark.parametrize("form", [
    CANARY,
    quote(CANARY, safe=""),
    quote_plus(CANARY),
    json.dumps(CANARY)[1:-1],
    base64.b64encode(CANARY.encode()).decode(),
    base64.urlsafe_b64encode(CANARY.encode()).decode(),
])
def test_every_common_encoding_is_masked(form: str) -> None:
    masker = Masker([CANARY])
    masked = masker.mask(f"before {form} after")
    assert CANARY not in masked and form not in masked
    assert MASK in masked


def test_base64_of_the_secret_followed_by_more_text() -> None:
    # `echo $TOKEN | base64`: the newline changes the last characters, not the stable part
    encoded = base64.b64encode((CANARY + "\n").encode()).decode()
    masked = Masker([CANARY]).mask(encoded)
    assert masked.startswith(MASK) and len(masked) < len(encoded)


def test_passwords_inside_urls_are_masked_without_knowing_them() -> None:
    masker = Masker()
    text = masker.mask("connect postgresql://app:hunter22@db:5432/app failed")
    assert text == "connect postgresql://app:***@db:5432/app failed"
    assert masker.mask("redis://:pw123@cache:6379/0") == "redis://:***@cache:6379/0"


def test_env_secrets_by_name() -> None:
    for name in ("DB_PASSWORD", "API_TOKEN", "AWS_SECRET_ACCESS_KEY", "STRIPE_KEY", "KEY"):
        assert env_name_is_secret(name), name
    for name in ("PATH", "HOME", "KEYBOARD", "DATABASE_URL"):
        assert not env_name_is_secret(name), name
    masker = Masker()
    masker.add_env({"API_TOKEN": "tok-123456", "HOME": "/root"})
    assert masker.mask("tok-123456 /root") == "*** /root"


def test_short_values_are_not_masked_everywhere() -> None:
    masker = Masker(["ab", None])
    assert masker.mask("about a cab") == "about a cab"


def test_longest_secret_wins_and_nested_objects_are_masked() -> None:
    masker = Masker(["secret-1", "secret-123"])
    assert masker.mask("secret-123") == MASK
    obj = {"a": ["secret-1", {"secret-123": 5}], "n": 3, "none": None}
    assert masker.mask_obj(obj) == {"a": [MASK, {MASK: 5}], "n": 3, "none": None}
    assert masker.mask_obj(("x", "secret-1")) == ["x", MASK]
