"""How fast is `vvrun validate`? Prints ratios (not a test; the machine is noisy: read medians).

1. `vvrun validate one.yaml` wall time vs `python -c "import yaml, jsonschema"` (target ≤ 1.5×).
2. `vvrun validate` on 1,000 generated 40-step runbooks in one call vs `check-jsonschema` on
   the same files and the same schema (target: faster; check-jsonschema does no meaning checks).

    .venv/bin/python bench/validate_bench.py [--runs 15] [--files 1000] [--no-check-jsonschema]

Work files go to bench/.work/ (ignored by git); check-jsonschema is installed into a throwaway
venv there on first use.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
SCHEMA = ROOT / "schema" / "runbook.schema.json"
sys.path.insert(0, str(ROOT / "bench"))

from runbook_gen import runbook_text  # noqa: E402


def _vvrun() -> list[str]:
    script = Path(sys.executable).with_name("vvrun")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vvrun"]


def _time(cmd: list[str], *, ok: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd[:4])} … failed ({proc.returncode}): "
                         f"{proc.stderr.decode()[-500:]}")
    return elapsed


def _hyperfine(a: list[str], b: list[str], runs: int) -> tuple[float, float] | None:
    exe = shutil.which("hyperfine")
    if exe is None:
        return None
    out = WORK / "hyperfine.json"
    subprocess.run([exe, "-N", "--warmup", "3", "--runs", str(runs), "--export-json", str(out),
                    shlex.join(a), shlex.join(b)], check=True, stdout=subprocess.DEVNULL)
    import json

    results = json.loads(out.read_text())["results"]
    return results[0]["median"], results[1]["median"]


def _medians(a: list[str], b: list[str], runs: int) -> tuple[float, float]:
    """Median wall times, the two commands interleaved so drift hits both alike."""
    found = _hyperfine(a, b, runs)
    if found is not None:
        return found
    for _ in range(2):  # warm the page cache
        _time(a)
        _time(b)
    ta, tb = [], []
    for _ in range(runs):
        ta.append(_time(a))
        tb.append(_time(b))
    return statistics.median(ta), statistics.median(tb)


def _check_jsonschema() -> str | None:
    venv = WORK / "cj-venv"
    exe = venv / "bin" / "check-jsonschema"
    if not exe.exists():
        print("installing check-jsonschema into bench/.work/cj-venv …", flush=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "check-jsonschema"],
                           check=True)
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"check-jsonschema unavailable: {exc}")
            return None
    return str(exe)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--no-check-jsonschema", action="store_true")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)

    one = WORK / "one.yaml"
    one.write_text(runbook_text(0))
    print(f"one runbook: 40 steps, {one.stat().st_size / 1024:.1f} KiB")
    base_cmd = [sys.executable, "-c", "import yaml, jsonschema"]
    validate_cmd = [*_vvrun(), "validate", str(one)]
    base, ours = _medians(base_cmd, validate_cmd, args.runs)
    ratio = ours / base
    print(f"  python -c 'import yaml, jsonschema'  {base * 1000:7.1f} ms (median of {args.runs})")
    print(f"  vvrun validate one.yaml              {ours * 1000:7.1f} ms")
    print(f"  ratio {ratio:.2f}×  (target ≤ 1.5×) {'OK' if ratio <= 1.5 else 'OVER'}")

    many = WORK / "many"
    if many.exists():
        shutil.rmtree(many)
    many.mkdir()
    for i in range(args.files):
        (many / f"rb{i:04d}.yaml").write_text(runbook_text(i))
    print(f"\n{args.files} runbooks of 40 steps in one call")
    runs = max(3, args.runs // 5)
    ours_many = statistics.median(_time([*_vvrun(), "validate", str(many)]) for _ in range(runs))
    print(f"  vvrun validate many/                 {ours_many:7.2f} s (median of {runs})")
    if args.no_check_jsonschema:
        return
    exe = _check_jsonschema()
    if exe is None:
        print("  check-jsonschema: not available here, no ratio")
        return
    files = sorted(str(p) for p in many.glob("*.yaml"))
    cj_cmd = [exe, "--schemafile", str(SCHEMA), *files]
    theirs = statistics.median(_time(cj_cmd) for _ in range(runs))
    print(f"  check-jsonschema (schema only)       {theirs:7.2f} s")
    ratio = ours_many / theirs
    print(f"  ratio {ratio:.2f}×  (target < 1×) {'OK' if ratio < 1 else 'OVER'}")


if __name__ == "__main__":
    main()
