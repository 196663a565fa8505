"""Where a runbook's secrets come from (`secrets:`, SPEC §5.4): the environment, a 0600 file,
or any command the team already uses (`op read`, `vault kv get`, `aws secretsmanager`).

    values = SecretValues(sources, masker, environ, base_dir)   # templates: `secrets.<name>`
    values["db_admin_url"]          # fetched now, masked from now on, cached for this run

A secret is fetched when a template first reads it, kept in memory for the run only and never
written anywhere; every value is added to the run's Masker before anything can print it. A
provider that fails raises `SecretUnavailable`, naming the secret and the source — never the
value.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vvrun.errors import Location, StepFailed
from vvrun.secrets.mask import MIN_SECRET_LENGTH, Masker
from vvrun.secrets.taint import taint

SOURCES = ("env", "file", "command")
DEFAULT_TIMEOUT = 30.0  # seconds a `command` provider may take (op, vault, aws can be slow)
MAX_OUTPUT = 1 << 20  # a secret larger than 1 MiB is a mistake, not a secret


class SecretUnavailable(StepFailed):
    """A secrets provider could not give a secret (unset, unreadable, refused, failed)."""


@dataclass(frozen=True)
class SecretSource:
    """One entry of `secrets:`. `settings` holds the provider's keys as written: env `name`;
    file `path`, `key`; command `run` (a string for bash, or an argument list), `timeout`."""

    name: str
    source: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    where: Location = field(default_factory=Location)

    def describe(self) -> str:
        """Where the secret comes from, in words (for errors and plans; never the value)."""
        s = self.settings
        if self.source == "env":
            return f"environment variable {s.get('name', self.name.upper())}"
        if self.source == "file":
            key = f" (key {s['key']})" if s.get("key") else ""
            return f"file {s.get('path')}{key}"
        run = s.get("run")
        shown = run if isinstance(run, str) else " ".join(str(a) for a in run or ())
        return f"command `{shown}`"


def _fail(src: SecretSource, what: str, hint: str) -> SecretUnavailable:
    return SecretUnavailable(f"secret '{src.name}': {what}", where=src.where, hint=hint)


def from_env(src: SecretSource, environ: Mapping[str, str]) -> str:
    name = str(src.settings.get("name") or src.name.upper())
    value = environ.get(name)
    if not value:
        raise _fail(src, f"environment variable {name} is "
                    + ("empty" if value == "" else "not set"),
                    f"export {name}=… before the run, or change where `secrets.{src.name}` "
                    "comes from")
    return value


def from_file(src: SecretSource, base: str | None) -> str:
    raw = str(src.settings.get("path", ""))
    path = Path(os.path.expanduser(raw))
    if not path.is_absolute() and base:
        path = Path(base) / path
    try:
        info = path.stat()
    except OSError as exc:
        raise _fail(src, f"cannot read {path}: {exc.strerror or exc}",
                    "check the path (relative paths start at the runbook's folder)") from exc
    if not stat.S_ISREG(info.st_mode):
        raise _fail(src, f"{path} is not a regular file", "point `path:` at a file")
    if info.st_mode & 0o077:
        raise _fail(src, f"{path} is readable by others (mode {stat.S_IMODE(info.st_mode):04o});"
                    " a secrets file must be mode 0600",
                    f"run `chmod 600 {path}`, then run again")
    if info.st_size > MAX_OUTPUT:
        raise _fail(src, f"{path} is larger than 1 MiB", "point `path:` at the secret's file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(src, f"cannot read {path}: {type(exc).__name__}",
                    "check the file's owner and encoding (UTF-8)") from exc
    key = src.settings.get("key")
    if not key:
        value = text.rstrip("\r\n")
    else:
        found = _keyed(text, str(key))
        if found is None:
            raise _fail(src, f"{path} has no key {key}",
                        "a keyed file is a JSON object or KEY=value lines (.env)")
        value = found
    if not value:
        raise _fail(src, f"{path} gives an empty value", "put the secret in the file")
    return value


def _keyed(text: str, key: str) -> str | None:
    """`key` of a JSON object, or of KEY=value lines as `vercel env pull` writes them."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict):
            value = data.get(key)
            return None if value is None else str(value)
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[7:].lstrip()
        name, sep, value = line.partition("=")
        if sep and name.strip() == key:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                quote, value = value[0], value[1:-1]
                if quote == '"':  # dotenv's double quotes keep \n escapes
                    value = value.replace("\\n", "\n")
            return value
    return None


def from_command(src: SecretSource, environ: Mapping[str, str], masker: Masker) -> str:
    import signal
    import subprocess

    run = src.settings.get("run")
    argv = ["bash", "-c", run] if isinstance(run, str) else [str(a) for a in run or ()]
    timeout = float(src.settings.get("timeout") or DEFAULT_TIMEOUT)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=dict(environ),
                                start_new_session=True)  # a timeout kills its children too
    except OSError as exc:
        raise _fail(src, f"cannot start {argv[0]}: {exc.strerror or exc}",
                    f"install {argv[0]} or put it on PATH") from exc
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise _fail(src, f"{src.describe()} did not finish within {timeout:g}s",
                    "is it waiting for a login or a prompt? sign in first, or raise "
                    "`timeout:`") from None
    finally:
        _kill_group(proc.pid, signal.SIGKILL)  # nothing it started outlives the fetch
    value = out.decode("utf-8", "replace").rstrip("\r\n")
    masker.add(value)  # before the error text below can carry any of it
    shown = masker.mask(src.describe())
    if proc.returncode != 0:
        said = masker.mask(err.decode("utf-8", "replace").strip())[-2000:]
        raise _fail(src, f"{shown} exited with status {proc.returncode}"
                    + (f": {said}" if said else ""),
                    "run the command yourself to see what it needs (a login, a path)")
    if not value:
        raise _fail(src, f"{shown} printed nothing", "it must print the secret")
    if len(out) > MAX_OUTPUT:
        raise _fail(src, f"{shown} printed more than 1 MiB",
                    "make it print the secret only")
    return value


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def fetch(src: SecretSource, environ: Mapping[str, str], masker: Masker,
          base: str | None = None) -> str:
    """The secret's value now (the only I/O of this module)."""
    if src.source == "env":
        return from_env(src, environ)
    if src.source == "file":
        return from_file(src, base)
    return from_command(src, environ, masker)


class SecretValues(dict):  # type: ignore[type-arg]
    """`secrets` in a run's templates: each value fetched at first use, masked at once, kept
    for this run only. A name that is not declared is missing (the template says so)."""

    def __init__(self, sources: Mapping[str, SecretSource], masker: Masker,
                 environ: Mapping[str, str], base: str | None = None):
        super().__init__()
        self._sources = dict(sources)
        self._masker = masker
        self._environ = environ
        self._base = base
        self._lock = threading.Lock()

    def __missing__(self, name: str) -> str:
        src = self._sources.get(name)
        if src is None:
            raise KeyError(name)
        with self._lock:
            if dict.__contains__(self, name):  # fetched while we waited for the lock
                return str(dict.__getitem__(self, name))
            value = fetch(src, self._environ, self._masker, self._base)
            mask(self._masker, value)
            tainted = taint(value, self._masker, name)  # what templates compute from it, too
            self[name] = tainted
            return tainted

    def __contains__(self, name: object) -> bool:  # "declared", for `is defined` and explain
        return dict.__contains__(self, name) or name in self._sources

    def __repr__(self) -> str:
        return f"<secrets: {', '.join(self._sources) or 'none'}>"


def mask(masker: Masker, value: str) -> None:
    """The value, and each line of a multi-line one (a PEM key printed line by line)."""
    masker.add(value)
    for line in value.splitlines():
        if len(line.strip()) >= MIN_SECRET_LENGTH:
            masker.add(line.strip())

