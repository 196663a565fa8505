"""Before re-running an uncertain step: is the crashed run's copy of it still alive?

A crashed vvrun can leave its backend running (the server has not noticed the client is gone,
or the query ignores the disconnect until it finishes). A run names its backends
`<application_name>:<run>` (in the conninfo, so naming costs no round trip) and runs one step
at a time, so a backend of the crashed run that is not idle is the uncertain step, still running
or holding its transaction open. A shell step runs
in its own process group, which outlives the interpreter that started it; the ledger records
the group, so a survivor on this host is found with a signal 0. A shell step on a remote host
records its ssh client's group instead: while the client lives the command may still run there;
once it is gone, the end of its session has stopped the command (shell/_remote.py).

`refuse_if_running` runs before a resume asks or decides anything about an in-flight step:
while a copy of it still runs, vvrun neither runs it again nor takes it as done (a run must
never end succeeded with its step still working).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from vvrun.engine.options import UncertainStep
from vvrun.engine.session import RunSession
from vvrun.errors import Location, StepFailed
from vvrun.language.model import Step

NAMEDATALEN = 63  # PostgreSQL truncates application_name to this many bytes


_WHILE = "vvrun neither runs it again nor takes it as done while it runs"


def refuse_if_running(run: RunSession, step: Step, key: str, action: Any,
                      where: Location) -> str:
    """Raise UncertainStep when the interrupted run's copy of the step is still alive (its
    process group on this host, its backend on the database); else say what was looked at,
    a fact for the question the resume may ask."""
    entry = run.store.ledger_entry(run.run_id, key) or {}
    pgid, host = entry.get("pgid"), entry.get("host")
    remote = getattr(getattr(action, "remote", None), "host", None)
    seen: list[str] = []
    if pgid and host == run.opts.host:
        if live_process_group(pgid):
            if remote:  # the group is the step's ssh client: the command runs on `remote`
                what = (f"may still be running on {remote}: its ssh session (process group "
                        f"{pgid} here)")
                stop = f"end the session (`kill -TERM -{pgid}`: the host then stops the command)"
            else:
                what = f"is still running (pgid {pgid}): process group {pgid}"
                stop = f"stop it (`kill -TERM -{pgid}`)"
            raise UncertainStep(
                f"step '{key}' {what}, started by the interrupted run, is alive; {_WHILE}",
                where=where, hint=f"wait for it to finish, or {stop}, then "
                f"`vvrun resume {run.run_id}` again")
        seen.append(f"its ssh session to {remote} (process group {pgid}) has ended, which "
                    "stops the command there" if remote else
                    f"its process group {pgid} has ended")
    elif pgid and host:
        seen.append(f"it ran on {host} (process group {pgid}), where vvrun cannot look")
    url = getattr(action, "url", None) if step.type == "sql" else None
    if url:
        app = f"{getattr(action, 'application_name', 'vvrun')}:{run.run_id}"
        alive = stray_backends(url, app)
        if alive:
            pids = ", ".join(f"{b['pid']} ({b['state']})" for b in alive)
            first = alive[0]["pid"]
            raise UncertainStep(
                f"step '{key}' is still running on the database (backend pid {pids}, "
                f"application_name {app!r}); {_WHILE}", where=where,
                hint=f"wait for it to finish, or stop it (`SELECT pg_cancel_backend({first})`"
                f", or pg_terminate_backend({first}) if it does not stop), then "
                f"`vvrun resume {run.run_id}` again")
        seen.append("no backend of the run is busy on the database")
    return "; ".join(seen)


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
