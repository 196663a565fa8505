"""Where a remote shell step runs: an ssh connection resolved to a target, the OpenSSH client's
argument list for it, the run's ControlMaster sockets, and ssh's failures in plain words.

Everything reaches `ssh` as separate arguments (no local shell). Host and user are checked
against a strict pattern: a templated host such as `-oProxyCommand=…` would otherwise be read
by ssh as an option and run a local command.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from vvrun.errors import ConnectFailed, Location, RunbookError, StepFailed
from vvrun.steps.base import Connection, Templater, connection_seconds

CONTROL_PERSIST = 60  # seconds a master outlives its last step (the run closes it sooner)
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9._:-]*)$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class SshTarget:
    """A host to run on. `host` is None when a templated `on:` named no ssh connection: the
    plan shows it as written; a run refuses it before connecting."""

    connection: str
    host: str | None
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    known_hosts: str | None = None
    connect_timeout: float = 10.0
    known: tuple[str, ...] = ()  # the ssh connections declared, for the error message

    def display(self) -> str:
        if self.host is None:
            return f"ssh {self.connection}"
        user = f"{self.user}@" if self.user else ""
        return f"ssh {user}{self.host}:{self.port or 22}"

    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else str(self.host)


def resolve_target(on: str, tpl: Templater, conns: Mapping[str, Connection]) -> SshTarget:
    """The target `on:` names, its settings rendered; pure."""
    name = str(tpl.text(on)).strip()
    known = tuple(c.name for c in conns.values() if c.kind == "ssh")
    conn = conns.get(name)
    if conn is None or conn.kind != "ssh":
        if "{{" in on or "{%" in on:
            return SshTarget(connection=name, host=None, known=known)
        raise RunbookError(f"`on: {name}` names no ssh connection", where=tpl.where,
                           hint=f"declare it under `connections:` as `{{ssh: user@host}}` "
                           f"(ssh connections: {', '.join(known) or 'none'})")
    s = conn.settings

    def text(key: str) -> str | None:
        value = s.get(key)
        return None if value is None else str(tpl.text(value)).strip() or None

    user, host = text("user"), text("host")
    if "target" in s:
        user_part, _, host = str(tpl.text(s["target"])).strip().rpartition("@")
        user = user_part or user
    port_text = text("port")
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise RunbookError(f"connection '{name}': port {port_text!r} is not a port number",
                               where=conn.where, hint="write a number from 1 to 65535")
        port = int(port_text)
    if not host or not _HOST.match(host):
        raise RunbookError(f"connection '{name}': {host!r} is not a host name", where=conn.where,
                           hint="write `ssh: user@host` (a name or an IP address)")
    if user is not None and not _USER.match(user):
        raise RunbookError(f"connection '{name}': {user!r} is not a user name",
                           where=conn.where, hint="write `ssh: user@host`")
    return SshTarget(connection=name, host=host, user=user, port=port,
                     identity_file=text("identity_file"), known_hosts=text("known_hosts"),
                     connect_timeout=connection_seconds(s, "connect_timeout", conn) or 10.0,
                     known=known)


def expand_home(path: str | None, env: Mapping[str, str]) -> str | None:
    """`~/x` with the operator's HOME (taken from the environment the engine passes in)."""
    if path is None or not path.startswith("~/") or not env.get("HOME"):
        return path
    return env["HOME"].rstrip("/") + path[1:]


def _option_path(path: str) -> str:
    # ssh expands %-tokens in these paths and splits UserKnownHostsFile on whitespace
    return '"' + path.replace("%", "%%") + '"'


def ssh_argv(ssh: str, target: SshTarget, control_dir: str, env: Mapping[str, str]) -> list[str]:
    """The client's options for `target`, up to and including the destination."""
    argv = [ssh, "-T",
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", "ControlMaster=auto", "-o", f"ControlPath={control_dir}/%C",
            "-o", f"ControlPersist={CONTROL_PERSIST}",
            "-o", f"ConnectTimeout={max(1, math.ceil(target.connect_timeout))}",
            "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3",
            "-o", "LogLevel=ERROR"]
    known_hosts = expand_home(target.known_hosts, env)
    if known_hosts is not None:
        argv += ["-o", f"UserKnownHostsFile={_option_path(known_hosts)}"]
    identity = expand_home(target.identity_file, env)
    if identity is not None:
        argv += ["-o", "IdentitiesOnly=yes", "-i", identity.replace("%", "%%")]
    if target.port is not None:
        argv += ["-p", str(target.port)]
    return [*argv, target.destination()]


def check_files(target: SshTarget, env: Mapping[str, str], where: Location) -> None:
    """Missing key files, said before ssh says something vaguer."""
    for key, what, hint in (
        ("known_hosts", "known_hosts file", "create it with the host's key: `ssh-keyscan "
         f"-p {target.port or 22} {target.host} >> FILE` after checking the fingerprint"),
        ("identity_file", "identity_file", "point `identity_file:` at the private key"),
    ):
        path = expand_home(getattr(target, key), env)
        if path is not None and not os.path.isfile(path):
            raise ConnectFailed(f"{target.display()}: {what} {path!r} does not exist",
                                where=where, hint=hint)
        if path is not None and '"' in path:
            raise StepFailed(f"{target.display()}: {what} {path!r} holds a double quote",
                             where=where, hint="rename the file")


class ControlDir:
    """The run's private directory of ControlMaster sockets (0700), one master per host;
    closing it ends the masters and removes it."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="vvrun-ssh-")
        self.masters: dict[str, list[str]] = {}

    def remember(self, argv: list[str]) -> None:
        self.masters[" ".join(argv)] = argv

    def close(self) -> None:
        for argv in self.masters.values():
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run([*argv[:-1], "-O", "exit", argv[-1]], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
        shutil.rmtree(self.path, ignore_errors=True)


def find_ssh(env: Mapping[str, str], where: Location) -> str:
    ssh = shutil.which("ssh", path=env.get("PATH"))
    if ssh is None:
        raise ConnectFailed("the OpenSSH client `ssh` is not installed", where=where,
                            hint="install it (apt-get install openssh-client) or fix PATH")
    return ssh


def connect_error(target: SshTarget, stderr: list[str], where: Location) -> StepFailed:
    """ssh's exit 255 before the command started, as one error with what to do."""
    text = "\n".join(stderr)
    host, port = target.host, target.port or 22
    known = target.known_hosts or "~/.ssh/known_hosts"
    scan = (f"`ssh-keyscan -p {port} {host} >> {known}`, after checking the fingerprint it "
            "prints against the host's own (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` "
            "there)")
    cases: list[tuple[str, str, str]] = [
        ("REMOTE HOST IDENTIFICATION HAS CHANGED",
         f"the host key of {host}:{port} does not match the one in {known}",
         "someone may be intercepting the connection; if the host was rebuilt, remove the old "
         f"line (`ssh-keygen -R '[{host}]:{port}' -f {known}`) and add the new key with {scan}"),
        ("Host key verification failed",
         f"the host key of {host}:{port} is not in {known}", f"add it with {scan}"),
        ("Permission denied",
         f"{target.destination()} refused the key {target.identity_file or '(default keys)'}",
         "check `identity_file:` and that its .pub is in the user's authorized_keys there"),
        ("Connection refused", f"{host}:{port} refused the connection",
         f"is sshd running there and listening on port {port}?"),
        ("timed out", f"connecting to {host}:{port} timed out",
         "check that the host is up and that a firewall lets the port through"),
        ("Could not resolve hostname", f"cannot resolve the host name {host}",
         "check the spelling of the host in the connection"),
        ("unreachable", f"{host} is unreachable", "check the network route to the host"),
        ("No route to host", f"{host} is unreachable", "check the network route to the host"),
    ]
    for needle, message, hint in cases:
        if needle.lower() in text.lower():
            return ConnectFailed(f"{target.display()}: {message}", where=where, hint=hint)
    last = stderr[-1] if stderr else "no message"
    return ConnectFailed(f"{target.display()}: ssh could not connect ({last})", where=where,
                         hint="run the same `ssh` by hand with `-v` to see why")

