"""Resume refuses to start a second copy of a shell step whose process group outlived the
crashed interpreter, and re-runs it once the group is gone."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.test_engine_support import write_runbook
from tests.test_run_cli import _env, vv
from vvrun.engine.stray import live_process_group
from vvrun.state import open_store


def test_a_surviving_process_group_blocks_the_rerun_until_it_is_gone(tmp_path: Path) -> None:
    log = tmp_path / "log"
    rb = write_runbook(tmp_path, f"""
        version: 1
        name: survivor
        title: Survivor
        steps:
          - id: work
            idempotent: true
            shell: |
              echo started >> {log}
              if [ ! -e {tmp_path}/crashed ]; then
                touch {tmp_path}/crashed
                sleep 300 &
                kill -9 $PPID
                wait
              fi
    """)
    env = _env(tmp_path)
    first = vv(tmp_path, "run", str(rb), "--yes", env=env)
    assert first.returncode == -signal.SIGKILL  # the interpreter died mid-step

    store = open_store(env)
    run_id = store.list_runs(runbook="survivor")[0].id
    pgid = (store.ledger_entry(run_id, "work") or {}).get("pgid")
    store.close()
    assert pgid and live_process_group(pgid)
    try:
        blocked = vv(tmp_path, "resume", run_id, "--yes", env=env)
        assert blocked.returncode == 1
        assert f"process group {pgid}" in blocked.stderr
        assert f"kill -TERM -{pgid}" in blocked.stderr
        assert log.read_text().count("started") == 1  # no second copy beside the first
    finally:
        os.killpg(pgid, signal.SIGKILL)
    for _ in range(100):
        if not live_process_group(pgid):
            break
        time.sleep(0.05)

    resumed = vv(tmp_path, "resume", run_id, "--yes", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert log.read_text().count("started") == 2
