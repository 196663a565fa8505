"""Secrets the masker finds by their shape, and secrets whose parts leak on their own:
connection strings (only the password), key=value DSNs, Authorization headers, multi-line
secrets line by line (SPEC §5.4)."""

from __future__ import annotations

import base64

import pytest

from vvrun.secrets import MASK, Masker


def test_a_connection_url_secret_hides_only_its_password() -> None:
    masker = Masker(["postgres://ops:Pg-Secret-9@db.internal:5432/app"])
    shown = masker.mask("connecting to postgres://ops:Pg-Secret-9@db.internal:5432/app")
    assert shown == f"connecting to postgres://ops:{MASK}@db.internal:5432/app"
    assert masker.mask("psql said: password Pg-Secret-9 refused") == (
        f"psql said: password {MASK} refused")


def test_a_webhook_url_secret_is_masked_whole() -> None:
    url = "https://hooks.slack.com/services/T0001/B0001/AbCdEfGh12345"
    masker = Masker([url])
    assert masker.mask(f"posting to {url} now") == f"posting to {MASK} now"


@pytest.mark.parametrize(("dsn", "password"), [
    ("host=db user=ops password=Plain-Pw-1 dbname=app", "Plain-Pw-1"),
    ("host=db user=ops password='quoted pw 2' dbname=app", "quoted pw 2"),
    ("dbname=app password = 'it\\'s-3'", "it's-3"),
])
def test_a_key_value_dsn_secret_hides_its_password(dsn: str, password: str) -> None:
    masker = Masker([dsn])
    assert password not in masker.mask(f"error near {password}!")
    assert "host=db" in masker.mask(dsn) or "dbname=app" in masker.mask(dsn)


@pytest.mark.parametrize("text", [
    "connect host=db password=Unknown-Pw dbname=x",
    "connect host=db password='Unknown Pw' dbname=x",
    'settings {"password": "Unknown-Pw"}',
    "ALTER ROLE app PASSWORD 'Unknown-Pw'",
    "curl https://api/x?user=a&password=Unknown-Pw&z=1",
    "mysql://u:Unknown-Pw@h/db",
])
def test_passwords_are_masked_by_shape_without_knowing_them(text: str) -> None:
    assert "Unknown" not in Masker().mask(text)


def test_basic_auth_and_bearer_headers_are_masked() -> None:
    basic = base64.b64encode(b"deploy:Basic-Pw-77").decode()
    masker = Masker()
    assert basic not in masker.mask(f"> Authorization: Basic {basic}")
    assert basic not in masker.mask(f"curl -H 'authorization: basic {basic}' https://x")
    assert "eyJhbGciOiJIUzI1NiJ9.e30.sig" not in masker.mask(
        "sent Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig")
    assert masker.mask("the bearer instrument holds basic information") == (
        "the bearer instrument holds basic information")
    shown = masker.mask_obj({"headers": {"Authorization": "Bearer abc", "Cookie": "s=1"}})
    assert shown == {"headers": {"Authorization": f"Bearer {MASK}", "Cookie": MASK}}


def test_a_multi_line_secret_is_masked_whole_and_line_by_line() -> None:
    pem = ("-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEF\nAASCBKcwggSjAgEAAoIBAQC7\n"
           "-----END KEY-----")
    masker = Masker([pem])
    assert masker.mask(pem) == MASK
    shown = masker.mask("line: AASCBKcwggSjAgEAAoIBAQC7 and MIIEvQIBADANBgkqhkiG9w0BAQEF")
    assert "AASCBK" not in shown and "MIIEvQ" not in shown


def test_is_secret_knows_added_values_and_contains_secret_finds_them_inside() -> None:
    masker = Masker(["s3cret-value"])
    assert masker.is_secret("s3cret-value") and not masker.is_secret("prefix-s3cret-value")
    assert masker.contains_secret("prefix-s3cret-value")
    assert masker.contains_secret("redis://:pw-by-shape@cache:6379")
    assert not masker.contains_secret("harmless")


def test_a_string_masked_before_its_secret_was_known_is_masked_after() -> None:
    """Masked strings are remembered (every event repeats them): a secret fetched mid-run
    must not be let through by what was remembered before it was known."""
    m = Masker()
    line = "token is s3cr3t-value-42"
    assert m.mask(line) == line  # not a secret yet, and now remembered
    assert m.mask_obj({"k": line}) == {"k": line}
    m.add("s3cr3t-value-42")
    assert m.mask(line) == f"token is {MASK}"
    assert m.mask_obj({"k": [line]}) == {"k": [f"token is {MASK}"]}


def test_mask_obj_masks_str_subclasses_keys_and_credential_headers() -> None:
    class Tainted(str):
        pass

    m = Masker(["hunter2-secret"])
    got = m.mask_obj({"hunter2-secret": Tainted("x hunter2-secret"),
                      "Authorization": "Bearer abc", 3: (1, 2.5, None, True)})
    assert got == {MASK: f"x {MASK}", "Authorization": f"Bearer {MASK}",
                   "3": [1, 2.5, None, True]}


def test_the_memo_is_bounded() -> None:
    from vvrun.secrets.mask import MEMO_MAX_ENTRIES, MEMO_MAX_LEN

    m = Masker(["hunter2-secret"])
    for i in range(MEMO_MAX_ENTRIES * 3):
        assert m.mask(f"line {i} hunter2-secret") == f"line {i} {MASK}"
    assert len(m._memo) <= MEMO_MAX_ENTRIES
    long = "y" * (MEMO_MAX_LEN + 1) + "hunter2-secret"
    assert m.mask(long).endswith(MASK) and long not in m._memo


@pytest.mark.parametrize("path", ["m/password", "/etc/passwd", "password", "keys/passphrase"])
def test_an_error_location_in_a_file_named_like_a_password_keeps_its_line_and_column(
        tmp_path, path: str) -> None:
    """`FILE:LINE:COL:` of a runbook that happens to be called `password` (or that calls
    `/etc/passwd`) is a location, not a `password:VALUE`: the error still says where."""
    text = f"{path}:5:5: error: the step has no type key"
    assert Masker().mask(text) == text


@pytest.mark.parametrize("text", ["password: 12:34 ok", "password=5:5:x", "passwd:hunter2:"])
def test_a_password_that_only_starts_like_a_location_is_masked(text: str) -> None:
    assert MASK in Masker().mask(text)


def test_plan_of_a_broken_runbook_named_password_says_where(tmp_path) -> None:
    """The whole path, through the real CLI: the message keeps `FILE:LINE:COL`."""
    import subprocess
    import sys
    from pathlib import Path

    book = tmp_path / "password"
    book.write_text("version: 1\nname: p\ntitle: P\nsteps:\n  - id: a\n    title: x\n")
    vvrun = str(Path(sys.executable).with_name("vvrun"))
    proc = subprocess.run([vvrun, "plan", str(book)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"{book}:5:" in proc.stderr, proc.stderr
    assert MASK not in proc.stderr, proc.stderr
