"""Read an SSHSIG envelope (what `ssh-keygen -Y sign` writes) without trusting it.

Only to name the key and namespace in a refusal and to fingerprint the signer: whether the
signature is good is ssh-keygen's call (`verify`), never this module's.
Format: PROTOCOL.sshsig in OpenSSH.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from vvrun.identity.errors import ApprovalRefused

_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_END = "-----END SSH SIGNATURE-----"
_MAGIC = b"SSHSIG"


@dataclass(frozen=True)
class Envelope:
    """What a signature says about itself: the signer's public key blob and the namespace."""

    public_key: bytes
    key_type: str
    namespace: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    @property
    def is_certificate(self) -> bool:
        return self.key_type.endswith("-cert-v01@openssh.com")


def fingerprint(blob: bytes) -> str:
    """`SHA256:…` as `ssh-keygen -l` prints it."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def read_string(data: bytes, pos: int) -> tuple[bytes, int]:
    """One SSH wire `string` (uint32 length, bytes) at pos; raises ValueError past the end."""
    if pos + 4 > len(data):
        raise ValueError("truncated")
    (size,) = struct.unpack(">I", data[pos:pos + 4])
    end = pos + 4 + size
    if end > len(data):
        raise ValueError("truncated")
    return data[pos + 4:end], end


def parse(armored: str) -> Envelope:
    """The envelope of an armored signature; ApprovalRefused when it is not one."""
    text = armored.strip()
    if not (text.startswith(_BEGIN) and text.endswith(_END)):
        raise ApprovalRefused("the approval's signature is not an SSH signature "
                              "(no BEGIN/END SSH SIGNATURE armour); it was altered",
                              hint="approve again with `vvrun approve RUN STEP`")
    body = "".join(text[len(_BEGIN):-len(_END)].split())
    try:
        raw = base64.b64decode(body, validate=True)
        if raw[:6] != _MAGIC:
            raise ValueError("magic")
        key, pos = read_string(raw, 10)  # after magic and the uint32 version
        namespace, pos = read_string(raw, pos)
        key_type, _ = read_string(key, 0)
        return Envelope(key, key_type.decode("ascii"), namespace.decode("utf-8"))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ApprovalRefused("the approval's signature cannot be read; it was altered",
                              hint="approve again with `vvrun approve RUN STEP`") from exc
