"""The audit-hook guard: inside `no_side_effects()` the world is out of reach; outside it is."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from vvrun.errors import VvrunError
from vvrun.guard import SideEffectBlocked, active, no_side_effects


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _attempts(tmp_path: Path) -> dict:
    target = tmp_path / "written.txt"
    port = _closed_port()

    def connect() -> None:
        with socket.socket() as s:
            s.connect(("127.0.0.1", port))

    def os_open_create() -> None:
        os.close(os.open(tmp_path / "created", os.O_WRONLY | os.O_CREAT))

    return {
        "socket connect": (connect, "open a network connection"),
        "dns lookup": (lambda: socket.getaddrinfo("localhost", 80), "look up a host name"),
        "subprocess": (lambda: subprocess.run(["true"], check=False), "start a process"),
        "os.system": (lambda: os.system("true"), "run a shell command"),
        "exec": (lambda: os.execv("/bin/true", ["true"]), "replace the process"),
        "posix_spawn": (lambda: os.posix_spawn("/bin/true", ["true"], {}), "start a process"),
        "open w": (lambda: open(target, "w").close(), "open a file for writing"),
        "open a": (lambda: open(target, "a").close(), "open a file for writing"),
        "open x": (lambda: open(tmp_path / "x.txt", "x").close(), "open a file for writing"),
        "open r+": (lambda: open(tmp_path / "exists.txt", "r+").close(),
                    "open a file for writing"),
        "write_text": (lambda: target.write_text("x"), "open a file for writing"),
        "os.open O_CREAT": (os_open_create, "open a file for writing"),
        "sqlite": (lambda: sqlite3.connect(str(tmp_path / "state.db")), "SQLite"),
        "remove": (lambda: os.remove(tmp_path / "exists.txt"), "remove a file"),
        "mkdir": (lambda: os.mkdir(tmp_path / "d"), "create a directory"),
        "rename": (lambda: os.rename(tmp_path / "exists.txt", tmp_path / "moved.txt"),
                   "rename a file"),
    }


CASES = ["socket connect", "dns lookup", "subprocess", "os.system", "exec", "posix_spawn",
         "open w", "open a", "open x", "open r+", "write_text", "os.open O_CREAT", "sqlite",
         "remove", "mkdir", "rename"]


@pytest.mark.parametrize("case", CASES)
def test_each_side_effect_is_refused_with_a_clear_message(case: str, tmp_path: Path) -> None:
    (tmp_path / "exists.txt").write_text("before")
    attempt, words = _attempts(tmp_path)[case]
    with pytest.raises(SideEffectBlocked) as info, no_side_effects():
        attempt()
    assert words in info.value.message
    assert info.value.message.startswith("a plan must not")
    assert "bug in vvrun" in (info.value.hint or "")
    assert isinstance(info.value, VvrunError) and info.value.exit_code == 1
    # nothing happened
    assert (tmp_path / "exists.txt").read_text() == "before"
    assert not (tmp_path / "written.txt").exists()
    assert not (tmp_path / "state.db").exists()
    assert not (tmp_path / "created").exists()


def test_reading_is_allowed(tmp_path: Path) -> None:
    f = tmp_path / "runbook.yaml"
    f.write_text("name: x\n")
    with no_side_effects():
        assert f.read_text() == "name: x\n"
        fd = os.open(f, os.O_RDONLY)
        os.close(fd)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["runbook.yaml"]


def test_outside_the_block_everything_works_again(tmp_path: Path) -> None:
    with pytest.raises(SideEffectBlocked), no_side_effects():
        open(tmp_path / "a.txt", "w").close()
    assert not active()
    (tmp_path / "a.txt").write_text("ok")
    assert subprocess.run(["true"], check=False).returncode == 0
    sqlite3.connect(":memory:").close()
    assert sys.dont_write_bytecode is False or os.environ.get("PYTHONDONTWRITEBYTECODE")


def test_a_swallowed_violation_is_still_reported_when_the_block_ends(tmp_path: Path) -> None:
    def careless_library() -> None:
        with contextlib.suppress(Exception):  # a library that hides every error
            subprocess.run(["true"], check=False)

    with pytest.raises(SideEffectBlocked) as info, no_side_effects():
        careless_library()
    assert "start a process" in info.value.message


def test_a_violation_a_library_turned_into_another_error_is_reported_as_itself() -> None:
    port = _closed_port()

    def driver() -> None:
        try:
            with socket.socket() as s:
                s.connect(("127.0.0.1", port))
        except OSError as exc:  # SideEffectBlocked is a PermissionError, so drivers catch it
            raise RuntimeError("connection failed") from exc

    with pytest.raises(SideEffectBlocked) as info, no_side_effects():
        driver()
    assert "network connection" in info.value.message


def test_nested_blocks_keep_guarding_until_the_outermost_ends(tmp_path: Path) -> None:
    with pytest.raises(SideEffectBlocked), no_side_effects():
        with no_side_effects():
            assert active()
        assert active()
        with pytest.raises(SideEffectBlocked):
            open(tmp_path / "a.txt", "w").close()
        # caught here, and still reported when the outermost block ends
    assert not active()
    assert not (tmp_path / "a.txt").exists()


def test_a_thread_started_while_planning_is_guarded_too(tmp_path: Path) -> None:
    seen: list[BaseException] = []

    def worker() -> None:
        try:
            open(tmp_path / "from-thread.txt", "w").close()
        except BaseException as exc:
            seen.append(exc)

    with pytest.raises(SideEffectBlocked), no_side_effects():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert seen and isinstance(seen[0], SideEffectBlocked)
    assert not (tmp_path / "from-thread.txt").exists()


def test_importing_a_module_for_the_first_time_writes_no_bytecode(tmp_path: Path) -> None:
    package = tmp_path / "freshpkg_for_guard"
    package.mkdir()
    (package / "__init__.py").write_text("VALUE = 42\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with no_side_effects():
            import freshpkg_for_guard  # type: ignore[import-not-found]

            assert freshpkg_for_guard.VALUE == 42
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("freshpkg_for_guard", None)
    assert not (package / "__pycache__").exists()
