"""Reading what a user hands vvrun — a runbook, a `--vars-file`, a plan file, a `--var` — with
bounds: regular files only, at most a limit of bytes (never the whole of `/dev/zero`), and text
that is UTF-8 or an error that says at which byte.

    read_source(path, what)  -> bytes    refuses FIFOs, devices, folders, sockets and big files
    decode_utf8(raw)         -> str      a UTF-8 BOM is dropped
    check_arg(text, what)    -> str      a command-line value (surrogate-escaped by Python)

Errors are `SourceRefused` with a line and column when they have one; the caller turns them into
its own kind of error (a runbook Problem, a UsageError).
"""

from __future__ import annotations

import os
import stat

MAX_BYTES = 1024 * 1024  # a runbook is a page of YAML; a megabyte is already absurd
LIMIT_ENV = "VVRUN_MAX_FILE_SIZE"


class SourceRefused(Exception):
    """The input cannot be read as text within the bounds."""

    def __init__(self, message: str, hint: str, code: str, line: int | None = None,
                 column: int | None = None):
        super().__init__(message)
        self.message, self.hint, self.code, self.line, self.column = (
            message, hint, code, line, column)


def max_bytes(environ: os._Environ[str] | dict[str, str] | None = None) -> int:
    """The size limit of one input file: `$VVRUN_MAX_FILE_SIZE` (bytes, or with K/M), else
    1 MiB."""
    text = (os.environ if environ is None else environ).get(LIMIT_ENV, "").strip()
    if not text:
        return MAX_BYTES
    number, unit = text.rstrip("BbiI"), 1
    if number[-1:].upper() in ("K", "M"):
        unit = 1024 if number[-1].upper() == "K" else 1024 * 1024
        number = number[:-1]
    if not number.isdigit() or int(number) <= 0:
        raise SourceRefused(f"${LIMIT_ENV}={text!r} is not a size",
                            f"give a number of bytes, or with K or M: {LIMIT_ENV}=4M", "size-env")
    return int(number) * unit


def show_size(n: int) -> str:
    if n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


def _kind(mode: int) -> str | None:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def _not_regular(what: str, kind: str) -> SourceRefused:
    return SourceRefused(f"{what} is {kind}, not a regular file",
                         "give the path of a file (vvrun reads regular files only)", "file-kind")


def read_source(path: str, what: str = "the file", *, limit: int | None = None,
                split_hint: str = "split it into smaller files") -> bytes:
    """The bytes of the regular file at `path`, reading at most `limit` + 1 of them."""
    limit = max_bytes() if limit is None else limit
    try:
        before = os.stat(path)
    except OSError as exc:
        raise SourceRefused(f"cannot read {what}: {exc.strerror or exc}", "check the path",
                            "io") from None
    kind = _kind(before.st_mode)
    if kind is not None:  # a FIFO would block open(); a socket cannot be opened at all
        raise _not_regular(what, kind)
    try:
        # O_NONBLOCK: if the path became a FIFO since the stat, open() must not wait for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise SourceRefused(f"cannot read {what}: {exc.strerror or exc}", "check the path",
                            "io") from None
    try:
        kind = _kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise _not_regular(what, kind)
        chunks, got = [], 0
        while got <= limit:
            chunk = os.read(fd, limit + 1 - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except OSError as exc:
        raise SourceRefused(f"cannot read {what}: {exc.strerror or exc}", "check the path",
                            "io") from None
    finally:
        os.close(fd)
    if got > limit:
        raise SourceRefused(
            f"{what} is larger than {show_size(limit)} (the limit)",
            f"{split_hint}, or raise the limit with {LIMIT_ENV} (e.g. {LIMIT_ENV}=4M)",
            "file-size")
    return b"".join(chunks)


def _bad_byte(raw: bytes, start: int, what: str) -> SourceRefused:
    before = raw[:start]
    line = before.count(b"\n") + 1
    column = start - (before.rfind(b"\n") + 1) + 1
    return SourceRefused(
        f"{what} is not valid UTF-8: byte 0x{raw[start]:02x} at offset {start} "
        f"(line {line}, column {column})",
        "save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)", "encoding", line, column)


def decode_utf8(raw: bytes, what: str = "the file") -> str:
    """The text of `raw`; a UTF-8 BOM is dropped (offsets stay those of the file)."""
    start = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad_byte(raw, start + exc.start, what) from None


def check_arg(text: str, what: str) -> str:
    """A value from the command line or the environment: Python decodes bytes that are not
    UTF-8 as lone surrogates (`surrogateescape`), which fail much later, far from their cause."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate no byte became: not from argv or environ
            raise SourceRefused(f"{what} is not valid text (character {exc.start})",
                                "give the value as UTF-8 text", "encoding") from None
        offset = len(text[: exc.start].encode("utf-8", "surrogateescape"))
        raise _bad_byte(raw, offset, what) from None
    return text
