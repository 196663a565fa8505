"""`vvrun.dataclass_code`: dataclass methods compiled once and kept, in real processes — that
a second start compiles nothing, that classes behave exactly as compiled ones, and the attacks on
a cache of code that runs: a planted file in a folder others can write, a file owned by someone
else, a symlink, garbage, a huge file."""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Classes of every shape, defined in a vvrun module: the cache serves only vvrun's own classes.
CLASSES = """
import dataclasses

@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int = 2
    tags: tuple = ()

@dataclasses.dataclass
class Box:
    items: list = dataclasses.field(default_factory=list)
    name: str = "box"
"""

# Defines them, reports how they behave and what the cache did; and defines a class of its own
# (`__main__`, as an application that imports vvrun would), which the cache must leave alone.
PROBE = r"""
import dataclasses, json, sys, types
from vvrun import dataclass_code as cache

module = types.ModuleType("vvrun.probe_classes")
sys.modules[module.__name__] = module
exec(compile(CLASSES, "probe_classes.py", "exec"), module.__dict__)
Point, Box = module.Point, module.Box
ours = cache.stats()

@dataclasses.dataclass(frozen=True)
class Theirs:
    theirs_only_field: int
    b: str = "b"

p = Point(1)
try:
    p.x = 5
    frozen = False
except dataclasses.FrozenInstanceError:
    frozen = True
b = Box(); b.items.append(1)
print(json.dumps({
    "repr": repr(p), "eq": p == Point(1, 2), "ne": p != Point(1, 3),
    "hash": hash(p) == hash(Point(1)),
    "frozen": frozen, "box": repr(b), "fresh_list": Box().items == [],
    "fields": [f.name for f in dataclasses.fields(Point)],
    "replace": repr(dataclasses.replace(p, y=9)),
    "theirs": repr(Theirs(1)), "theirs_untouched": cache.stats() == ours,
    "stats": cache.stats(),
}))
""".replace("CLASSES", repr(CLASSES))


def probe(cache_home: Path, *, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "XDG_CACHE_HOME": str(cache_home), **(env or {})})
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    return json.loads(out.stdout)


def cache_file(cache_home: Path) -> Path:
    files = list((cache_home / "vvrun").glob("dataclass-code-*.marshal"))
    assert len(files) == 1, files
    return files[0]


def test_a_second_start_compiles_nothing_and_classes_behave_as_compiled_ones(
        tmp_path: Path) -> None:
    home = tmp_path / "cache"
    first = probe(home)
    assert first["stats"]["misses"] > 0
    assert cache_file(home).stat().st_mode & 0o777 == 0o600
    second = probe(home)
    assert second["stats"]["misses"] == 0 and second["stats"]["hits"] >= first["stats"]["misses"]
    uncached = probe(tmp_path / "other", env={"VVRUN_NO_DATACLASS_CACHE": "1"})
    assert uncached["stats"] == {"hits": 0, "misses": 0}
    for result in (first, second):
        assert {k: v for k, v in result.items() if k != "stats"} == \
            {k: v for k, v in uncached.items() if k != "stats"}
    assert second["repr"] == "Point(x=1, y=2, tags=())" and second["frozen"] and second["eq"]
    assert second["theirs"] == "Theirs(theirs_only_field=1, b='b')"
    assert second["theirs_untouched"]
    # only vvrun's classes are in the file: not the probe's own, not another library's
    table = marshal.loads(cache_file(home).read_bytes())
    assert any("tags" in source for source in table)  # Point's __init__
    assert not any("theirs_only_field" in source for source in table)


def test_a_plan_writes_no_cache(tmp_path: Path) -> None:
    home = tmp_path / "cache"
    out = subprocess.run(
        [sys.executable, "-m", "vvrun", "plan", str(ROOT / "runbooks" / "db-emergency.yaml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "XDG_CACHE_HOME": str(home)})
    assert out.returncode == 0, out.stderr
    assert not list(home.glob("vvrun/dataclass-code-*")), "a plan wrote the dataclass cache"


def test_warm_fills_the_cache_with_every_module_so_a_plan_then_compiles_nothing(
        tmp_path: Path) -> None:
    home = tmp_path / "cache"
    env = {**os.environ, "XDG_CACHE_HOME": str(home)}
    warm = subprocess.run(
        [sys.executable, "-c", "from vvrun.dataclass_code import warm; print(warm())"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert warm.returncode == 0, warm.stderr
    assert int(warm.stdout) > 100
    plan = (
        "import sys, atexit, json\n"
        "from vvrun import dataclass_code as c\n"
        "atexit.register(lambda: print(json.dumps(c.stats()), file=sys.stderr))\n"
        f"sys.argv = ['vvrun', 'plan', {str(ROOT / 'runbooks' / 'db-emergency.yaml')!r}]\n"
        "from vvrun.cli import main\nmain()\n")
    out = subprocess.run([sys.executable, "-c", plan], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stderr.strip().splitlines()[-1])
    assert stats["misses"] == 0 and stats["hits"] > 100


# -- attacks on a cache of code ------------------------------------------------------------------

def plant(file: Path, marker: Path) -> None:
    """Rewrite every entry as an attacker would: the same method, plus a line that leaves a mark."""
    table = marshal.loads(file.read_bytes())
    evil = f"open({str(marker)!r}, 'w').write('ran')\n"
    file.write_bytes(marshal.dumps(
        {source: compile(evil + source, "<string>", "exec") for source in table}))


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, Path, Path]:
    home = tmp_path / "cache"
    probe(home)
    marker = tmp_path / "pwned"
    plant(cache_file(home), marker)
    return home, cache_file(home), marker


def test_control_a_planted_file_in_the_users_own_private_folder_is_trusted(
        planted: tuple[Path, Path, Path]) -> None:
    # The user's own files are trusted, as .pyc files are: this proves the attacks below would
    # run their code if the checks were not there.
    home, _, marker = planted
    assert probe(home)["stats"]["misses"] == 0
    assert marker.read_text() == "ran"


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_file_in_a_folder_others_can_write_is_not_run(
        planted: tuple[Path, Path, Path], mode: int) -> None:
    home, file, marker = planted
    file.parent.chmod(mode)
    result = probe(home)
    assert not marker.exists(), "code from a folder others can write was run"
    assert result["stats"]["misses"] > 0 and result["eq"] and result["frozen"]


def test_a_file_others_can_write_is_not_run(planted: tuple[Path, Path, Path]) -> None:
    home, file, marker = planted
    file.chmod(0o622)
    probe(home)
    assert not marker.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_file_owned_by_another_user_is_not_run(planted: tuple[Path, Path, Path]) -> None:
    home, file, marker = planted
    os.chown(file, 65534, 65534)
    probe(home)
    assert not marker.exists()


def test_a_symlink_in_place_of_the_file_is_not_followed(
        planted: tuple[Path, Path, Path], tmp_path: Path) -> None:
    home, file, marker = planted
    elsewhere = tmp_path / "elsewhere.marshal"
    file.rename(elsewhere)
    file.symlink_to(elsewhere)
    probe(home)
    assert not marker.exists()


@pytest.mark.parametrize("content", [
    b"", b"garbage\x00\xff" * 10, b"\xfb" + b"\x00" * 3,
    marshal.dumps([1, 2, 3]), marshal.dumps({"def f(): pass": "not code", 1: 2}),
])
def test_a_damaged_file_is_a_miss_and_is_written_again(tmp_path: Path, content: bytes) -> None:
    home = tmp_path / "cache"
    probe(home)
    cache_file(home).write_bytes(content)
    result = probe(home)
    assert result["stats"]["misses"] > 0 and result["eq"]
    assert probe(home)["stats"]["misses"] == 0  # the damaged file was replaced by a good one


def test_a_file_over_the_size_bound_is_not_read(tmp_path: Path) -> None:
    home = tmp_path / "cache"
    probe(home)
    file = cache_file(home)
    file.write_bytes(file.read_bytes() + b"\x00" * (9 << 20))
    assert probe(home)["stats"]["misses"] > 0


def test_an_unwritable_cache_folder_only_costs_speed(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    first = probe(blocker)
    assert first["stats"]["misses"] > 0 and first["eq"]
    assert blocker.read_text() == "a file where the cache folder would be"
