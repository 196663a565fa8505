"""`make demo`: a real incident in a disposable sandbox, handled by a real runbook.

1. starts the sandbox (PostgreSQL and Redis from the `vvrun[sandbox]` wheels) in .sandbox/demo
2. loads the VocaVision schema and data into a `vocavision` database
3. starts an incident in the background: queries stuck in pg_sleep(600), a burst of idle
   connections, a few idle in transaction
4. runs `vvrun runbooks/db-emergency.yaml --yes` against it, for real, non-interactively
5. stops the incident and removes the sandbox, whatever happened (KEEP=1 keeps the sandbox)

Exits with vvrun's exit code. Environment: KEEP=1; DEMO_RUNBOOK (runbooks/db-emergency.yaml).
"""

from __future__ import annotations

import os
import select
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

REPO = Path(__file__).resolve().parent.parent
SANDBOX_DIR = REPO / ".sandbox" / "demo"
STATE_DB = REPO / ".sandbox" / "state.db"  # the demo's run history, apart from yours
SCHEMA_SQL = REPO / "tests" / "world" / "schema.sql"
SEED_SQL = REPO / "tests" / "world" / "seed.sql"
STUCK_AFTER = "5 seconds"
RUN_TIMEOUT = 300  # seconds; the runbook itself takes a few

# at a terminal rich measures it; elsewhere (CI, a pipe) match vvrun's own 100 columns
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 100)


def say(label: str, text: str) -> None:
    console.print(f"[bold cyan]▸ {label:<9}[/] {text}")


def fail(text: str) -> None:
    console.print(f"[bold red]✗ demo failed:[/] {text}")


def with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def seed(admin_url: str) -> str:
    """A fresh `vocavision` database with the schema and data; its URL."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS vocavision WITH (FORCE)")
        conn.execute("CREATE DATABASE vocavision")
    url = with_database(admin_url, "vocavision")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA_SQL.read_text())
        conn.execute(SEED_SQL.read_text())
        users = conn.execute("SELECT count(*) FROM users").fetchone()
        events = conn.execute("SELECT count(*) FROM user_activity").fetchone()
    say("seed", f"database [bold]vocavision[/]: VocaVision schema, {users[0] if users else 0} "
        f"users, {events[0] if events else 0} activity events")
    return url


def start_incident(url: str) -> subprocess.Popen[str]:
    # its own session, so that cleanup can signal the whole group
    proc = subprocess.Popen([sys.executable, str(REPO / "demo" / "incident.py"), url],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    # "ready", or EOF when it failed (its error is on the terminal already)
    line = proc.stdout.readline().strip() if ready else ""
    if line != "ready":
        stop_incident(proc)
        raise RuntimeError(f"the incident process did not get ready (exit {proc.returncode})")
    return proc


def incident_stats(url: str) -> tuple[int, int, int, int]:
    """(stuck for over STUCK_AFTER, stuck, idle, idle in transaction) among the app's sessions."""
    import psycopg

    with psycopg.connect(url, autocommit=True, application_name="demo-observer") as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE state = 'active' AND query LIKE '%%pg_sleep(600)%%'"
            "         AND query_start < now() - %s::interval),"
            "       count(*) FILTER (WHERE state = 'active' AND query LIKE '%%pg_sleep(600)%%'),"
            "       count(*) FILTER (WHERE state = 'idle'),"
            "       count(*) FILTER (WHERE state LIKE 'idle in transaction%%')"
            " FROM pg_stat_activity WHERE datname = 'vocavision'"
            "   AND application_name LIKE 'vocavision-%%'",
            (STUCK_AFTER,)).fetchone()
    assert row is not None
    return row[0], row[1], row[2], row[3]


def wait_for_incident(url: str) -> int:
    """Until the stuck queries are older than STUCK_AFTER (only then do they count as stuck);
    how many there are."""
    deadline = time.monotonic() + 60
    while True:
        stuck_old, stuck, idle, idle_tx = incident_stats(url)
        if stuck and stuck_old == stuck:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the stuck queries never showed up in pg_stat_activity")
        time.sleep(0.5)
    say("incident", f"[bold red]{stuck} queries stuck in pg_sleep(600)[/] for over {STUCK_AFTER}, "
        f"{idle} idle connections, {idle_tx} idle in transaction")
    return int(stuck)


def check_outcome(url: str, stuck_before: int) -> bool:
    """What the database looks like after the run: the proof, not the claim."""
    _, stuck, idle, idle_tx = incident_stats(url)
    if stuck:
        fail(f"{stuck} queries are still stuck in pg_sleep(600)")
        return False
    console.print(f"[bold green]✓ the incident is handled:[/] 0 queries stuck (was {stuck_before});"
                  f" the {idle} idle connections and {idle_tx} idle transactions were left alone.")
    return True


def stop_incident(proc: subprocess.Popen[str] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    if proc.stdout is not None:
        proc.stdout.close()


def run_runbook(env: dict[str, str]) -> int:
    runbook = os.environ.get("DEMO_RUNBOOK", "runbooks/db-emergency.yaml")
    vvrun = str(Path(sys.executable).parent / "vvrun")
    args = [vvrun, runbook, "--yes", "--var", f"stuck_after={STUCK_AFTER}"]
    say("run", " ".join(shlex.quote(a) for a in ["vvrun", *args[1:]]))
    console.rule(style="dim")
    sys.stdout.flush()
    try:
        code = subprocess.run(args, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                              timeout=RUN_TIMEOUT, check=False).returncode
    except subprocess.TimeoutExpired:
        fail(f"vvrun did not finish within {RUN_TIMEOUT}s")
        return 1
    console.rule(style="dim")
    return code


def main() -> int:
    from vvrun.errors import VvrunError
    from vvrun.sandbox import down, up

    keep = os.environ.get("KEEP") == "1"
    incident = None
    code = 1
    console.rule("[bold]vvrun demo[/]: a database emergency, handled by a runbook")
    try:
        say("sandbox", f"starting PostgreSQL and Redis in {SANDBOX_DIR.relative_to(REPO)}/ ...")
        box = up(SANDBOX_DIR)
        say("sandbox", f"PostgreSQL on 127.0.0.1:{box.postgres.port}, "
            f"Redis on 127.0.0.1:{box.redis.port}")
        url = seed(box.postgres.url)
        incident = start_incident(url)
        stuck_before = wait_for_incident(url)

        # db-emergency works through an admin connection (the app's login may be the one that
        # is exhausted); in the sandbox the superuser is that admin
        env = {**os.environ, "DATABASE_URL": url, "VOCAVISION_DB_ADMIN": url,
               "REDIS_URL": box.redis.url, "VVRUN_STATE": str(STATE_DB),
               "VVRUN_OPERATOR": "demo@vocavision"}
        code = run_runbook(env)
        if code != 0:
            fail(f"vvrun exited with {code}")
        elif not check_outcome(url, stuck_before):
            code = 1
        console.print(f"[dim]  the run's history: VVRUN_STATE={STATE_DB.relative_to(REPO)} "
                      f".venv/bin/vvrun runs[/]")
    except VvrunError as exc:
        fail(exc.format())
    except Exception as exc:
        fail(f"{type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        fail("interrupted")
        code = 130
    finally:
        stop_incident(incident)
        if keep:
            say("cleanup", "incident stopped; the sandbox is still up (KEEP=1): "
                f"eval \"$(.venv/bin/vvrun sandbox env --dir {SANDBOX_DIR.relative_to(REPO)})\"")
        else:
            down(SANDBOX_DIR)
            say("cleanup", "incident stopped; sandbox removed")
    return code


if __name__ == "__main__":
    sys.exit(main())
