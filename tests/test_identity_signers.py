"""Finding and reading .vvrun/allowed_signers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.identity_keys import fingerprint_of, make_key, pub_text, write_signers
from vvrun.identity import signers
from vvrun.identity.errors import IdentitySetupError


@pytest.fixture
def key(tmp_path: Path) -> Path:
    return make_key(tmp_path, "alice")


def test_explicit_path_wins_over_environment_and_walk(tmp_path: Path, key: Path) -> None:
    given = write_signers(tmp_path / "given", f"alice@x {pub_text(key)}")
    env = write_signers(tmp_path / "env", f"alice@x {pub_text(key)}")
    write_signers(tmp_path / "repo" / ".vvrun" / "allowed_signers", f"alice@x {pub_text(key)}")
    environ = {"VVRUN_ALLOWED_SIGNERS": str(env)}
    assert signers.find(given, environ, tmp_path / "repo") == given
    assert signers.find(None, environ, tmp_path / "repo") == env


def test_a_named_file_that_is_missing_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(IdentitySetupError, match=r"nowhere \(from \$VVRUN_ALLOWED_SIGNERS\)"):
        signers.find(None, {"VVRUN_ALLOWED_SIGNERS": str(tmp_path / "nowhere")}, tmp_path)


def test_nearest_file_walking_up_from_the_runbook_folder(tmp_path: Path, key: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    outer = write_signers(repo / ".vvrun" / "allowed_signers", f"alice@x {pub_text(key)}")
    inner = write_signers(repo / "team" / ".vvrun" / "allowed_signers", f"a@x {pub_text(key)}")
    (repo / "team" / "runbooks" / "db").mkdir(parents=True)
    assert signers.find(None, {}, repo / "team" / "runbooks" / "db") == inner
    (repo / "other").mkdir()
    assert signers.find(None, {}, repo / "other") == outer


def test_walk_stops_at_the_repository_root_and_says_where_it_looked(tmp_path: Path,
                                                                    key: Path) -> None:
    # A file planted above the repository (a shared /tmp, a home folder) must not be used.
    write_signers(tmp_path / ".vvrun" / "allowed_signers", f"mallory@x {pub_text(key)}")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "runbooks").mkdir()
    with pytest.raises(IdentitySetupError) as info:
        signers.find(None, {}, repo / "runbooks")
    text = info.value.format()
    assert f"{repo}/runbooks/.vvrun/allowed_signers, {repo}/.vvrun/allowed_signers (and" in text
    assert str(tmp_path / ".vvrun") not in text
    assert "hint: create .vvrun/allowed_signers" in text


def test_lines_options_groups_and_comments(tmp_path: Path, key: Path) -> None:
    bob = make_key(tmp_path, "bob")
    path = write_signers(
        tmp_path / "allowed_signers",
        f'alice@x,group:dba namespaces="vvrun,git",valid-after="20200101" {pub_text(key)} laptop',
        "",
        "  # a comment",
        f"bob@x {pub_text(bob)}")
    loaded = signers.load(path)
    first, second = loaded.lines
    assert first.principals == ("alice@x", "group:dba")
    assert first.groups == ("dba",)
    assert first.options == 'namespaces="vvrun,git",valid-after="20200101"'
    assert first.key_type == "ssh-ed25519"
    assert first.fingerprint == fingerprint_of(key)
    assert (second.line, second.principals, second.options) == (5, ("bob@x",), "")
    assert loaded.groups() == frozenset({"dba"})


@pytest.mark.parametrize(("line", "why"), [
    ("alice@x", "needs at least a principal, a key type and a key"),
    ("alice@x ssh-ed25519 not*base64", "not valid base64"),
    ('alice@x namespaces="vvrun" ssh-ed25519', "key type or the key is missing"),
    ("alice@x,group:d/b ssh-ed25519 {key}", "group principal 'group:d/b'"),
    ("alice@x ssh-rsa {key}", "the key says it is ssh-ed25519, not ssh-rsa"),
])
def test_a_line_ssh_keygen_could_not_use_is_an_error_with_its_number(
        tmp_path: Path, key: Path, line: str, why: str) -> None:
    blob = pub_text(key).split()[1]
    path = write_signers(tmp_path / "allowed_signers", f"ok@x {pub_text(key)}",
                         line.format(key=blob))
    with pytest.raises(IdentitySetupError) as info:
        signers.load(path)
    assert f"{path}:3: " in info.value.message
    assert why in info.value.message
    assert "principal[,principal…] [options] keytype base64" in info.value.format()


def test_a_file_every_user_may_write_is_refused(tmp_path: Path, key: Path) -> None:
    path = write_signers(tmp_path / "allowed_signers", f"alice@x {pub_text(key)}")
    path.chmod(0o666)
    with pytest.raises(IdentitySetupError, match="writable by every user"):
        signers.load(path)
