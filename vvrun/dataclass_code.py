"""Compiled dataclass methods, kept across runs the way `.pyc` files keep a module's code.

Python 3.10–3.12 compile every dataclass's `__init__`, `__repr__`, `__eq__`, `__hash__` and
frozen `__setattr__`/`__delattr__` from source text each time the class is defined: about 0.3 ms
a class. `vvrun plan` defines 53 of them, a fifth of its cold start (bench/RESULTS.md, cold
case). Module code is cached by Python; this caches the generated methods the same way.

`install()` gives the `dataclasses` module an `exec` that looks the source text up in a table of
code objects loaded from one marshal file, and compiles (exactly as `exec` would: filename
`<string>`) only what is missing. It serves vvrun's own classes only: another library's, or
those of an application that imports vvrun, are compiled as ever. The table is keyed by the
whole source text, so a class that changes, or a Python whose dataclasses generate different
text, can never get old code; the file name carries the interpreter's version, because
marshal's format is tied to it.

Trust: the file holds code that runs, so it is read only from a folder and a file owned by this
user that nobody else can write (the rule ssh applies to `~/.ssh`), and anything odd about it is
a miss, never an error. It is written once, at exit, only when something was compiled, never by
a process that planned (a plan writes nothing, not even a cache), atomically, and bounded
in size.
"""

from __future__ import annotations

import marshal
import os
import stat
import sys
from typing import Any

_MAX_BYTES = 8 << 20  # all of vvrun's classes take ~0.7 MB; past this, start again
_MAX_ENTRIES = 4000

_table: dict[str, Any] = {}
_fresh: dict[str, Any] = {}  # compiled by this process, not yet on disk
_stats = {"hits": 0, "misses": 0}
_installed = False
_PACKAGE = __name__.rpartition(".")[0]  # "vvrun", named without a string the import graph reads


def directory() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "vvrun")


def path() -> str:
    return os.path.join(directory(), f"dataclass-code-{sys.implementation.cache_tag}-"
                                     f"{sys.hexversion:x}.marshal")


def stats() -> dict[str, int]:
    """How many generated methods this process found compiled, and how many it compiled."""
    return dict(_stats)


def install() -> None:
    """Serve `dataclasses`' generated methods from the cache (once per process; idempotent).
    Does nothing on a Python whose dataclasses do not build methods through `exec`."""
    global _installed
    if _installed or os.environ.get("VVRUN_NO_DATACLASS_CACHE"):
        return
    import dataclasses

    if not hasattr(dataclasses, "_create_fn") and not hasattr(dataclasses, "_FuncBuilder"):
        return  # a Python that generates methods some other way: nothing to cache
    _installed = True
    _table.update(_load(path()))
    dataclasses.exec = _exec  # type: ignore[attr-defined]  # module global shadows the builtin
    import atexit

    atexit.register(_save)


def _exec(source: Any, globals_: Any = None, locals_: Any = None) -> None:
    if not isinstance(source, str) or not _ours(globals_):
        exec(source, globals_, locals_)  # another library's class, or a code object
        return
    code = _table.get(source)
    if code is None:
        code = compile(source, "<string>", "exec")
        _table[source] = _fresh[source] = code
        _stats["misses"] += 1
    else:
        _stats["hits"] += 1
    exec(code, globals_, locals_)  # what dataclasses itself does with this text


def _ours(globals_: Any) -> bool:
    """Whether the class being built is vvrun's (dataclasses passes its module's globals):
    an application that imports vvrun keeps compiling its own classes as it always did."""
    name = globals_.get("__name__", "") if isinstance(globals_, dict) else ""
    return name == _PACKAGE or name.startswith(_PACKAGE + ".")


def _private(st: os.stat_result, *, folder: bool) -> bool:
    if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return False
    return stat.S_ISDIR(st.st_mode) if folder else stat.S_ISREG(st.st_mode)


def _load(file: str) -> dict[str, Any]:
    try:
        if not _private(os.stat(os.path.dirname(file)), folder=True):
            return {}
        fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return {}
    try:
        if not _private(os.fstat(fd), folder=False):
            return {}
        data = os.read(fd, _MAX_BYTES + 1)
    except OSError:
        return {}
    finally:
        os.close(fd)
    if len(data) > _MAX_BYTES:
        return {}
    try:
        table = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return {}
    if not isinstance(table, dict):
        return {}
    code_type = type(_load.__code__)
    return {k: v for k, v in table.items() if isinstance(k, str) and isinstance(v, code_type)}


def _planned() -> bool:
    guard = sys.modules.get("vvrun.guard")
    return bool(guard is not None and guard.ever_active())


def _save() -> None:
    if not _fresh or _planned():
        return
    file = path()
    table = _table if len(_table) <= _MAX_ENTRIES else dict(_fresh)
    try:
        data = marshal.dumps(table)
    except ValueError:
        return
    if len(data) > _MAX_BYTES:
        return
    folder = os.path.dirname(file)
    tmp = f"{file}.{os.getpid()}.tmp"
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if not _private(os.stat(folder), folder=True):
            return
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, file)
        _fresh.clear()
    except OSError:  # a cache that cannot be written is only slower
        import contextlib

        with contextlib.suppress(OSError):
            os.unlink(tmp)


def warm() -> int:
    """Import every vvrun module, so that the cache holds every class (a plan, which writes
    nothing, then finds its own classes too), and save. Returns how many methods it compiled.
    Run at install time, next to `compileall` (Makefile, bench/run)."""
    import importlib
    import pkgutil

    # The package's folder, not `import vvrun`: vvrun/__init__.py imports this module.
    folder = [os.path.dirname(__file__)]
    for info in pkgutil.walk_packages(folder, _PACKAGE + ".", onerror=lambda _name: None):
        if info.name.endswith(".__main__"):
            continue  # running it is not importing it
        try:
            importlib.import_module(info.name)
        except Exception:  # an optional extra not installed: its classes wait
            continue
    compiled = len(_fresh)
    _save()
    return compiled
