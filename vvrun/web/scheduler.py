"""Schedules: runbooks with `schedule:` start by themselves (cron, with a time zone).

Each tick looks at the most recent slot each schedule was due at; a slot not yet claimed (and
not older than `max_lateness`) is claimed in the store and started. Only the latest slot is
considered, so after downtime a schedule catches up at most once. A run is started like any
other: no terminal and no `--yes`, so a danger step pauses for an approval in the inbox.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vvrun.web import catalogue, worker
from vvrun.web.config import ServeConfig

log = logging.getLogger("vvrun.web.scheduler")
OPERATOR = "schedule"


@dataclass(frozen=True)
class Schedule:
    name: str  # the runbook's name
    path: str
    cron: str
    timezone: str = "UTC"


def schedules(cfg: ServeConfig) -> list[Schedule]:
    found = []
    for item in catalogue.catalogue(cfg.runbooks_dir):
        if item.schedule and item.runbook is not None:
            found.append(Schedule(item.name, item.path, item.schedule["cron"],
                                  item.schedule["timezone"]))
    return found


def last_slot(schedule: Schedule, now: float) -> float:
    """When `schedule` was last due at or before `now` (epoch seconds)."""
    from zoneinfo import ZoneInfo

    from croniter import croniter

    # a second past `now`, so that a slot falling exactly on `now` counts as due
    start = datetime.fromtimestamp(int(now) + 1, ZoneInfo(schedule.timezone))
    return float(croniter(schedule.cron, start).get_prev(float))


def due(cfg: ServeConfig, schedule: Schedule, now: float, claims: Any) -> float | None:
    """The slot to start now, claimed for this process, or None."""
    slot = last_slot(schedule, now)
    if now - slot > cfg.max_lateness:
        return None
    stamp = datetime.fromtimestamp(slot, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return slot if claims.claim(schedule.name, stamp, socket.gethostname()) else None


class Scheduler:
    def __init__(self, cfg: ServeConfig, schedule_list: list[Schedule] | None = None):
        from vvrun.web.claims import Claims

        self.cfg = cfg
        self.fixed = schedule_list
        self.claims = Claims(cfg.environ)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="vvrun-scheduler")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def tick(self, now: float | None = None) -> list[str]:
        """Start what is due; the run ids started."""
        started = []
        now = self.cfg.now() if now is None else now
        for schedule in self.fixed if self.fixed is not None else schedules(self.cfg):
            try:
                if due(self.cfg, schedule, now, self.claims) is None:
                    continue
                started.append(worker.start_run(self.cfg, schedule.path, {}, OPERATOR))
            except Exception as exc:  # one bad schedule must not stop the others
                log.warning("schedule of %s: %s", schedule.name, self.cfg.masker.mask(str(exc)))
        return started

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.cfg.tick)
