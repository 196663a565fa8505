"""Secrets providers through real things: a shell script, files with real modes, env."""

from __future__ import annotations

from pathlib import Path

import pytest

from vvrun.errors import Location
from vvrun.secrets import Masker
from vvrun.secrets.providers import SecretSource, SecretUnavailable, SecretValues

SECRET = "pa55-w0rd-for-prod-db"


def _values(tmp_path: Path, masker: Masker, **sources: dict) -> SecretValues:
    srcs = {n: SecretSource(n, s.pop("from"), s, Location("rb.yaml", 3, 5)) for n, s in
            sources.items()}
    return SecretValues(srcs, masker, {"PATH": "/usr/bin:/bin", "DB_PW": SECRET},
                        str(tmp_path))


def test_a_command_provider_runs_a_real_script_once_and_masks_its_value(tmp_path):
    count = tmp_path / "count"
    script = tmp_path / "fake-op"
    script.write_text(f"#!/bin/bash\necho x >> {count}\nprintf '%s\\n' \"$DB_PW\"\n")
    script.chmod(0o700)
    masker = Masker()
    values = _values(tmp_path, masker, pw={"from": "command", "run": [str(script), "read"]})
    assert count.exists() is False  # declared is not fetched
    assert values["pw"] == SECRET and values["pw"] == SECRET
    assert count.read_text() == "x\n"  # fetched at first use, then cached for the run
    assert masker.mask(f"password={SECRET}") == "password=***"


def test_a_failing_command_names_the_secret_and_shows_stderr_masked(tmp_path):
    masker = Masker()
    values = _values(tmp_path, masker, pw={
        "from": "command", "run": f"echo {SECRET}; echo 'denied for {SECRET}' >&2; exit 3"})
    with pytest.raises(SecretUnavailable) as info:
        values["pw"]
    text = info.value.format()
    assert "secret 'pw'" in text and "exited with status 3" in text
    assert "denied for ***" in text and SECRET not in text
    assert "rb.yaml:3:5" in text


def test_a_command_that_hangs_is_stopped_at_its_timeout(tmp_path):
    values = _values(tmp_path, Masker(), pw={"from": "command", "run": "sleep 30",
                                             "timeout": 0.5})
    with pytest.raises(SecretUnavailable, match=r"did not finish within 0\.5s"):
        values["pw"]


def test_a_file_readable_by_others_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "pw.txt"
    path.write_text(SECRET + "\n")
    path.chmod(0o644)
    values = _values(tmp_path, Masker(), pw={"from": "file", "path": "pw.txt"})
    with pytest.raises(SecretUnavailable) as info:
        values["pw"]
    assert "mode 0644" in info.value.message and SECRET not in info.value.format()
    assert info.value.hint == f"run `chmod 600 {path}`, then run again"
    path.chmod(0o600)
    assert values["pw"] == SECRET


def test_a_keyed_file_reads_what_vercel_env_pull_writes(tmp_path):
    path = tmp_path / ".env.production"
    path.write_text('# Created by Vercel CLI\nOTHER="x"\nDATABASE_URL="postgres://a:b@h/db"\n')
    path.chmod(0o600)
    values = _values(tmp_path, Masker(), db={"from": "file", "path": str(path),
                                             "key": "DATABASE_URL"})
    assert values["db"] == "postgres://a:b@h/db"


def test_env_provider_and_an_unset_variable(tmp_path):
    values = _values(tmp_path, Masker(), pw={"from": "env", "name": "DB_PW"},
                     gone={"from": "env", "name": "NOT_SET_ANYWHERE"})
    assert values["pw"] == SECRET
    with pytest.raises(SecretUnavailable, match="NOT_SET_ANYWHERE is not set"):
        values["gone"]
    with pytest.raises(KeyError):
        values["undeclared"]
