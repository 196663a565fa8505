"""The sql step as an operator runs it: durable SQLite state (the default store) and the
default terminal output, or `--output json`, against a hand-written psycopg loop — plus how many
round trips a step costs (SPEC §3.1: one)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from common import CaseResult, Context, Row, Sample, Verdict
from engine_api import make_engine, memory_store, sqlite_store, start, steps_runbook

OVER_BUDGET_MS = 1.5  # vvrun with the default store and output: at most this over psycopg
ROUND_TRIPS_TARGET = 1.0
COMMITS_TARGET = 2.0  # the state store: `running` (with step_started), the outcome (step_ended)


def _psycopg_loop(url: str, n: int) -> float:
    import psycopg

    begin = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(n):
            conn.execute("SELECT 1").fetchall()
    return time.perf_counter() - begin


def _sink(kind: str) -> Any:
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    if kind == "text":
        from vvrun.ui.console import TerminalSink

        # what `vvrun run` writes when stdout is not a terminal: the same tables, no live line
        return TerminalSink(devnull, color=False, interactive=False, width=100)
    from vvrun.ui.events import JsonSink

    return JsonSink(devnull)


def _run(book: Path, store: Any, sink: Any) -> float:
    engine = make_engine(book, store)
    engine.run.sink = sink
    return start(engine)[0]


def _round_trips(url: str, book: Path, n: int) -> float | None:
    """Server transactions per step, from pg_stat_database, in a database of its own (each
    autocommit statement is one transaction and, unpipelined, one round trip). None when the
    database cannot be made."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = "vvrun_bench_roundtrips"
    try:
        with psycopg.connect(url, autocommit=True) as admin:
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                 (name,)).fetchone():
                admin.execute(f"CREATE DATABASE {name}")
    except psycopg.Error:
        return None
    target = make_conninfo(**{**conninfo_to_dict(url), "dbname": name})
    own = book.with_name("roundtrips.yaml")
    own.write_text(book.read_text().replace(url, target))

    def committed() -> int:
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute("SELECT xact_commit FROM pg_stat_database "
                               "WHERE datname = current_database()").fetchone()
        return int(row[0])

    before = committed()
    start(make_engine(own, memory_store()))  # its connection closes at the end: stats flushed
    # the reader's own transactions (two before the run's are read) are not the run's
    return (committed() - before - 2) / n


def _commits(book: Path, tmp: Path, n: int) -> float:
    """State-store commits per step, from SQLite's own statement trace (the run's start and
    end excluded: a run of 2n steps less a run of n)."""
    counts = []
    for steps in (n, 2 * n):
        own = tmp / f"commits-{steps}.yaml"
        lines = book.read_text().splitlines()
        head = lines[:lines.index("steps:") + 1]
        own.write_text("\n".join(head + [f"  - id: s{i}\n    sql: SELECT 1"
                                          for i in range(steps)]) + "\n")
        store = sqlite_store(tmp / f"commits-{steps}.db")
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)
        try:
            start(make_engine(own, store))
        finally:
            store.close()
        counts.append(sum(s.strip().upper() == "COMMIT" for s in statements))
    return (counts[1] - counts[0]) / n


def sql_with_output(ctx: Context) -> CaseResult:
    n = 200 if ctx.quick else 1000
    res = CaseResult("sqlout", f"The sql step as run: {n} steps of `SELECT 1`, SQLite state, "
                     "text and JSON output")
    times: dict[str, list[float]] = {"psycopg": [], "text": [], "json": []}
    with tempfile.TemporaryDirectory(prefix="vvrun-bench-", dir=ctx.work) as tmp:
        book = Path(tmp) / "sql.yaml"
        book.write_text(steps_runbook("bench-sqlout", "sql: SELECT 1", n,
                                      connections=f"db:\n  postgres: {ctx.pg_url}"))
        _psycopg_loop(ctx.pg_url, n)
        _run(book, memory_store(), _sink("text"))  # warm-ups: imports, rich, the server
        for i in range(ctx.reps):
            times["psycopg"].append(_psycopg_loop(ctx.pg_url, n) / n * 1000)
            for kind in ("text", "json"):
                store = sqlite_store(Path(tmp) / f"state-{kind}-{i}.db")
                try:
                    times[kind].append(_run(book, store, _sink(kind)) / n * 1000)
                finally:
                    store.close()
        trips = _round_trips(ctx.pg_url, book, n)  # n: the steps in `book`
        commits = _commits(book, Path(tmp), 50)
    base = Sample(times["psycopg"], "ms/step")
    res.rows = [Row("hand-written psycopg loop, one connection", base)]
    for kind, label in (("text", "vvrun, SQLite state, text output (the default)"),
                        ("json", "vvrun, SQLite state, --output json")):
        sample = Sample(times[kind], "ms/step")
        res.rows.append(Row(label, sample, base))
        over = sample.median - base.median
        res.verdicts.append(Verdict(f"{kind}: ≤ psycopg + {OVER_BUDGET_MS:g} ms a step",
                                    f"{sample.fmt()} vs {base.fmt()}: {over:+.3f} ms a step",
                                    over <= OVER_BUDGET_MS))
        res.badness = max(res.badness, over / OVER_BUDGET_MS)
    if trips is None:
        res.notes.append("Round trips per step: not measured (could not create a database).")
    else:
        res.rows.append(Row("round trips per step (server transactions, pg_stat_database)",
                            Sample([trips], "per step")))
        res.verdicts.append(Verdict(f"≤ {ROUND_TRIPS_TARGET:g} round trip a step",
                                    f"{trips:.2f} a step", trips <= ROUND_TRIPS_TARGET + 0.01))
    res.rows.append(Row("state commits per step (SQLite, counted by its statement trace)",
                        Sample([commits], "per step")))
    res.verdicts.append(Verdict(f"≤ {COMMITS_TARGET:g} state commits a step",
                                f"{commits:.2f} a step", commits <= COMMITS_TARGET + 0.01))
    res.notes.append("The text output is the terminal sink writing to a file (no live line), "
                     "as `vvrun run … > log` does; the state is a fresh SQLite file per "
                     "repetition with the store's own durability settings.")
    return res
