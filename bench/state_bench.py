"""Per-step overhead of durable state: the same runbook through the engine with SQLite
(`synchronous=FULL`) and with the in-memory store, side by side. Goal: under 1 ms a step.

    .venv/bin/python bench/state_bench.py [--steps 1000] [--rounds 5] [--shell]

Steps are `SELECT 1` on one reused PostgreSQL connection ($VVRUN_BENCH_POSTGRES_URL, else
$VVRUN_TEST_POSTGRES_URL, else the local default), or `shell: "true"` with --shell. Rounds
alternate the stores so that CPU placement hits both alike (PERF-NOTES); medians are reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vvrun.engine import Engine, RunOptions
from vvrun.events import NullSink
from vvrun.language.inputs import resolve_inputs
from vvrun.language.pipeline import load_runbook
from vvrun.secrets import Masker
from vvrun.state.memory import MemoryStore
from vvrun.state.sqlite import SqliteStore
from vvrun.ui.prompter import NoTerminalPrompter

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


class NoFsyncStore(SqliteStore):
    """The same store with the disk's fsync taken out: what the store costs in CPU."""

    SYNCHRONOUS = "OFF"






def runbook_text(steps: int, shell: bool, pg_url: str) -> str:
    lines = ["version: 1", "name: state-bench", "title: State bench"]
    if not shell:
        lines += ["connections:", "  db:", f"    postgres: {pg_url}"]
    lines.append("steps:")
    for i in range(steps):
        body = 'shell: "true"' if shell else "sql: SELECT 1"
        lines += [f"  - id: s{i}", f"    {body}"]
    return "\n".join(lines) + "\n"


def one_run(path: Path, store: Any) -> float:
    runbook = load_runbook(str(path))
    inputs = resolve_inputs(runbook, {}, {})
    opts = RunOptions(operator="bench@local", host="bench", pid=os.getpid(),
                      source=path.read_text())
    engine = Engine(runbook, inputs, store=store, sink=NullSink(), prompter=NoTerminalPrompter(),
                    masker=Masker(), options=opts)
    start = time.perf_counter()
    result = engine.start()
    elapsed = time.perf_counter() - start
    if result.status.value != "succeeded":
        sys.exit(f"bench run failed: {result.error}")
    return elapsed


def commit_cost(directory: str, n: int = 200) -> tuple[float, float]:
    """What this disk charges for one SQLite WAL commit, FULL and NORMAL, in ms."""
    import sqlite3

    conn = sqlite3.connect(Path(directory) / "probe.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (x)")
    out = []
    for mode in ("FULL", "NORMAL"):
        conn.execute(f"PRAGMA synchronous = {mode}")
        start = time.perf_counter()
        for _ in range(n):
            conn.execute("INSERT INTO t VALUES (1)")
        out.append((time.perf_counter() - start) / n * 1000)
    conn.close()
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--shell", action="store_true", help="shell `true` steps, not SQL")
    args = parser.parse_args()
    pg_url = (os.environ.get("VVRUN_BENCH_POSTGRES_URL")
              or os.environ.get("VVRUN_TEST_POSTGRES_URL") or DEFAULT_PG)
    with tempfile.TemporaryDirectory(prefix="vvrun-bench-") as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(runbook_text(args.steps, args.shell, pg_url))
        times: dict[str, list[float]] = {"memory": [], "sqlite": [], "no-fsync": []}
        one_run(path, MemoryStore())  # warm-up: imports, the first connection
        for i in range(args.rounds):
            times["memory"].append(one_run(path, MemoryStore()))
            for name, cls in (("sqlite", SqliteStore), ("no-fsync", NoFsyncStore)):
                store = cls(Path(tmp) / f"{name}-{i}.db")
                try:
                    times[name].append(one_run(path, store))
                finally:
                    store.close()
        full, normal = commit_cost(tmp)
    per_step = {k: statistics.median(v) / args.steps * 1000 for k, v in times.items()}
    overhead = per_step["sqlite"] - per_step["memory"]
    kind = "shell true" if args.shell else "SELECT 1"
    print(f"{args.steps} `{kind}` steps, {args.rounds} rounds, medians")
    for name, ms in per_step.items():
        print(f"  {name:<8} {ms:7.3f} ms/step")
    print(f"  ratio    {per_step['sqlite'] / per_step['memory']:7.2f} x (sqlite / memory)")
    print(f"  this disk: a FULL commit {full:.3f} ms, a NORMAL one {normal:.3f} ms; a step "
          f"costs one FULL (its `running` record) and three NORMAL commits")
    verdict = "within" if overhead < 1.0 else "OVER"
    print(f"  durable state costs {overhead:.3f} ms/step ({verdict} the 1 ms budget); "
          f"without the fsync {per_step['no-fsync'] - per_step['memory']:.3f} ms/step")


if __name__ == "__main__":
    main()
