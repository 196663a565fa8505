"""Find and read the allowed signers file: who may approve, with which key, in which groups.

The file is the one git uses for signed commits (ssh-keygen(1), ALLOWED SIGNERS):
`principal[,principal...] [options] keytype base64 [comment]`. ssh-keygen stays the judge of
a signature; vvrun reads the file only to name an unknown key and to find groups.

Groups: a principal `group:NAME` on a key's line puts that key in group NAME, e.g.
`alice@example.com,group:dba namespaces="vvrun" ssh-ed25519 AAAA…`. It lives in the same file,
so one review covers who may sign and who may approve as a DBA, and ssh-keygen still applies
the line's namespaces and validity to the group (vvrun verifies `-I group:NAME` too).
A `group:` principal is never taken for a person.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vvrun.identity.errors import IdentitySetupError
from vvrun.identity.sshsig import fingerprint, read_string

ENV = "VVRUN_ALLOWED_SIGNERS"
GROUP_PREFIX = "group:"
_KEY_TYPE = re.compile(r"^(ssh-|ecdsa-|sk-|rsa-sha2-)")
_TOKEN = re.compile(r'(?:[^\s"]|"[^"]*")+')


@dataclass(frozen=True)
class SignerLine:
    """One line of the file: its principals, options and public key."""

    line: int
    principals: tuple[str, ...]
    options: str
    key_type: str
    key: bytes

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(p[len(GROUP_PREFIX):] for p in self.principals if p.startswith(GROUP_PREFIX))

    @property
    def cert_authority(self) -> bool:
        return "cert-authority" in self.options.lower().split(",")


@dataclass(frozen=True)
class AllowedSigners:
    """The file, where it is, and its lines."""

    path: Path
    lines: tuple[SignerLine, ...]

    def lines_for(self, key: bytes) -> tuple[SignerLine, ...]:
        return tuple(line for line in self.lines if line.key == key)

    def groups(self) -> frozenset[str]:
        return frozenset(g for line in self.lines for g in line.groups)


def find(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str],
         runbook_dir: str | os.PathLike[str] | None) -> Path:
    """`--allowed-signers PATH`, else `$VVRUN_ALLOWED_SIGNERS`, else the nearest
    `.vvrun/allowed_signers` from the runbook's folder up to its repository's root (the first
    folder holding `.git`) or the filesystem root."""
    for given, how in ((explicit, "--allowed-signers"), (environ.get(ENV) or None, f"${ENV}")):
        if given:
            path = Path(given).expanduser()
            if not path.is_file():
                raise IdentitySetupError(f"allowed signers file {path} (from {how}) not found",
                                         hint="give the path of an allowed_signers file")
            return path
    start = Path(runbook_dir or ".").resolve()
    looked: list[str] = []
    for folder in (start, *start.parents):
        candidate = folder / ".vvrun" / "allowed_signers"
        looked.append(str(candidate))
        if candidate.is_file():
            return candidate
        if (folder / ".git").exists():
            break
    raise IdentitySetupError(
        "no allowed signers file: looked for " + ", ".join(looked) + f" (and ${ENV} is not set)",
        hint="create .vvrun/allowed_signers in the runbook's repository, one line per key: "
        "`you@example.com ssh-ed25519 AAAA…` (the text of your key's .pub after the principal)")


def load(path: Path) -> AllowedSigners:
    """Read and check the file; a line ssh-keygen could not use is an error with its number."""
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IdentitySetupError(f"cannot read allowed signers file {path}: {exc}") from exc
    if info.st_mode & stat.S_IWOTH:
        # Anyone who can write it can make themselves an approver.
        raise IdentitySetupError(f"allowed signers file {path} is writable by every user",
                                 hint=f"chmod o-w {path}")
    return AllowedSigners(path, tuple(
        _parse_line(path, n, raw) for n, raw in enumerate(text.splitlines(), 1)
        if raw.strip() and not raw.lstrip().startswith("#")))


def _parse_line(path: Path, number: int, raw: str) -> SignerLine:
    tokens = _TOKEN.findall(raw)

    def bad(why: str) -> IdentitySetupError:
        return IdentitySetupError(
            f"{path}:{number}: {why}",
            hint="each line is `principal[,principal…] [options] keytype base64 [comment]`, "
            'e.g. `alice@example.com namespaces="vvrun" ssh-ed25519 AAAA…`')

    if len(tokens) < 3:
        raise bad("a line needs at least a principal, a key type and a key")
    principals = tuple(p for p in tokens[0].strip('"').split(",") if p)
    rest = tokens[1:]
    options = ""
    if not _KEY_TYPE.match(rest[0]):
        options, rest = rest[0], rest[1:]
    if len(rest) < 2:
        raise bad("the key type or the key is missing")
    key_type = rest[0]
    try:
        blob = base64.b64decode(rest[1], validate=True)
        embedded, _ = read_string(blob, 0)
    except (ValueError, binascii.Error) as exc:
        raise bad("the key is not valid base64 of an SSH public key") from exc
    if embedded.decode("ascii", "replace") != key_type:
        raise bad(f"the key says it is {embedded.decode('ascii', 'replace')}, not {key_type}")
    for principal in principals:
        if principal.startswith(GROUP_PREFIX) and not re.fullmatch(r"[A-Za-z0-9_.-]+",
                                                                    principal[6:]):
            raise bad(f"group principal {principal!r}: a group name is letters, digits, "
                      "'_', '.' and '-'")
    return SignerLine(number, principals, options, key_type, blob)
