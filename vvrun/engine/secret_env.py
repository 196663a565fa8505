"""Secret inputs reach shell commands through the environment, never through argv.

Each secret input `x` is given to shell steps as `VVRUN_SECRET_X`. A secret templated into a
shell command (`psql {{ inputs.password }}`) would otherwise sit in the command line, where
`ps` shows it to every user: the quoted value is replaced by `"$VVRUN_SECRET_X"`, which bash
expands to exactly the same single word.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Mapping
from typing import Any

from vvrun.language.model import Runbook
from vvrun.secrets import MIN_SECRET_LENGTH

PREFIX = "VVRUN_SECRET_"
_SAFE = r"[\w@%+=:,./-]"  # what shlex.quote leaves unquoted


def env_name(input_name: str) -> str:
    return PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", input_name).upper()


def secret_env(runbook: Runbook, inputs: Mapping[str, Any]) -> dict[str, str]:
    """`VVRUN_SECRET_<NAME>` for every secret input that has a value."""
    out = {}
    for name, spec in runbook.inputs.items():
        value = inputs.get(name)
        if spec.secret and isinstance(value, str | int | float):
            out[env_name(name)] = str(value)
    return out


def shell_secrets_to_env(action: Any, runbook: Runbook, inputs: Mapping[str, Any]) -> Any:
    """The shell action with every quoted secret value replaced by its variable."""
    command = getattr(action, "command", None)
    if not isinstance(command, str):
        return action
    secrets = sorted(((str(inputs[n]), env_name(n)) for n, s in runbook.inputs.items()
                      if s.secret and isinstance(inputs.get(n), str | int | float)
                      and len(str(inputs[n])) >= MIN_SECRET_LENGTH),
                     key=lambda pair: len(pair[0]), reverse=True)
    for value, var in secrets:
        quoted = shlex.quote(value)
        ref = f'"${var}"'
        if quoted != value:
            command = command.replace(quoted, ref)
        else:  # an unquoted word: replace it only where it stands as a whole word
            command = re.sub(rf"(?<!{_SAFE}){re.escape(value)}(?!{_SAFE})",
                             lambda _m, r=ref: r, command)
    if command == action.command:
        return action
    return dataclasses.replace(action, command=command)
