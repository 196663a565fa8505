"""SIGKILL the interpreter at a step point — before `running` is recorded, during the effect,
before the outcome is recorded — of a 20-step runbook whose every step leaves a countable
effect (a row, a Redis INCR, a line in a file); then resume. Every succeeded step's effect is
counted exactly once; the step in flight is reported uncertain, never succeeded.

The exact points come from `VVRUN_TEST_CRASH_AT` (vvrun/state/_crash.py); "during" is a shell
step that kills its own interpreter right after its effect, when $CRASH_DURING names it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_state_support import DURABLE, Stores, make_stores
from vvrun.results import Status

STEPS = 20
KINDS = ("sql", "redis", "shell")  # step i is of kind KINDS[i % 3]


@pytest.fixture(params=DURABLE)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    yield from make_stores(request, tmp_path)


class World:
    """The runbook and the three places its steps leave their marks."""

    def __init__(self, tmp_path: Path, pg_url: str, redis_url: str) -> None:
        import psycopg
        import redis

        tag = uuid.uuid4().hex[:10]
        self.table = f"t_crash_{tag}"
        self.prefix = f"t:state:{tag}:"
        self.lines = tmp_path / "effects.txt"
        self.pg = psycopg.connect(pg_url, autocommit=True)
        self.pg.execute(f"CREATE TABLE {self.table} (step text NOT NULL)")
        self.redis = redis.Redis.from_url(redis_url)
        self.path = tmp_path / "crash.yaml"
        steps = []
        for i in range(STEPS):
            kind = KINDS[i % 3]
            steps.append(f"  - id: s{i}")
            if kind == "sql":
                steps.append(f"    sql: INSERT INTO {self.table} (step) VALUES ('s{i}')")
            elif kind == "redis":
                steps.append(f"    redis: INCR {self.prefix}s{i}")
                steps.append("    danger: false")  # a write, run unattended on purpose
            else:
                steps.append(f"    shell: echo s{i} >> {self.lines}; "
                             f'[ "${{CRASH_DURING:-}}" != s{i} ] || exec kill -9 $PPID')
        self.path.write_text("\n".join([
            "version: 1", f"name: crash-{tag}", "title: Crash and resume",
            "connections:", "  db:", f"    postgres: {pg_url}",
            "  cache:", f"    redis: {redis_url}",
            "steps:", *steps]) + "\n")

    def counts(self) -> dict[str, int]:
        """How many times each step's effect happened."""
        out = {f"s{i}": 0 for i in range(STEPS)}
        for step, n in self.pg.execute(f"SELECT step, count(*) FROM {self.table} GROUP BY step"):
            out[step] += n
        for i in range(STEPS):
            out[f"s{i}"] += int(self.redis.get(f"{self.prefix}s{i}") or 0)
        if self.lines.exists():
            for line in self.lines.read_text().split():
                out[line] += 1
        return out

    def close(self) -> None:
        self.pg.execute(f"DROP TABLE IF EXISTS {self.table}")
        self.pg.close()
        keys = list(self.redis.scan_iter(match=f"{self.prefix}*"))
        if keys:
            self.redis.delete(*keys)
        self.redis.close()


@pytest.fixture
def world(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[World]:
    w = World(tmp_path, pg_url, redis_url)
    yield w
    w.close()


def _vvrun(stores: Stores, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **stores.env(), "VVRUN_OPERATOR": "alice@h1", **env}
    for name in ("VVRUN_TEST_CRASH_AT", "CRASH_DURING"):
        if name not in env:
            full.pop(name, None)
    return subprocess.run([sys.executable, "-m", "vvrun", *args], env=full, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=300,
                          check=False)


SCENARIOS = [
    # (point, victim step): every point on each kind of step that can take it
    ("before_running", 0), ("before_running", 10), ("before_running", 19),
    ("during", 2), ("during", 11), ("during", 17),
    ("before_outcome", 3), ("before_outcome", 7), ("before_outcome", 14),
]


@pytest.mark.parametrize(("point", "victim"), SCENARIOS,
                         ids=[f"{p}-s{v}" for p, v in SCENARIOS])
def test_kill_then_resume_counts_every_effect_once(stores: Stores, world: World, point: str,
                                                   victim: int) -> None:
    key = f"s{victim}"
    env = ({"CRASH_DURING": key} if point == "during"
           else {"VVRUN_TEST_CRASH_AT": f"{key}:{point}"})
    crashed = _vvrun(stores, "run", str(world.path), **env)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    store = stores.open()
    run = store.list_runs(limit=1)[0]
    assert run.status == "running"  # as the killed process left it
    results = store.step_results(run.id)
    for i in range(victim):
        assert results[f"s{i}"].status is Status.SUCCEEDED
    counts = world.counts()
    effect_happened = point != "before_running"
    assert counts == {f"s{i}": int(i < victim or (i == victim and effect_happened))
                      for i in range(STEPS)}
    if effect_happened:
        assert results[key].status is Status.UNCERTAIN  # never succeeded
        shown = json.loads(_vvrun(stores, "show", run.id, "--format", "json").stdout)
        assert [s["status"] for s in shown["steps"] if s["step_id"] == key] == ["uncertain"]

        # nobody can say whether it took effect: resume stops there and does not re-run it
        stopped = _vvrun(stores, "resume", run.id)
        assert stopped.returncode == 3, stopped.stderr
        assert f"step '{key}' was in flight when the run stopped" in stopped.stderr
        assert world.counts()[key] == 1
        assert store.step_results(run.id)[key].status is not Status.SUCCEEDED

        # the operator checked: it did happen
        done = _vvrun(stores, "resume", run.id, "--mark-done", key)
    else:
        assert key not in results  # nothing was recorded: it simply has not run yet
        done = _vvrun(stores, "resume", run.id)
    assert done.returncode == 0, done.stderr
    assert world.counts() == {f"s{i}": 1 for i in range(STEPS)}
    assert store.get_run(run.id).status == "succeeded"
    final = store.step_results(run.id)
    assert all(final[f"s{i}"].status is Status.SUCCEEDED for i in range(STEPS) if i != victim)
    assert store.list_locks() == []  # released at the end
