"""One big SELECT in its own process, reporting its peak RSS: the big-result case's child.

    python bench/rss_child.py vvrun|psycopg POSTGRES_URL ROWS

Prints one JSON line: {"seconds", "rows", "rss_before_mb" (after imports and connecting),
"peak_mb" (VmHWM: the most the process ever held)}.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path


def rss_mb(field: str = "VmRSS") -> float:
    """From /proc/self/status: VmRSS now, or VmHWM, the peak of this program (ru_maxrss is
    not: Linux carries it over from the parent across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def query(rows: int) -> str:
    return f"SELECT g AS n, 'row ' || g AS label FROM generate_series(1, {rows}) g"


def with_vvrun(url: str, rows: int) -> tuple[float, float, int]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import psycopg  # noqa: F401  (imported before the "before" figure, as the baseline does)
    from engine_api import memory_store, run_runbook

    with tempfile.TemporaryDirectory(prefix="vvrun-bench-") as tmp:
        book = Path(tmp) / "big.yaml"
        book.write_text("version: 1\nname: bench-big\ntitle: Bench big result\n"
                        f"connections:\n  db:\n    postgres: {url}\n"
                        f"steps:\n  - id: big\n    sql: \"{query(rows)}\"\n")
        from vvrun.engine import Engine  # noqa: F401  (imports before the "before" figure)
        from vvrun.language.pipeline import load_runbook

        load_runbook(str(book))
        before = rss_mb()
        seconds, result = run_runbook(book, memory_store())
        got = next(s.result.get("rowcount", 0) for s in result.steps if s.step_id == "big")
    return before, seconds, int(got)


def with_psycopg(url: str, rows: int) -> tuple[float, float, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        before = rss_mb()
        start = time.perf_counter()
        count = 0
        with conn.cursor(name="bench_big") as cur:
            cur.itersize = 2000
            cur.execute(query(rows))
            for _ in cur:
                count += 1
        seconds = time.perf_counter() - start
    return before, seconds, count


def main() -> None:
    who, url, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    before, seconds, count = (with_vvrun if who == "vvrun" else with_psycopg)(url, rows)
    peak = rss_mb("VmHWM")
    print(json.dumps({"seconds": seconds, "rows": count, "rss_before_mb": before,
                      "peak_mb": peak}))


if __name__ == "__main__":
    main()
