"""Notifications off the critical path: what `Dispatcher.submit()` adds to a step.

A loop of N "steps" that each make a `Message` and submit it to a webhook notifier (a real
local HTTP receiver takes the deliveries in the background, so the worker thread competes
for the GIL as it would in a run), against the same loop doing nothing. The deliveries'
own time (flush) is reported apart: it is not on the steps' path.

    PYTHONPATH=. .venv/bin/python bench/case_notify.py [--quick]     # or: bench/run --only notify
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common import CaseResult, Context, Row, Sample, Verdict

BUDGET_MS = 1.0  # SPEC §3.8 / issue 17: ≤ 1 ms added per step


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each keep-alive answer waits ~40 ms (PERF-NOTES)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def _noop_step(i: int) -> None:
    return None


def _baseline(n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        _noop_step(i)
    return time.perf_counter() - start


def _with_submit(n: int, url: str) -> tuple[float, float, int]:
    """(seconds for the loop, seconds until every delivery was final, deliveries ok)."""
    from vvrun.notify import build
    from vvrun.notify.base import Message
    from vvrun.notify.dispatch import Dispatcher

    ok = []
    dispatcher = Dispatcher({"hook": build("hook", {"webhook": url + "/hook"})},
                            on_delivery=lambda d: ok.append(d.ok))
    start = time.perf_counter()
    for i in range(n):
        _noop_step(i)
        dispatcher.submit("hook", Message("step", "bench-notify", "run-1", f"step {i} done",
                                          step=f"s{i}", status="succeeded"))
    loop = time.perf_counter() - start
    dispatcher.close(timeout=300)
    return loop, time.perf_counter() - start, sum(ok)


def notify_submit(ctx: Context) -> CaseResult:
    n = 200 if ctx.quick else 1000
    res = CaseResult("notify", f"Per step, notify: {n} steps that each submit a notification")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        _with_submit(20, url)  # warm-up: imports (httpx in the worker), the first connection
        base, sub, total, delivered = [], [], [], []
        for _ in range(ctx.reps):
            base.append(_baseline(n) / n * 1000)
            loop, everything, ok = _with_submit(n, url)
            sub.append(loop / n * 1000)
            total.append(everything)
            delivered.append(ok)
    finally:
        server.shutdown()
        server.server_close()
    base_s, sub_s = Sample(base, "ms/step"), Sample(sub, "ms/step")
    res.rows = [Row("loop of no-op steps", base_s),
                Row("the same loop, each step making a Message and calling submit()", sub_s,
                    base_s)]
    over = sub_s.median - base_s.median
    res.verdicts.append(Verdict(f"≤ {BUDGET_MS:g} ms a step added by submit()",
                                f"{sub_s.fmt()} vs {base_s.fmt()}: {over * 1000:+.1f} µs a step",
                                over <= BUDGET_MS))
    res.badness = max(0.0, over / BUDGET_MS)
    res.notes.append(f"Deliveries (a webhook to a local receiver, in the background): "
                     f"{min(delivered)}–{max(delivered)} of {n} delivered per repetition; "
                     f"loop + flush took {Sample(total, 's').fmt()} (not on the steps' path). "
                     f"{ctx.reps} repetitions, interleaved.")
    return res


if __name__ == "__main__":
    from common import WORK

    quick = "--quick" in sys.argv
    result = notify_submit(Context(reps=2 if quick else 5, quick=quick, pg_url="",
                                   redis_url="", work=WORK))
    for row in result.rows:
        ratio = row.ratio()
        print(f"{row.label}: {row.sample.fmt()} ({row.sample.spread()})"
              + (f", {ratio:.1f}× the baseline" if ratio else ""))
    for verdict in result.verdicts:
        print(f"{'met' if verdict.met else 'MISSED'}: {verdict.target} — {verdict.measured}")
    print(*result.notes, sep="\n")
