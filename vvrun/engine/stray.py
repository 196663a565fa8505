"""Before re-running an uncertain step: is the crashed run's copy of it still alive?

A crashed vvrun can leave its backend running (the server has not noticed the client is gone,
or the query ignores the disconnect until it finishes). A run names its backends
`<application_name>:<run>` (in the conninfo, so naming costs no round trip) and runs one step
at a time, so a backend of the crashed run that is not idle is the uncertain step, still running
or holding its transaction open. A shell step runs
in its own process group, which outlives the interpreter that started it; the ledger records
the group, so a survivor on this host is found with a signal 0.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from vvrun.errors import Location, StepFailed

NAMEDATALEN = 63  # PostgreSQL truncates application_name to this many bytes


def stray_backends(url: str, application_name: str, *, timeout: float = 10.0
                   ) -> list[dict[str, Any]]:
    """The backends named `application_name` that are busy (running a query or inside a
    transaction), other than the one asking: (pid, state, query)."""
    import psycopg

    name = application_name.encode()[:NAMEDATALEN].decode(errors="ignore")
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout)),
                             application_name="vvrun:stray-check") as conn:
            rows = conn.execute(
                "SELECT pid, state, left(query, 120) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid() AND state <> 'idle'",
                (name,)).fetchall()
    except psycopg.Error as exc:
        raise StepFailed(
            f"could not look for a stray backend of the interrupted step: {exc}",
            where=Location(),
            hint="check the database is reachable, then resume again",
        ) from exc
    return [{"pid": r[0], "state": r[1], "query": r[2]} for r in rows]


def live_process_group(pgid: int) -> bool:
    """True when a process of group `pgid` is still alive on this host."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    with contextlib.suppress(OSError):  # a zombie leader alone is not alive
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                    if int(fields[2]) == pgid and fields[0] != "Z":
                        return True
        return False
    return True
