"""What every bench case shares: samples and their statistics, a case's result, the context.

A case is a function `(Context) -> CaseResult`. It measures each contender several times
(interleaved, so CPU placement hits them alike: PERF-NOTES), and reports rows (a figure per
contender, with its ratio to the case's baseline) and verdicts (each target, met or missed,
with what was measured).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
VENV_BIN = ROOT / ".venv" / "bin"
TOOLS_BIN = WORK / "tools" / "bin"  # check-jsonschema, ansible-playbook (throwaway venv)
PROFILER_LIB = WORK / "pyinstrument-lib"  # pyinstrument, on PYTHONPATH for profiles only


@dataclass
class Sample:
    """Repeated measurements of one figure, in `unit` (ms, s, MB, keys/s, ...)."""

    values: list[float]
    unit: str
    higher_is_better: bool = False

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def fmt(self, value: float | None = None) -> str:
        return f"{fmt_number(self.median if value is None else value)} {self.unit}"

    def spread(self) -> str:
        """min–max and the relative half-range, e.g. `118–131 (±5%)`."""
        if len(self.values) < 2:
            return "one run"
        half = (self.high - self.low) / 2
        rel = half / self.median * 100 if self.median else 0.0
        return f"{fmt_number(self.low)}–{fmt_number(self.high)} (±{rel:.0f}%)"


@dataclass
class Row:
    """One contender's figure; `ratio` is to the case's baseline (None: it is the baseline)."""

    label: str
    sample: Sample
    ratio_to: Sample | None = None
    note: str = ""

    def ratio(self) -> float | None:
        if self.ratio_to is None or not self.ratio_to.median:
            return None
        return self.sample.median / self.ratio_to.median


@dataclass
class Verdict:
    target: str
    measured: str
    met: bool


@dataclass
class CaseResult:
    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0  # how long the case took, all repetitions
    #: how far the case is from its target (measured / allowed); the worst one gets profiled
    badness: float = 0.0


@dataclass
class Context:
    reps: int
    quick: bool
    pg_url: str
    redis_url: str  # a dedicated db index, flushed by the pattern-delete case
    work: Path = WORK

    def python(self) -> str:
        return str(VENV_BIN / "python")

    def vvrun(self) -> str:
        return str(VENV_BIN / "vvrun")


def fmt_number(value: float) -> str:
    if value == 0:
        return "0"
    mag = abs(value)
    if mag >= 10_000:
        return f"{value:,.0f}"
    if mag >= 100:
        return f"{value:.0f}"
    if mag >= 10:
        return f"{value:.1f}"
    if mag >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def run_checked(argv: Sequence[str], *, env: dict[str, str] | None = None,
                cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a command, failing with its output when it fails (a bench that measures an
    error measures nothing)."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env=env)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise RuntimeError(f"{' '.join(argv[:3])} ... exited {proc.returncode}:\n"
                           + "\n".join(tail))
    return proc


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def log(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)
