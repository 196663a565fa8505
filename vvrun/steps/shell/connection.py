"""The JSON Schema of an `ssh` connection, which `shell` steps run on with `on:`.

It lives beside the code that reads these settings (`_ssh.resolve_target`); the language's
schema (`vvrun.language.schema.document`) includes it as `$defs/connection_ssh`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_SSH_FILES = {
    "port": {"type": ["integer", "string"], "minimum": 1, "maximum": 65535, "minLength": 1,
             "default": 22, "description": "The sshd port (a number or a template).",
             "examples": [22]},
    "identity_file": {"type": "string", "minLength": 1,
                      "description": "The private key (`-i`); only this key is offered.",
                      "examples": ["~/.ssh/id_ed25519"]},
    "known_hosts": {"type": "string", "minLength": 1,
                    "description": "The known_hosts file that must hold the host's key "
                    "(StrictHostKeyChecking=yes); default: ssh's own.",
                    "examples": ["~/.ssh/known_hosts"]},
    "connect_timeout": {
        "type": ["string", "number"], "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$",
        "minimum": 0, "examples": ["10s"],
        "description": "Give up connecting after this long (default 10s). A duration: `500ms`, "
        "`30s`, `5m`, `1h`, or seconds."},
}

SSH_CONNECTION: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ssh"],
    "description": "A host for `shell` steps with `on:`, reached with the system OpenSSH "
    "client (BatchMode, host key checked, one ControlMaster connection per host).",
    "properties": {
        "ssh": {
            "description": "`user@host` (a template), or `{host, user, port, identity_file, "
            "known_hosts, connect_timeout}`.",
            "examples": ["deploy@web1.internal", {"host": "web1.internal", "user": "deploy"}],
            "oneOf": [
                {"type": "string", "minLength": 1, "description": "`user@host` or `host`."},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["host"],
                    "properties": {
                        "host": {"type": "string", "minLength": 1,
                                 "description": "The host name or address (a template)."},
                        "user": {"type": "string", "minLength": 1,
                                 "description": "The remote user; default: ssh's own."},
                        **_SSH_FILES,
                    },
                },
            ],
        },
        **_SSH_FILES,
    },
}
