"""Runs every bench case against its baseline, then writes bench/RESULTS.md.

    bench/run [--quick] [--reps N] [--only cold,sql,...] [--out FILE] [--no-profile]

Each case runs on its own: one that cannot run (a missing tool, a server down) is reported as
not measured, and the others go on. See bench/README.md.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from common import ROOT, CaseResult, Context, log

# key -> (module, function); the order is the order of RESULTS.md
CASES: dict[str, tuple[str, str]] = {
    "cold": ("case_cli", "cold_start"),
    "validate": ("case_validate", "validate_many"),
    "shell": ("case_steps", "shell_steps"),
    "sql": ("case_steps", "sql_steps"),
    "state": ("case_steps", "durable_state"),
    "sqlout": ("case_sql_output", "sql_with_output"),
    "delete": ("case_delete", "pattern_delete"),
    "bigresult": ("case_bigresult", "big_result"),
    "plan": ("case_cli", "plan_all"),
    "notify": ("case_notify", "notify_submit"),
    "mask": ("case_mask", "mask_output"),
}

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"  # a dedicated db: the delete case flushes it


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer repetitions and smaller sizes: to try the harness, not to "
                        "quote (RESULTS.md says so)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per figure (5)")
    parser.add_argument("--only", default="", help=f"comma-separated cases: {','.join(CASES)}")
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    parser.add_argument("--no-profile", action="store_true", help="skip the pyinstrument profile")
    args = parser.parse_args(argv)

    keys = [k.strip() for k in args.only.split(",") if k.strip()] or list(CASES)
    unknown = [k for k in keys if k not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    ctx = Context(
        reps=2 if args.quick else max(2, args.reps), quick=args.quick,
        pg_url=os.environ.get("VVRUN_BENCH_POSTGRES_URL", DEFAULT_PG),
        redis_url=os.environ.get("VVRUN_BENCH_REDIS_URL", DEFAULT_REDIS),
    )
    ctx.work.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    t0 = time.perf_counter()
    results = [_run_case(key, ctx) for key in keys]

    profile = None
    if not args.no_profile:
        from profiling import profile_worst

        log("profile: the case furthest from its target, under pyinstrument")
        profile = profile_worst(results, ctx)
    command = "bench/run " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.quick:
        command += " — QUICK MODE: smaller sizes and fewer repetitions; do not quote these"
    from report import render

    text = render(results, started=started, seconds=time.perf_counter() - t0,
                  argv=command.strip(), profile=profile)
    Path(args.out).write_text(text, encoding="utf-8")
    log(f"wrote {args.out}")
    for res in results:
        for v in res.verdicts:
            log(f"{'met   ' if v.met else 'MISSED'} {res.key}: {v.target} — {v.measured}")
        if res.error:
            log(f"NOT MEASURED {res.key}: {res.error.splitlines()[0]}")
    return 0


def _run_case(key: str, ctx: Context) -> CaseResult:
    module, name = CASES[key]
    log(f"case {key} ...")
    start = time.perf_counter()
    try:
        fn: Callable[[Context], CaseResult] = getattr(importlib.import_module(module), name)
        res = fn(ctx)
    except Exception as exc:  # one broken case must not hide the others' figures
        res = CaseResult(key, f"{key} (case `{module}.{name}`)", error=_describe(exc))
    res.key = key
    res.seconds = time.perf_counter() - start
    log(f"case {key}: {res.seconds:.1f} s" + (" — NOT MEASURED" if res.error else ""))
    return res


def _describe(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = "".join(f"  at {Path(f.filename).name}:{f.lineno} in {f.name}\n" for f in frames)
    return "".join(lines).strip() + "\n" + where


if __name__ == "__main__":
    sys.exit(main())
