"""One case's vvrun workload under pyinstrument, set-up excluded; prints the text profile.

    PYTHONPATH=bench/.work/pyinstrument-lib .venv/bin/python bench/profile_target.py CASE URL...

CASE: cold (`vvrun plan` of one runbook, imports included), validate (`vvrun validate` of a
folder), shell, sql, state, delete, bigresult. pyinstrument samples the main thread only, so
the engine's step worker is run inline here (patched): the step's own work shows in the
profile, and the thread hop is the one thing missing from it.
"""

from __future__ import annotations

import contextlib
import runpy
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def _inline_worker() -> None:
    import vvrun.engine.attempts as attempts

    def inline(fn: Callable[[], Any], *_: Any, **__: Any) -> Any:
        return fn()

    attempts.run_in_worker = inline  # type: ignore[assignment]


def _cli(*argv: str) -> Callable[[], None]:
    def go() -> None:
        sys.argv = ["vvrun", *argv]
        with contextlib.suppress(SystemExit):
            runpy.run_module("vvrun", run_name="__main__")

    return go


def workload(case: str, args: list[str], tmp: Path) -> Callable[[], object]:
    """The profiled call for `case`, everything it needs prepared outside of it."""
    if case == "cold":
        return _cli("plan", str(ROOT / "runbooks" / "db-emergency.yaml"))
    if case == "validate":
        from runbook_gen import runbook_text

        for i in range(200):
            (tmp / f"rb{i:04d}.yaml").write_text(runbook_text(i))
        return _cli("validate", str(tmp))

    from engine_api import (
        make_engine,
        memory_store,
        run_runbook,
        sqlite_store,
        start,
        steps_runbook,
    )

    _inline_worker()
    book = tmp / "book.yaml"
    store: Any = memory_store()
    if case == "shell":
        book.write_text(steps_runbook("prof-shell", 'shell: "true"', 200))
    elif case in ("sql", "state"):
        book.write_text(steps_runbook("prof-sql", "sql: SELECT 1", 1000,
                                      connections=f"db:\n  postgres: {args[0]}"))
        if case == "state":
            store = sqlite_store(tmp / "state.db")
    elif case == "bigresult":
        from rss_child import query

        book.write_text("version: 1\nname: prof-big\ntitle: Profile\n"
                        f"connections:\n  db:\n    postgres: {args[0]}\n"
                        f"steps:\n  - id: big\n    sql: \"{query(1_000_000)}\"\n")
    elif case == "delete":
        import redis
        from case_delete import DOOMED, _fill, _runbook

        client = redis.Redis.from_url(args[0])
        client.flushdb()
        _fill(client, DOOMED, 300_000)
        book.write_text(_runbook(args[0]))
    else:
        raise SystemExit(f"no profile workload for case {case!r}")
    if case != "delete":
        run_runbook(book, memory_store())  # warm-up: imports, the first connection
    engine = make_engine(book, store)
    return lambda: start(engine)


def main() -> None:
    from pyinstrument import Profiler

    case, args = sys.argv[1], sys.argv[2:]
    with tempfile.TemporaryDirectory(prefix="vvrun-prof-") as tmp:
        work = workload(case, args, Path(tmp))
        profiler = Profiler(interval=0.0005)
        profiler.start()
        work()
        profiler.stop()
    if case == "delete":
        import redis

        redis.Redis.from_url(args[0]).flushdb()
    print(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()
