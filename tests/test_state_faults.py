"""What disks and other processes do to a store: a network file system, a full disk, a
removed `-wal` file, a lost lock row, two resumers racing for one step on PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_state_support import run_record
from vvrun.errors import LockHeld, StateError
from vvrun.results import Status, StepResult
from vvrun.state._netfs import fs_type, refuse_network_fs
from vvrun.state.audit_key import load_key
from vvrun.state.postgres import PostgresStore
from vvrun.state.sqlite import SqliteStore

MOUNTINFO = (
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "27 1 252:0 / / rw,relatime - ext4 /dev/vda rw\n"
    r"98 27 0:52 / /mnt/team\040share rw,relatime - nfs4 fs1:/export rw,vers=4.2" "\n"
    "99 27 0:53 / /srv/smb rw,relatime - cifs //nas/ops rw\n"
)


def test_the_file_system_type_comes_from_the_longest_mount_point() -> None:
    assert fs_type("/mnt/team share/vvrun/state.db", MOUNTINFO) == "nfs4"
    assert fs_type("/mnt/teamwork/state.db", MOUNTINFO) == "ext4"
    assert fs_type("/srv/smb", MOUNTINFO) == "cifs"
    assert fs_type("/home/al/state.db", MOUNTINFO) == "ext4"


def test_a_sqlite_store_on_nfs_or_smb_is_refused_pointing_to_postgres() -> None:
    for path, kind in (("/mnt/team share/state.db", "nfs4"), ("/srv/smb/x/state.db", "cifs")):
        with pytest.raises(StateError) as info:
            refuse_network_fs(path, MOUNTINFO)
        assert f"network file system ({kind})" in info.value.message
        assert "VVRUN_STATE=postgresql://" in (info.value.hint or "")
    refuse_network_fs("/home/al/state.db", MOUNTINFO)  # local: nothing to say


# -- the audit key --------------------------------------------------------------------------

def test_the_key_is_created_private_and_a_readable_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vvrun" / "audit.key"
    key = load_key(path)
    assert len(key) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert load_key(path) == key
    path.chmod(0o644)
    with pytest.raises(StateError) as info:
        load_key(path)
    assert info.value.message == f"the audit key {path} has mode 0644: others may read or change it"
    assert f"chmod 600 {path}" in (info.value.hint or "")


# -- a full disk ------------------------------------------------------------------------------

@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_a_full_disk_is_refused_clearly_and_the_store_stays_whole(small_fs: Path) -> None:
    path = small_fs / "state.db"
    store = SqliteStore(path)
    run = run_record()
    store.create_run(run)
    store.step_started(run.id, "fill", attempt=1, host="h", pid=os.getpid())
    # the rest of the file system is taken by someone else
    with open(small_fs / "ballast", "wb") as fh, pytest.raises(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
    with pytest.raises(StateError) as info:
        for i in range(200):  # more than the WAL's spare pages
            store.step_finished(run.id, "fill", StepResult(
                "fill", Status.SUCCEEDED, {"blob": "x" * 4000, "i": i}))
            store.append_event(run.id, "confirmed", {"blob": "y" * 4000},
                               operator="al", host="h")
    assert info.value.message.startswith(f"the disk holding the state store {path} is full")
    assert "free space" in (info.value.hint or "")
    store.close()
    (small_fs / "ballast").unlink()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    reopened = SqliteStore(path)
    # the step's record was never lost: its outcome, or still in flight (resume asks)
    assert reopened.step_results(run.id)["fill"].status in (Status.SUCCEEDED,
                                                            Status.UNCERTAIN)
    reopened.close()


def test_a_store_that_cannot_be_created_on_a_full_disk_leaves_nothing(small_fs: Path) -> None:
    with open(small_fs / "ballast", "wb") as fh, pytest.raises(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
    with pytest.raises(StateError) as info:
        SqliteStore(small_fs / "state.db")
    assert str(small_fs / "state.db") in info.value.message
    assert not (small_fs / "state.db").exists()
    assert [p.name for p in small_fs.iterdir() if p.name.startswith(".state.db.new")] == []


# -- a removed -wal file ------------------------------------------------------------------------

def test_a_removed_wal_is_refused_before_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    run = run_record()
    store.create_run(run)
    os.unlink(f"{path}-wal")
    with pytest.raises(StateError) as info:
        store.step_started(run.id, "kill", attempt=1, host="h", pid=os.getpid())
    assert "write-ahead log" in info.value.message and "was removed" in info.value.message
    assert "vvrun verify" in (info.value.hint or "")


def test_a_store_whose_wal_was_removed_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    store.create_run(run_record())
    os.unlink(f"{path}-wal")  # the running vvrun's records since the last checkpoint
    with pytest.raises(StateError) as info:
        SqliteStore(path)
    assert f"its write-ahead log {path}-wal is missing" in info.value.message
    assert f"remove {path}-shm" in (info.value.hint or "")
    store.close()


def test_a_lock_outlives_the_loss_of_the_wal(tmp_path: Path) -> None:
    """Another process holds the run's lock; the WAL (with its lock row) is deleted; a second
    operator's run must still be refused, not run the same steps again."""
    path = tmp_path / "state.db"
    SqliteStore(path).close()
    holder = subprocess.Popen(
        ["/work/main/.venv/bin/python" if Path("/work/main/.venv/bin/python").exists()
         else "python3", "-c",
         "import os, sys; from vvrun.state.sqlite import SqliteStore; "
         f"s = SqliteStore({str(path)!r}); "
         "s.acquire_locks('run-a', ('db',), operator='al', host='h', pid=os.getpid(), ttl=60);"
         "print('HELD', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert holder.stdout.readline().strip() == "HELD"
        os.unlink(f"{path}-wal")  # the lock row was only in the WAL
        os.unlink(f"{path}-shm")
        other = SqliteStore(path)
        assert other.lock_info("db") is None  # the database forgot it...
        with pytest.raises(LockHeld) as info:  # ...the file lock did not
            other.acquire_locks("run-b", ("db",), operator="bo", host="h", pid=os.getpid(),
                                ttl=60)
        assert "has no record of it: the store lost it" in info.value.message
        assert other.lock_info("db") is None  # and nothing half-taken was left behind
        other.close()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()


def test_a_store_that_lost_this_processs_events_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    run = run_record()
    store.create_run(run)
    store.append_event(run.id, "run_started", {}, operator="al", host="h")
    store.append_event(run.id, "confirmed", {}, operator="al", host="h")
    conn = sqlite3.connect(path)  # the trail rolled back behind our back (a restored copy)
    conn.execute("DELETE FROM events WHERE chain = ? AND n = 2", (run.id,))
    conn.commit()
    conn.close()
    with pytest.raises(StateError) as info:
        store.append_event(run.id, "approved", {}, operator="al", host="h")
    assert "lost events this process wrote" in info.value.message
    store.close()


# -- two resumers racing on PostgreSQL --------------------------------------------------------

def test_two_concurrent_claimers_never_both_run_a_step(pg_url: str) -> None:
    schema = f"t_claim_{uuid.uuid4().hex[:10]}"
    a = PostgresStore(pg_url, schema=schema)
    b = PostgresStore(pg_url, schema=schema)
    sleeper = subprocess.Popen(["sleep", "600"])  # a live pid for the second claimer
    try:
        run = run_record()
        a.create_run(run)
        for round_ in range(50):
            won, lost = _race(a, b, run.id, f"step{round_}", sleeper.pid)
            assert len(won) == 1 and len(lost) == 1, (round_, won, lost)
    finally:
        sleeper.kill()
        sleeper.wait()
        a.close()
        b.drop_schema()
        b.close()


def _race(a: PostgresStore, b: PostgresStore, run_id: str, key: str, other_pid: int
          ) -> tuple[list[str], list[str]]:
    """Both handles claim `key` at once (released together by a barrier)."""
    gate = threading.Barrier(2)
    won: list[str] = []
    lost: list[str] = []

    def claim(store: PostgresStore, name: str, pid: int) -> None:
        gate.wait(timeout=30)
        try:
            store.step_started(run_id, key, attempt=1, host=os.uname().nodename, pid=pid)
            won.append(name)
        except StateError as exc:
            assert "already running" in exc.message
            lost.append(name)

    threads = [threading.Thread(target=claim, args=(a, "a", os.getpid())),
               threading.Thread(target=claim, args=(b, "b", other_pid))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return won, lost
