"""Timing whole commands: hyperfine when installed (the PERF-NOTES method), else a
subprocess loop with the same shape (warm-up runs, then timed ones, output discarded)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from common import ROOT, child_env


def have_hyperfine() -> bool:
    return shutil.which("hyperfine") is not None


def time_commands(commands: Sequence[Sequence[str]], *, runs: int, warmup: int = 2,
                  rounds: int = 3, env: dict[str, str] | None = None) -> list[list[float]]:
    """Seconds of each command, `runs` times in each of `rounds` rounds (the rounds
    interleave the commands); one list of seconds per command."""
    times: list[list[float]] = [[] for _ in commands]
    env = env or child_env()
    for _ in range(rounds):
        if have_hyperfine():
            for i, seconds in enumerate(_hyperfine(commands, runs, warmup, env)):
                times[i] += seconds
        else:
            for i, argv in enumerate(commands):
                times[i] += _loop(argv, runs, warmup, env)
    return times


def _hyperfine(commands: Sequence[Sequence[str]], runs: int, warmup: int,
               env: dict[str, str]) -> list[list[float]]:
    with tempfile.TemporaryDirectory(prefix="vvrun-bench-") as tmp:
        out = Path(tmp) / "hf.json"
        argv = ["hyperfine", "--shell=none", "--style=none", f"--warmup={warmup}",
                f"--runs={runs}", f"--export-json={out}"]
        # --shell=none splits on spaces: fine for our paths, quoted anyway for safety
        argv += [" ".join(_quote(a) for a in cmd) for cmd in commands]
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"hyperfine failed: {(proc.stderr or proc.stdout).strip()}")
        data = json.loads(out.read_text())
    return [list(r["times"]) for r in data["results"]]


def _quote(arg: str) -> str:
    return f"'{arg}'" if (" " in arg or '"' in arg) else arg


def _loop(argv: Sequence[str], runs: int, warmup: int, env: dict[str, str]) -> list[float]:
    out = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        proc = subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              cwd=ROOT, env=env)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: "
                               f"{proc.stderr.decode(errors='replace').strip()[-500:]}")
        if i >= warmup:
            out.append(elapsed)
    return out


def method() -> str:
    return "hyperfine" if have_hyperfine() else "a subprocess loop (hyperfine not installed)"
