"""A database incident, for real: run in the background by demo/demo.py.

Opens a burst of idle connections (some of them idle in a transaction, as a leaking connection
pool leaves them) and a few queries stuck in `pg_sleep(600)` behind a lock, the way a runaway
report looks. Prints `ready` when all of it is in place, then holds it until SIGTERM.
A stuck query terminated by the runbook ends quietly: that is the point of the demo.

usage: incident.py DATABASE_URL [--idle N] [--idle-in-tx N] [--stuck N]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

import psycopg

STUCK_SQL = ("SELECT count(*) FROM user_activity a JOIN users u ON u.id = a.user_id "
             "WHERE pg_sleep(600) IS NOT NULL  -- weekly report, no LIMIT, no index")


def stuck_query(url: str, index: int, started: threading.Barrier) -> None:
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10,
                               application_name=f"vocavision-reports-{index}")
    except psycopg.Error:
        started.abort()  # main() then fails instead of waiting for ever
        raise
    started.wait()
    try:
        conn.execute(STUCK_SQL)
    except psycopg.Error:
        pass  # terminated by the runbook (or the server went away): exactly what should happen
    finally:
        conn.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--idle", type=int, default=40)
    parser.add_argument("--idle-in-tx", type=int, default=6)
    parser.add_argument("--stuck", type=int, default=2)
    args = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    held: list[Any] = []
    for i in range(args.idle):
        held.append(psycopg.connect(args.url, autocommit=True, connect_timeout=10,
                                    application_name=f"vocavision-web-{i % 4}"))
    for _ in range(args.idle_in_tx):
        conn = psycopg.connect(args.url, connect_timeout=10, application_name="vocavision-worker")
        conn.execute("SELECT id FROM users WHERE last_login > now() - interval '1 day' LIMIT 1")
        held.append(conn)  # the transaction stays open: "idle in transaction"

    started = threading.Barrier(args.stuck + 1)
    threads = [threading.Thread(target=stuck_query, args=(args.url, i, started), daemon=True)
               for i in range(args.stuck)]
    for t in threads:
        t.start()
    started.wait(timeout=60)
    print("ready", flush=True)

    stop.wait()
    for conn in held:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
