"""Reading input as text: only regular files, of bounded size, decoded as strict UTF-8.

A config's bytes are never trusted: ``/dev/zero`` behind a symlink would be read forever, a
huge file would be held whole, and an undecodable byte would raise deep inside a parser. Each
problem is one :class:`InputError` naming the file (and the line of a bad byte). Streams
(stdin, JSONL) are read a line at a time, each line bounded, so nothing holds a whole stream.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import BinaryIO

from rnncalc.core.errors import RnncalcError, SpecError
from rnncalc.core.limits import DEFAULT_MAX_FILE_SIZE
from rnncalc.core.text import printable
from rnncalc.core.units import format_bytes, parse_lengths

#: Read size when skipping the rest of an over-long line.
_CHUNK = 1 << 16


class InputError(RnncalcError):
    """Input that cannot be read as text: ``file[:line]: message``."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        where = f"{file}:{line}" if line is not None else file
        super().__init__(printable(f"{where}: {message}"))
        self.file = file
        self.line = line
        self.message = message


def read_text_file(path: str, max_bytes: int = DEFAULT_MAX_FILE_SIZE) -> str:
    """The whole of a regular file of at most ``max_bytes``, as strict UTF-8."""
    return decode(path, read_bytes(path, max_bytes))


def open_regular_file(path: str) -> BinaryIO:
    """``path`` opened for reading in binary, refused unless it is (or links to) a regular file."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not block; a FIFO is refused below.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise InputError(path, None, f"cannot read: {error.strerror or error}") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise InputError(path, None, "is not a regular file (a device, FIFO or directory)")
    return os.fdopen(descriptor, "rb")


def read_bytes(path: str, max_bytes: int = DEFAULT_MAX_FILE_SIZE) -> bytes:
    """The bytes of a regular file (after symlinks) of at most ``max_bytes``."""
    with open_regular_file(path) as handle:
        info = os.fstat(handle.fileno())
        if info.st_size > max_bytes:
            raise InputError(path, None, too_large(info.st_size, max_bytes))
        try:
            data = handle.read(max_bytes + 1)  # a file growing while read still stops here
        except OSError as error:
            raise InputError(path, None, f"cannot read: {error.strerror or error}") from None
    if len(data) > max_bytes:
        raise InputError(path, None, too_large(len(data), max_bytes))
    return data


def too_large(size: int, limit: int) -> str:
    return (
        f"is larger than the {format_bytes(limit)} limit ({format_bytes(size)} or more); "
        "raise it with --max-file-size"
    )


def decode(file: str, data: bytes, first_line: int = 1) -> str:
    """``data`` as strict UTF-8; a bad byte is an error naming its line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + first_line
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        bad = data[error.start : error.end].hex(" ")
        raise InputError(file, line, f"not valid UTF-8 (byte {bad} at column {column})") from None


def iter_lines(
    stream: BinaryIO, max_line: int = DEFAULT_MAX_FILE_SIZE, name: str = "<stdin>"
) -> Iterator[bytes | None]:
    """Each line of ``stream`` without its ``\\n`` (only ``\\n`` ends a line), read one at a time.

    A line longer than ``max_line`` bytes yields None (its rest is skipped), so the caller
    reports that line and goes on with the next. A read error is an :class:`InputError`
    naming the stream ``name``.
    """
    try:
        while True:
            line = stream.readline(max_line + 1)
            if not line:
                return
            if len(line) > max_line and not line.endswith(b"\n"):
                while True:  # skip the rest of the over-long line without holding it
                    rest = stream.readline(_CHUNK)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield None
                continue
            yield line[:-1] if line.endswith(b"\n") else line
    except OSError as error:
        raise InputError(name, None, f"cannot read: {error.strerror or error}") from None


def read_lengths(field: str, text: str) -> tuple[int, ...]:
    """Sequence lengths as :func:`~rnncalc.core.units.parse_lengths` reads them, where
    ``@path`` names a file of them, read as strict UTF-8 from a regular file of bounded size."""
    if not text.startswith("@"):
        return parse_lengths(field, text)
    path = text[1:]
    try:
        content = read_text_file(path)
    except InputError as error:
        raise SpecError(field, printable(str(error))) from None
    return parse_lengths(field, content, path)
