"""Pattern delete: vvrun's `delete_pattern` over 1,000,000 keys among 250,000 others, against
`redis-cli --scan --pattern … | xargs -n 1000 redis-cli unlink`, with a concurrent PING loop
measuring the latency other clients see meanwhile.

Runs in a dedicated Redis db (default redis://127.0.0.1:6379/15, $VVRUN_BENCH_REDIS_URL), which
it flushes before and after: never point it at a db that holds anything."""

from __future__ import annotations

import json
import shlex
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from common import ROOT, CaseResult, Context, Row, Sample, Verdict, child_env
from engine_api import memory_store, run_runbook

SPEED_TARGET = 1.5  # vvrun's keys/s over the pipeline's
LATENCY_BUDGET_MS = 10.0
DOOMED = "bench:del:"
KEPT = "bench:keep:"


def pattern_delete(ctx: Context) -> CaseResult:
    import redis

    doomed, kept = (100_000, 25_000) if ctx.quick else (1_000_000, 250_000)
    res = CaseResult("delete", f"Pattern delete: {doomed:,} keys among {kept:,} others")
    client = redis.Redis.from_url(ctx.redis_url)
    db = client.connection_pool.connection_kwargs.get("db", 0)
    if db == 0:
        raise RuntimeError("the pattern-delete case flushes its Redis db: give it a dedicated "
                           "one ($VVRUN_BENCH_REDIS_URL=redis://host:port/15), never db 0")
    reps = min(ctx.reps, 3)  # each repetition writes a million keys first
    speeds: dict[str, list[float]] = {"vvrun": [], "cli": []}
    pings: dict[str, list[float]] = {k: [] for k in ("vvrun", "cli", "idle", "vvrun:p99",
                                                     "cli:p99", "idle:p99")}
    try:
        client.flushdb()
        _fill(client, KEPT, kept)
        with tempfile.TemporaryDirectory(prefix="vvrun-bench-", dir=ctx.work) as tmp:
            book = Path(tmp) / "delete.yaml"
            book.write_text(_runbook(ctx.redis_url))
            for _ in range(reps):
                for who in ("vvrun", "cli"):
                    _fill(client, DOOMED, doomed)
                    seconds, ping = _with_pings(ctx, lambda w=who: _delete(w, ctx, book))
                    left = client.dbsize()
                    if left != kept:
                        raise RuntimeError(f"{who} left {left:,} keys, expected {kept:,}")
                    speeds[who].append(doomed / seconds)
                    pings[who].append(ping["max_ms"])
                    pings[f"{who}:p99"].append(ping["p99_ms"])
                _, idle = _with_pings(ctx, lambda: time.sleep(1.0))
                pings["idle"].append(idle["max_ms"])
                pings["idle:p99"].append(idle["p99_ms"])
    finally:
        client.flushdb()
        client.close()

    cli_s = Sample(speeds["cli"], "keys/s", higher_is_better=True)
    vv_s = Sample(speeds["vvrun"], "keys/s", higher_is_better=True)
    cli_cmd = ("redis-cli --scan --pattern 'bench:del:*' | xargs -n 1000 redis-cli unlink")
    res.rows = [Row(f"`{cli_cmd}`", cli_s),
                Row("vvrun `delete_pattern` (SCAN 1000 + UNLINK 1000, pipelines of 10)",
                    vv_s, cli_s),
                *_ping_rows(pings)]
    ratio = vv_s.median / cli_s.median
    res.verdicts.append(Verdict(f"≥ {SPEED_TARGET:g}× the keys/s of the redis-cli pipeline",
                                f"{vv_s.fmt()} vs {cli_s.fmt()}: {ratio:.2f}×",
                                ratio >= SPEED_TARGET))
    p99 = Sample(pings["vvrun:p99"], "ms")
    worst = Sample(pings["vvrun"], "ms")
    res.verdicts.append(Verdict(f"Redis latency during it ≤ {LATENCY_BUDGET_MS:g} ms (p99 PING)",
                                f"p99 PING {p99.fmt()}, worst {worst.fmt()} (worst with "
                                f"nothing running: {Sample(pings['idle'], 'ms').fmt()})",
                                p99.median <= LATENCY_BUDGET_MS))
    res.badness = max(SPEED_TARGET / ratio, p99.median / LATENCY_BUDGET_MS)
    res.notes.append(f"{reps} repetitions, vvrun and the pipeline alternating, each on "
                     f"{doomed:,} fresh keys (written between runs, not timed); the "
                     f"{kept:,} others are checked to survive. The PING loop is its own process "
                     "(bench/ping_loop.py), one PING every 2 ms; the verdict takes its "
                     "99th percentile: its worst is set by this machine's scheduling delays "
                     "(see the worst with nothing running).")
    return res


def _ping_rows(pings: dict[str, list[float]]) -> list[Row]:
    rows = []
    for key, during in (("cli", "during the redis-cli pipeline"),
                        ("vvrun", "during vvrun's delete_pattern"),
                        ("idle", "over 1 s with nothing running (this machine's floor)")):
        rows.append(Row(f"PING latency p99, {during}", Sample(pings[f"{key}:p99"], "ms")))
        rows.append(Row(f"PING latency worst, {during}", Sample(pings[key], "ms")))
    return rows


def _runbook(url: str) -> str:
    return ("version: 1\nname: bench-delete\ntitle: Bench delete\n"
            f"connections:\n  cache:\n    redis: {url}\n"
            "steps:\n  - id: purge\n    timeout: 10m\n"
            "    danger: false\n"  # unattended: the bench measures the delete, not the asking
            f"    redis: {{delete_pattern: \"{DOOMED}*\"}}\n")


def _fill(client: object, prefix: str, count: int) -> None:
    """`count` small string keys, MSET 1000 at a time, 50 commands a round trip."""
    pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
    for start in range(0, count, 1000):
        pipe.mset({f"{prefix}{i}": "x" for i in range(start, min(start + 1000, count))})
        if len(pipe) >= 50:
            pipe.execute()
    pipe.execute()


def _delete(who: str, ctx: Context, book: Path) -> float:
    if who == "vvrun":
        seconds, _ = run_runbook(book, memory_store())
        return seconds
    parts = urlsplit(ctx.redis_url)
    conn = (f"-h {parts.hostname or '127.0.0.1'} -p {parts.port or 6379} "
            f"-n {parts.path.strip('/') or 0}")
    pipeline = (f"redis-cli {conn} --scan --pattern {shlex.quote(DOOMED + '*')} "
                f"| xargs -n 1000 redis-cli {conn} unlink > /dev/null")
    start = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], check=True)
    return time.perf_counter() - start


def _with_pings(ctx: Context, work: object) -> tuple[float, dict[str, float]]:
    ping = subprocess.Popen([ctx.python(), str(ROOT / "bench" / "ping_loop.py"), ctx.redis_url],
                            stdout=subprocess.PIPE, text=True, env=child_env())
    assert ping.stdout is not None
    if ping.stdout.readline().strip() != "ready":
        ping.kill()
        raise RuntimeError("the PING loop did not start")
    try:
        seconds = work()  # type: ignore[operator]
    finally:
        ping.terminate()
        out, _ = ping.communicate(timeout=30)
    return float(seconds or 0.0), json.loads(out.strip().splitlines()[-1])

