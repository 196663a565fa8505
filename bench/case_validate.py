"""Validate 1,000 runbooks of 40 steps in one `vvrun validate` call, against check-jsonschema
on the same files and the same schema (it does no meaning checks: vvrun does more work).

The runbooks come from bench/runbook_gen.py (shared with bench/validate_bench.py, which also
prints this case on its own)."""

from __future__ import annotations

import shutil
import time

from common import ROOT, TOOLS_BIN, CaseResult, Context, Row, Sample, Verdict, run_checked

TARGET = 2.0  # vvrun at least this many times faster
SCHEMA = ROOT / "schema" / "runbook.schema.json"


def validate_many(ctx: Context) -> CaseResult:
    from runbook_gen import runbook_text

    n = 100 if ctx.quick else 1000
    res = CaseResult("validate", f"Validate {n:,} runbooks of 40 steps in one call")
    folder = ctx.work / "validate-many"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"rb{i:04d}.yaml").write_text(runbook_text(i), encoding="utf-8")
    files = sorted(str(p) for p in folder.glob("*.yaml"))
    size = sum((folder / f).stat().st_size for f in files) / n / 1024
    ours = [ctx.vvrun(), "validate", str(folder)]
    cj = TOOLS_BIN / "check-jsonschema"
    theirs = [str(cj), "--schemafile", str(SCHEMA), *files] if cj.exists() else None

    # Each call takes seconds (check-jsonschema tens of them): fewer, interleaved repetitions.
    reps = 2
    t_ours: list[float] = []
    t_theirs: list[float] = []
    for _ in range(reps):
        t_ours.append(_timed(ours))
        if theirs is not None:
            t_theirs.append(_timed(theirs))
    shutil.rmtree(folder, ignore_errors=True)

    ours_s = Sample(t_ours, "s")
    if theirs is None:
        res.rows = [Row("vvrun validate FOLDER", ours_s)]
        res.notes.append("check-jsonschema could not be installed into bench/.work/tools "
                         "(see bench/.work/tools-pip.log): no baseline, no ratio.")
        return res
    theirs_s = Sample(t_theirs, "s")
    res.rows = [Row("check-jsonschema --schemafile schema/runbook.schema.json FILES "
                    "(schema only)", theirs_s),
                Row("vvrun validate FOLDER (schema and meaning checks)", ours_s, theirs_s)]
    speedup = theirs_s.median / ours_s.median
    res.rows[1].note = f"{speedup:.1f}× faster"
    res.verdicts.append(Verdict(f"≥ {TARGET:g}× faster than check-jsonschema",
                                f"{ours_s.fmt()} vs {theirs_s.fmt()}: {speedup:.2f}× faster",
                                speedup >= TARGET))
    res.badness = TARGET / speedup
    res.notes.append(f"{n:,} generated runbooks of 40 steps ({size:.1f} KiB each) from "
                     f"bench/runbook_gen.py; {reps} interleaved repetitions (each call takes "
                     "seconds). Both are whole processes, start-up included.")
    return res


def _timed(argv: list[str]) -> float:
    start = time.perf_counter()
    run_checked(argv)
    return time.perf_counter() - start
