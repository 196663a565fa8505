"""The pyinstrument profile of the case furthest from its target, for RESULTS.md."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from common import PROFILER_LIB, ROOT, CaseResult, Context, child_env

PROFILED = ("cold", "validate", "shell", "sql", "state", "delete", "bigresult")
MAX_LINES = 70


def profile_worst(results: Sequence[CaseResult], ctx: Context) -> str | None:
    candidates = [r for r in results if not r.error and r.key in PROFILED]
    if not candidates:
        return None
    worst = max(candidates, key=lambda r: r.badness)
    head = [f"## Profile: {worst.title}", "",
            f"The case furthest from its target ({worst.badness:.2f}× what the target allows), "
            "under pyinstrument (`bench/profile_target.py "
            f"{worst.key}`: the workload once, set-up excluded, the step worker run inline so "
            "that the step's own work is sampled).", ""]
    if not (PROFILER_LIB / "pyinstrument").is_dir():
        return "\n".join([*head, "pyinstrument could not be installed into "
                          "bench/.work/pyinstrument-lib: no profile."])
    args = {"sql": [ctx.pg_url], "state": [ctx.pg_url], "bigresult": [ctx.pg_url],
            "delete": [ctx.redis_url]}.get(worst.key, [])
    proc = subprocess.run([ctx.python(), str(ROOT / "bench" / "profile_target.py"), worst.key,
                           *args], capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env=child_env(PYTHONPATH=str(PROFILER_LIB)))
    if proc.returncode != 0:
        return "\n".join([*head, "The profile failed:", "", "```",
                          proc.stderr.strip()[-2000:], "```"])
    lines = proc.stdout.rstrip().splitlines()
    # drop pyinstrument's banner (keep its "Duration … CPU time" figures) and its footer
    stats = next((ln.split("Duration:", 1)[1].strip() for ln in lines if "Duration:" in ln), "")
    start = next((i + 1 for i, ln in enumerate(lines) if ln.startswith("Profile at")), 0)
    lines = [ln for ln in lines[start:] if ln.strip() and "pyinstrument --load-prev" not in ln
             and not ln.startswith("To view")]
    if stats:
        head.append(f"Duration: {' '.join(stats.split())}.")
        head.append("")
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], f"[… {len(lines) - MAX_LINES} more lines …]"]
    return "\n".join([*head, "```", *lines, "```"])
