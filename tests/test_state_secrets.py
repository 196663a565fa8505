"""A secret canary goes through whole runs — a secret input, a secret-looking environment
variable, a password in a URL; in SQL results, shell output, errors, events — and is found in
no byte of the SQLite files (db, -wal, -shm) nor any row of any PostgreSQL table of the store."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ScriptedPrompter
from tests.test_state_support import DURABLE, Stores, make_stores, run_record
from vvrun.engine import Engine, RunOptions
from vvrun.events import ListSink
from vvrun.language.inputs import resolve_inputs
from vvrun.language.pipeline import load_runbook
from vvrun.results import Status, StepResult
from vvrun.secrets import Masker

CANARY = f"canary-{uuid.uuid4().hex[:12]}"
ENV_CANARY = f"envcanary-{uuid.uuid4().hex[:12]}"
URL_CANARY = f"urlpw{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=DURABLE)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    yield from make_stores(request, tmp_path)


def _forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, base64.b64encode(raw)[:-2]]


def _leaks(stores: Stores, store: Any) -> list[str]:
    """Where any canary is stored, in any form: file names or table names."""
    found = []
    canaries = [f for s in (CANARY, ENV_CANARY, URL_CANARY) for f in _forms(s)]
    if stores.kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            path = Path(f"{stores.path}{suffix}")
            if path.exists():
                data = path.read_bytes()
                found += [f"{path.name}: {c!r}" for c in canaries if c in data]
    else:
        with store.raw().cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = %s", (stores.schema,))
            for (table,) in cur.fetchall():
                cur.execute(f'SELECT t::text FROM "{stores.schema}"."{table}" t')
                text = "\n".join(r[0] for r in cur.fetchall()).encode()
                found += [f"{table}: {c!r}" for c in canaries if c in text]
    return found


def _runbook(tmp_path: Path, pg_url: str, name: str) -> Path:
    host_part = pg_url.split("://", 1)[1].split("@")[-1]
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        version: 1
        name: {name}
        title: Canary
        inputs:
          password:
            type: string
            secret: true
          db_url:
            type: string
            default: postgresql://postgres:{URL_CANARY}@{host_part}
        connections:
          db:
            postgres: "{pg_url}"
        steps:
          - id: query
            sql: SELECT {{{{ inputs.password }}}} AS p, 'x' || {{{{ inputs.password }}}} AS q
          - id: say
            shell: |
              echo "password {{{{ inputs.password }}}} token $API_TOKEN url {{{{ inputs.db_url }}}}"
              echo "{{{{ inputs.password }}}}" >&2
          - id: fail
            on_failure: continue
            shell: echo "failing with {{{{ inputs.password }}}} $API_TOKEN" >&2; exit 3
          - id: expect
            on_failure: continue
            sql: SELECT {{{{ inputs.password }}}} AS p
            expect: result.value == 'not-the-password'
        """))
    return path


def test_a_whole_run_stores_no_secret(stores: Stores, tmp_path: Path, pg_url: str) -> None:
    path = _runbook(tmp_path, pg_url, f"canary-{stores.kind}")
    environ = {"API_TOKEN": ENV_CANARY}
    masker = Masker()
    masker.add_env(environ)
    store = stores.open(masker=masker)
    book = load_runbook(str(path))
    inputs = resolve_inputs(book, {"password": CANARY}, environ)
    opts = RunOptions(operator="alice@h1", host=socket.gethostname(), pid=os.getpid(),
                      environ=environ, source=path.read_text())
    engine = Engine(book, inputs, store=store, sink=ListSink(), prompter=ScriptedPrompter(),
                    masker=masker, options=opts)
    result = engine.start()
    # the canary's failing steps run under on_failure: continue: the run says so (exit 6)
    assert result.status is Status.COMPLETED_WITH_FAILURES, result.error
    results = store.step_results(result.run_id)
    assert results["fail"].status is Status.FAILED
    assert results["expect"].status is Status.FAILED
    assert "***" in results["say"].result["stdout"]
    assert _leaks(stores, store) == []


def test_the_cli_run_stores_no_secret(stores: Stores, tmp_path: Path, pg_url: str) -> None:
    path = _runbook(tmp_path, pg_url, f"canary-cli-{stores.kind}")
    env = {**os.environ, **stores.env(), "API_TOKEN": ENV_CANARY, "VVRUN_OPERATOR": "alice"}
    proc = subprocess.run([sys.executable, "-m", "vvrun", "run", str(path), "--var",
                           f"password={CANARY}"], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 6, proc.stderr  # completed with failures: on_failure: continue
    assert CANARY not in proc.stdout + proc.stderr
    assert _leaks(stores, stores.open()) == []


def test_the_store_masks_what_it_is_given(stores: Stores) -> None:
    """Belt and braces: even a caller that forgot to mask cannot make the store keep it."""
    masker = Masker([CANARY])
    store = stores.open(masker=masker)
    run = run_record(inputs={"note": f"pw={CANARY}"}, error=CANARY,
                     source=f"default: {CANARY}\n")
    store.create_run(run)
    store.update_run(run.id, status="failed", error=f"failed: {CANARY}")
    store.step_finished(run.id, "s", StepResult(
        "s", Status.FAILED, result={"stdout": CANARY, "rows": [{CANARY: CANARY}]},
        outputs={"o": CANARY}, error=f"x {CANARY}"))
    store.append_event(run.id, "step_ended", {"error": CANARY, "nested": [{"v": CANARY}]},
                       operator="alice", host="h1")
    store.acquire_locks(run.id, ("k",), operator="alice", host="h1", pid=os.getpid(), ttl=60)
    assert _leaks(stores, store) == []
    assert store.get_run(run.id).error == "failed: ***"
    assert store.step_results(run.id)["s"].result == {"stdout": "***",
                                                      "rows": [{"***": "***"}]}
    assert store.events(run.id)[0]["data"] == {"error": "***", "nested": [{"v": "***"}]}
