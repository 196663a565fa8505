"""Secrets reach shell commands through the environment, never through argv (SPEC §3.4).

A secret templated into a command (`psql {{ inputs.password }}`, `{{ secrets.token | upper }}`)
is rendered as `"$VVRUN_SECRET_…"` with its value in the step's environment (the templater
does it: `Templater.shell`). What is left here is the safety net for a secret input that
reached a command some other way (a value the templater did not know was secret), and the
operator's environment as a step sees it: scrubbed of vvrun's own variables and secrets.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Iterator, Mapping
from typing import Any

from vvrun.language.model import Runbook
from vvrun.secrets import MIN_SECRET_LENGTH, Masker
from vvrun.steps.shell.childenv import scrubbed

PREFIX = "VVRUN_SECRET_"
_SAFE = r"[\w@%+=:,./-]"  # what shlex.quote leaves unquoted


def env_name(input_name: str) -> str:
    return PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", input_name).upper()


def child_environ(environ: Mapping[str, str], masker: Masker) -> Mapping[str, str]:
    """The operator's environment for a step's processes: without `VVRUN_*`, credentials
    (`PGPASSWORD`, `DATABASE_URL`, `*_TOKEN`…) and any variable whose value is a secret of
    this run. Worked out when a step first reads it: scrubbing costs tens of µs a step, and
    most steps start no process."""
    return _ChildEnviron(environ, masker)


class _ChildEnviron(Mapping[str, str]):
    def __init__(self, environ: Mapping[str, str], masker: Masker) -> None:
        self._source: tuple[Mapping[str, str], Masker] | None = (environ, masker)
        self._env: dict[str, str] = {}

    def _scrubbed(self) -> dict[str, str]:
        if self._source is not None:
            environ, masker = self._source
            self._env, self._source = scrubbed(environ, masker.is_secret), None
        return self._env

    def __getitem__(self, name: str) -> str:
        return self._scrubbed()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._scrubbed())

    def __len__(self) -> int:
        return len(self._scrubbed())


def secret_env(runbook: Runbook, inputs: Mapping[str, Any]) -> dict[str, str]:
    """`VVRUN_SECRET_<NAME>` for every secret input that has a value."""
    out = {}
    for name, spec in runbook.inputs.items():
        value = inputs.get(name)
        if spec.secret and isinstance(value, str | int | float):
            out[env_name(name)] = str.__str__(str(value))
    return out


def shell_secrets_to_env(action: Any, runbook: Runbook, inputs: Mapping[str, Any]) -> Any:
    """The shell action with every quoted secret input replaced by its variable, and that
    variable (only the ones it uses) added to the action's environment."""
    command = getattr(action, "command", None)
    if not isinstance(command, str):
        return action
    values = secret_env(runbook, inputs)
    pairs = sorted(((v, k) for k, v in values.items() if len(v) >= MIN_SECRET_LENGTH),
                   key=lambda pair: len(pair[0]), reverse=True)
    used: dict[str, str] = {}
    for value, var in pairs:
        if value not in command:
            continue
        quoted = shlex.quote(value)
        ref = f'"${var}"'
        if quoted != value:
            replaced = command.replace(quoted, ref)
        else:  # an unquoted word: replace it only where it stands as a whole word
            replaced = re.sub(rf"(?<!{_SAFE}){re.escape(value)}(?!{_SAFE})",
                              lambda _m, r=ref: r, command)
        if replaced != command:
            used[var] = value
            command = replaced
    if not used:
        return action
    env = tuple((k, v) for k, v in action.env if k not in used) + tuple(used.items())
    return dataclasses.replace(action, command=command, env=env)
