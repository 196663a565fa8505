"""`vvrun run --sandbox`: rehearse against the sandbox's servers, or the ones already set."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_engine_support import write_runbook
from tests.test_run_cli import _env, vv

REHEARSAL = """
    version: 1
    name: rehearsal
    title: Rehearsal
    connections:
      db: {postgres: "{{ env.DATABASE_URL }}"}
      cache: {redis: "{{ env.REDIS_URL }}"}
    steps:
      - id: db
        sql: SELECT current_database() AS name
      - id: cache
        redis: PING
      - id: shell_sees_it
        shell:
          run: test -n "$DATABASE_URL" && test -n "$REDIS_URL"
          env:  # a step gets the variables it declares (SPEC §3.4)
            DATABASE_URL: "{{ env.DATABASE_URL }}"
            REDIS_URL: "{{ env.REDIS_URL }}"
"""


def test_sandbox_flag_uses_the_servers_already_set_and_says_so(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    rb = write_runbook(tmp_path, REHEARSAL)
    env = _env(tmp_path, DATABASE_URL=pg_url, REDIS_URL=redis_url)
    out = vv(tmp_path, "run", str(rb), "--sandbox", env=env)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "already set; rehearsing against them" in out.stderr
    assert re.search(r"3 \| shell_sees_it \| ✓ succeeded", out.stdout), out.stdout


def test_without_sandbox_an_unset_url_is_a_clear_error(tmp_path: Path) -> None:
    rb = write_runbook(tmp_path, REHEARSAL)
    env = _env(tmp_path)
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    out = vv(tmp_path, "run", str(rb), env=env)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert "the environment variable DATABASE_URL is not set" in out.stderr
