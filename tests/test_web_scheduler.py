"""Schedules: due slots, one claim per slot across processes (SQLite and the real PostgreSQL),
catching up at most once, and a scheduled run started by a tick."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.web_world import RUNBOOKS, wait_for

pytest.importorskip("croniter", reason="the web extra is not installed")


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_last_slot_follows_cron_and_time_zone() -> None:
    from vvrun.web.scheduler import Schedule, last_slot

    daily = Schedule("x", "/x.yaml", "0 9 * * *", "Europe/Paris")  # 08:00 UTC in winter
    assert last_slot(daily, _ts("2026-12-06T08:30:00")) == _ts("2026-12-06T08:00:00")
    assert last_slot(daily, _ts("2026-12-06T08:00:00")) == _ts("2026-12-06T08:00:00")
    assert last_slot(daily, _ts("2026-12-06T07:59:59")) == _ts("2026-12-05T08:00:00")


def _race(claims_list: list, slot: str) -> list[bool]:
    results: list[bool] = []
    barrier = threading.Barrier(len(claims_list))

    def go(claims) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        results.append(claims.claim("daily", slot, "host"))

    threads = [threading.Thread(target=go, args=(c,)) for c in claims_list]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_one_claim_per_slot_in_sqlite(tmp_path: Path) -> None:
    from vvrun.web.claims import Claims

    env = {"VVRUN_STATE": str(tmp_path / "state.db")}
    results = _race([Claims(env) for _ in range(4)], "2026-12-06T08:00:00Z")
    assert sorted(results) == [False, False, False, True]
    assert Claims(env).claim("daily", "2026-12-07T08:00:00Z", "host")


def test_one_claim_per_slot_across_serves_sharing_postgres(pg_url: str) -> None:
    from vvrun.web.claims import Claims

    env = {"VVRUN_STATE": pg_url, "VVRUN_STATE_SCHEMA": f"web_claims_{uuid.uuid4().hex[:8]}"}
    try:
        results = _race([Claims(env) for _ in range(4)], "2026-12-06T08:00:00Z")
        assert sorted(results) == [False, False, False, True]
    finally:
        import psycopg

        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{env["VVRUN_STATE_SCHEMA"]}" CASCADE')


def test_a_tick_starts_a_due_run_once_and_catches_up_at_most_once(tmp_path: Path) -> None:
    from vvrun.web.config import ServeConfig
    from vvrun.web.scheduler import OPERATOR, Schedule, Scheduler

    (tmp_path / "rb").mkdir()
    path = tmp_path / "rb" / "manual.yaml"
    path.write_text(RUNBOOKS["manual.yaml"])
    env = {**__import__("os").environ, "VVRUN_STATE": str(tmp_path / "state.db")}
    cfg = ServeConfig(runbooks_dir=str(tmp_path / "rb"), environ=env,
                      work_dir=str(tmp_path / "work"), secret=b"k" * 32, scheduler=False)
    sched = Scheduler(cfg, [Schedule("web-manual", str(path), "0 9 * * *", "UTC")])
    now = _ts("2026-12-06T09:00:05")
    # down for three days: the slots of the 4th and 5th are missed, only the 6th is started
    started = sched.tick(now)
    assert len(started) == 1
    assert sched.tick(now + 60) == []  # the same slot is never started twice
    late = Scheduler(cfg, [Schedule("web-manual", str(path), "0 9 1 1 *", "UTC")])
    assert late.tick(now) == []  # last due on 1 January: too late to catch up
    with cfg.store() as store:
        run = wait_for(lambda: (r := store.get_run(started[0])) and r.status == "paused" and r,
                       what="the scheduled run to pause at its manual step")
    assert run.operator == OPERATOR
