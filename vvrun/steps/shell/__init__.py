"""`shell`: a command for `bash -e -o pipefail -c`, here in its own process group, or on a host
over SSH (`on: <ssh connection>`).

`-e` is on (as in GitHub Actions' `bash -eo pipefail`): SPEC §3.4 says `bash -o pipefail -c`,
but then a failing middle line of a multi-line script is ignored and only the last line decides
the step's outcome, which is the wrong default for an operator's runbook. `set +e` opts out."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vvrun.errors import Location
from vvrun.secrets import MASK, env_name_is_secret
from vvrun.steps.base import Connection, Description, StepIO, Templater
from vvrun.steps.shell.connection import SSH_CONNECTION

if TYPE_CHECKING:
    from vvrun.steps.shell._ssh import SshTarget

__all__ = ["GRACE", "LINE_CAP", "NAME", "OUTPUT_CAP", "SCHEMA", "SSH_CONNECTION", "ShellAction",
           "ShellSpec", "describe", "execute", "group_members", "parse", "render"]

#: Names re-exported from the modules that run commands, loaded on first use: `validate` and
#: `plan` of a local shell step never import the process and ssh plumbing.
_LAZY = {"GRACE": "vvrun.steps.shell._local", "group_members": "vvrun.steps.shell._local",
         "LINE_CAP": "vvrun.steps.shell._stream", "OUTPUT_CAP": "vvrun.steps.shell._stream",
         "SshTarget": "vvrun.steps.shell._ssh"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

NAME = "shell"

SCHEMA: Mapping[str, Any] = {
    "description": "Run a command with `bash -e -o pipefail -c` (`set +e` opts out of -e), here "
    "or, with `on:`, on an ssh connection's host. Every `{{ }}` is shell-quoted (`| raw` opts "
    "out); output streams live and is kept as `result.stdout`/`stderr`.",
    "examples": ["vercel list | head -5", {"run": "pg_dump \"$DATABASE_URL\" > backup.sql",
                                          "ok_codes": [0]},
                 {"run": "systemctl restart app", "on": "web1"}],
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "The command."},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["run"],
            "properties": {
                "run": {"type": "string", "minLength": 1, "description": "The command."},
                "env": {"type": "object", "description": "Extra environment variables "
                        "(values may be templates; secrets go here, never into argv).",
                        "additionalProperties": {"type": ["string", "number", "boolean"]}},
                "cwd": {"type": "string", "description": "Working directory."},
                "ok_codes": {"type": "array", "minItems": 1, "default": [0],
                             "items": {"type": "integer", "minimum": 0, "maximum": 255},
                             "description": "Exit codes that count as success."},
                "on": {"type": "string", "minLength": 1,
                       "description": "Run it on this ssh connection's host (a template: "
                       "`\"{{ item }}\"` with `for_each` runs it on each host).",
                       "examples": ["web1", "{{ item }}"]},
            },
        },
    ],
}


@dataclass(frozen=True)
class ShellSpec:
    run: str
    env: Mapping[str, Any] = field(default_factory=dict)
    cwd: str | None = None
    ok_codes: tuple[int, ...] = (0,)
    on: str | None = None


def parse(body: Any, where: Location) -> ShellSpec:
    if isinstance(body, str):
        return ShellSpec(run=body)
    return ShellSpec(
        run=body["run"],
        env=body.get("env") or {},
        cwd=body.get("cwd"),
        ok_codes=tuple(body.get("ok_codes", [0])),
        on=body.get("on"),
    )


@dataclass(frozen=True)
class ShellAction:
    """The command with every value already shell-quoted, its environment, and where it runs
    (`remote`: None for this machine)."""

    command: str
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    ok_codes: tuple[int, ...] = (0,)
    remote: SshTarget | None = None


def render(spec: ShellSpec, tpl: Templater, conns: Mapping[str, Connection]) -> ShellAction:
    env = tuple((str(k), _env_text(tpl.text(v))) for k, v in spec.env.items())
    cwd = None if spec.cwd is None else str(tpl.text(spec.cwd))
    remote = None
    if spec.on is not None:
        from vvrun.steps.shell._ssh import resolve_target

        remote = resolve_target(spec.on, tpl, conns)
    command = tpl.shell(spec.run)
    # a templated secret stands in the command as "$VVRUN_SECRET_…": its value goes by env
    env += tuple(getattr(command, "env", {}).items())
    return ShellAction(command=str.__str__(command), env=env, cwd=cwd, ok_codes=spec.ok_codes,
                       remote=remote)


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe(action: ShellAction) -> Description:
    lines = action.command.strip().splitlines() or [""]
    summary = lines[0] if len(lines) == 1 else lines[0] + " …"
    if len(summary) > 100:
        summary = summary[:99] + "…"
    notes = []
    if action.cwd:
        notes.append(f"in {action.cwd}")
    for k, v in action.env:
        notes.append(f"env {k}={MASK if env_name_is_secret(k) else v}")
    if action.ok_codes != (0,):
        notes.append("ok exit codes: " + ", ".join(str(c) for c in action.ok_codes))
    target = None if action.remote is None else action.remote.display()
    return Description(summary=summary, body=action.command, language="bash", target=target,
                       notes=tuple(notes))


def execute(action: ShellAction, io: StepIO) -> dict[str, Any]:
    if action.remote is not None:
        from vvrun.steps.shell._remote import execute_remote

        return execute_remote(action, io)
    from vvrun.steps.shell._local import execute_local

    return execute_local(action, io)
