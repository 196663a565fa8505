"""A concurrent PING loop: the latency Redis shows other clients while a case runs.

    python bench/ping_loop.py REDIS_URL

Prints `ready` once connected, then PINGs every 2 ms until SIGTERM, and prints one JSON line:
{"n", "median_ms", "p99_ms", "max_ms"}. Its own process, so that it never waits for the GIL
of the process it watches.
"""

from __future__ import annotations

import json
import signal
import statistics
import sys
import time


def main() -> None:
    import redis

    client = redis.Redis.from_url(sys.argv[1])
    client.ping()
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    print("ready", flush=True)
    lat: list[float] = []
    while not stop:
        start = time.perf_counter()
        client.ping()
        lat.append((time.perf_counter() - start) * 1000)
        time.sleep(0.002)
    lat.sort()
    print(json.dumps({"n": len(lat), "median_ms": statistics.median(lat) if lat else 0.0,
                      "p99_ms": lat[int(len(lat) * 0.99)] if lat else 0.0,
                      "max_ms": lat[-1] if lat else 0.0}), flush=True)


if __name__ == "__main__":
    main()
