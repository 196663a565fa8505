"""The console's "done when": two people in two browsers run db-emergency against the real
PostgreSQL — alice starts it, bob approves its danger step — while a third follows it live from
the terminal with `vvrun show RUN --follow`."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_follow import Lines
from tests.test_web_browser import (
    HAVE_BROWSER,
    _click,
    _sign_in,
    _status,
    _text,
)
from tests.web_world import ROOT, Server, chrome, wait_for

pytest.importorskip("starlette", reason="the web extra is not installed")
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
pytest_plugins = ["world.fixtures"]


@contextlib.contextmanager
def _stuck_query(url: str) -> Iterator[threading.Thread]:
    import psycopg

    conn = psycopg.connect(url, autocommit=True, application_name="vocavision-web")

    def sleep() -> None:
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT pg_sleep(300)")

    thread = threading.Thread(target=sleep, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        conn.close()


def test_alice_starts_bob_approves_carol_follows(world, tmp_path: Path) -> None:
    if not HAVE_BROWSER:
        pytest.skip("no browser: apt-get install -y chromium chromium-driver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    site = tmp_path / "site"
    site.mkdir()
    server = Server(site, extra=("--no-scheduler",), env={"DATABASE_URL": world.db_url,
                                                        "VOCAVISION_DB_ADMIN": world.db_url})
    follower = None
    try:
        shutil.copy(ROOT / "runbooks" / "db-emergency.yaml", site / "rb")
        with _stuck_query(world.db_url) as stuck, chrome() as alice, chrome() as bob:
            wait_for(lambda: world.sql(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = 'vocavision-web' "
                "AND state = 'active' AND query_start < now() - interval '1.5 seconds'"),
                what="a query stuck for more than a second")
            _sign_in(alice, server, "alice")
            alice.get(server.url + "/runbooks/db-emergency")
            after = alice.find_element(By.ID, "input.stuck_after")
            after.clear()
            after.send_keys("1 seconds")
            _click(alice, "start")
            WebDriverWait(alice, 30).until(lambda d: "/runs/" in d.current_url)
            run_url = alice.current_url
            run_id = run_url.rsplit("/", 1)[1]

            env = {**{k: v for k, v in os.environ.items() if not k.startswith("VVRUN_")},
                   "PYTHONPATH": str(ROOT), "VVRUN_STATE": str(site / "state.db"),
                   "XDG_STATE_HOME": str(site / "xdg"), "NO_COLOR": "1"}
            follower = subprocess.Popen([sys.executable, "-m", "vvrun", "show", run_id,
                                         "--follow"], env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        stdin=subprocess.DEVNULL)
            carol = Lines(follower)
            carol.until("step `stuck` succeeded")

            WebDriverWait(alice, 60).until(lambda d: _status(d) == "paused")
            # she sees the exact statement that waits for a second person
            WebDriverWait(alice, 30).until(
                lambda d: "pg_terminate_backend" in _text(d, "waiting"))
            carol.until("paused")

            _sign_in(bob, server, "bob")
            bob.get(run_url)
            _click(bob, "approve")
            alice.execute_script("window.__same_page = true")
            WebDriverWait(alice, 60).until(lambda d: _status(d) == "succeeded")
            assert alice.execute_script("return window.__same_page") is True  # live, no reload
            timeline = alice.find_element(By.ID, "timeline").text
            assert "step `terminate` confirmed by bob" in timeline
            carol.until("step `terminate` succeeded")
            carol.until("run ended: succeeded")
            carol.until("hash chain verifies")
            assert follower.wait(timeout=30) == 0
            stuck.join(timeout=30)
            assert not stuck.is_alive()  # the stuck query was terminated, after bob's yes
            if os.environ.get("VVRUN_SCREENSHOT") == "1":
                WebDriverWait(alice, 10).until(lambda d: "terminated" in _text(d, "timeline"))
                # the end of the page: bob's approval, the terminated query, the run's end
                alice.execute_script("window.scrollTo(0, document.body.scrollHeight)")
                alice.save_screenshot(str(ROOT / "docs" / "console-run.png"))
    finally:
        if follower is not None:
            if follower.poll() is None:
                follower.kill()
            follower.wait(timeout=10)
            if follower.stdout is not None:
                follower.stdout.close()
        server.stop()
