"""Big result: a `sql` step selecting 1,000,000 rows (generate_series) against a psycopg
server-side cursor loop; each in its own process (bench/rss_child.py), which reports its peak
RSS (VmHWM) and its RSS before the query."""

from __future__ import annotations

import json

from common import ROOT, CaseResult, Context, Row, Sample, Verdict, child_env, run_checked

RSS_BUDGET_MB = 150.0


def big_result(ctx: Context) -> CaseResult:
    rows = 100_000 if ctx.quick else 1_000_000
    res = CaseResult("bigresult", f"Big result: a `sql` step selecting {rows:,} rows")
    reps = min(ctx.reps, 3)
    runs: dict[str, list[dict[str, float]]] = {"psycopg": [], "vvrun": []}
    for _ in range(reps):
        for who in runs:
            proc = run_checked([ctx.python(), str(ROOT / "bench" / "rss_child.py"), who,
                                ctx.pg_url, str(rows)], env=child_env())
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            if out["rows"] != rows:
                raise RuntimeError(f"{who} saw {out['rows']:,} rows, not {rows:,}")
            runs[who].append(out)

    def sample(who: str, key: str, unit: str) -> Sample:
        return Sample([r[key] for r in runs[who]], unit)

    base_peak, vv_peak = sample("psycopg", "peak_mb", "MB"), sample("vvrun", "peak_mb", "MB")
    base_t = Sample([r["seconds"] * 1000 for r in runs["psycopg"]], "ms")
    vv_t = Sample([r["seconds"] * 1000 for r in runs["vvrun"]], "ms")
    growth = Sample([r["peak_mb"] - r["rss_before_mb"] for r in runs["vvrun"]], "MB")
    base_growth = Sample([r["peak_mb"] - r["rss_before_mb"] for r in runs["psycopg"]], "MB")
    res.rows = [
        Row("psycopg server-side cursor (itersize 2000), peak RSS", base_peak),
        Row("vvrun sql step, peak RSS", vv_peak, base_peak),
        Row("psycopg, RSS growth during the query", base_growth),
        Row("vvrun, RSS growth during the run", growth, base_growth),
        Row("psycopg, time", base_t),
        Row("vvrun, time (Engine.start())", vv_t, base_t),
    ]
    res.verdicts.append(Verdict(f"peak RSS < {RSS_BUDGET_MB:g} MB", f"{vv_peak.fmt()} "
                                f"(the psycopg loop: {base_peak.fmt()})",
                                vv_peak.high < RSS_BUDGET_MB))
    res.badness = vv_peak.high / RSS_BUDGET_MB
    res.notes.append(f"{reps} repetitions, each a fresh process (bench/rss_child.py). Peak RSS "
                     "is the whole process (Python, vvrun, psycopg included); the verdict "
                     "takes the highest of the repetitions. The step keeps 1,000 rows "
                     "(`max_rows`) and counts the rest as they stream past.")
    return res
