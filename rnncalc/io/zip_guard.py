"""Zip archives from strangers (``.pt``, ``.keras``): every member's declared sizes are checked
before anything is inflated, and no member is inflated past what it declares.

A zip member states its compressed and inflated sizes in the central directory; a zip bomb
states modest sizes and inflates to gigabytes, or states gigabytes that a reader then allocates.
Every reader of an archive opens it through :func:`open_zip`, which refuses an archive any of
whose members breaks the limits of :mod:`rnncalc.core.limits` (a method other than stored or
deflated, a stored member whose two sizes differ, a member running past the file's end, a
compressed member over :data:`~rnncalc.core.limits.MAX_ZIP_RATIO` to 1 or
:data:`~rnncalc.core.limits.MAX_ZIP_INFLATED_BYTES`), and inflates members only through
:func:`read_member`, :func:`inflated_copy` and :func:`check_inflated`, which read a bounded chunk
at a time and stop where the real inflated bytes pass the declared size. docs/security.md lists
the limits.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from typing import IO

from rnncalc.core.limits import (
    MAX_ZIP_INFLATED_BYTES,
    MAX_ZIP_METADATA_BYTES,
    MAX_ZIP_RATIO,
    ZIP_RATIO_GRACE_BYTES,
)
from rnncalc.io.tensors import WeightFileError

#: How much is inflated at a time.
CHUNK = 1 << 20
#: The compression methods read: what ``zipfile`` writes by default and what torch's reader
#: (miniz) reads; nothing that writes these formats uses another.
METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
#: General-purpose flags (APPNOTE.TXT 4.4.4) of members neither reader reads: bit 0 encrypted,
#: bit 5 compressed patched data, bit 6 strong encryption.
UNREAD_FLAGS = {0x01: "encrypted", 0x20: "compressed patched data", 0x40: "strongly encrypted"}


def open_zip(path: str) -> zipfile.ZipFile:
    """The archive at ``path``, every member checked by :func:`check_member`; a
    :class:`WeightFileError` for an unreadable archive or a member over the limits."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as error:
        raise WeightFileError(path, f"not a readable zip archive: {error}") from None
    try:
        size = os.fstat(archive.fp.fileno()).st_size  # type: ignore[union-attr]
        for info in archive.infolist():
            check_member(path, info, size)
    except BaseException:
        archive.close()
        raise
    return archive


def check_member(path: str, info: zipfile.ZipInfo, file_size: int) -> None:
    """Refuse a member whose declared sizes a real archive never has, before it is inflated."""
    name, packed, inflated = info.filename, info.compress_size, info.file_size
    method = METHODS.get(info.compress_type)
    if method is None:
        raise WeightFileError(
            path, f"zip member {name!r} uses compression method {info.compress_type}; "
            "rnncalc reads stored and deflated members only"
        )  # fmt: skip
    flags = [what for bit, what in UNREAD_FLAGS.items() if info.flag_bits & bit]
    if flags:
        raise WeightFileError(path, f"zip member {name!r} is {flags[0]}; rnncalc reads plain members only")
    if info.header_offset + packed > file_size:
        raise WeightFileError(
            path, f"zip member {name!r} declares {packed:,} bytes from offset "
            f"{info.header_offset:,}, past the file's end ({file_size:,} bytes)"
        )  # fmt: skip
    if info.compress_type == zipfile.ZIP_STORED:
        if inflated != packed:
            raise WeightFileError(
                path, f"stored zip member {name!r} declares {inflated:,} bytes in {packed:,}"
            )
        return
    if inflated > ZIP_RATIO_GRACE_BYTES and inflated > MAX_ZIP_RATIO * packed:
        raise WeightFileError(
            path, f"zip member {name!r} would inflate {packed:,} bytes to {inflated:,} "
            f"(over {MAX_ZIP_RATIO}:1): refused as a zip bomb"
        )  # fmt: skip
    if inflated > MAX_ZIP_INFLATED_BYTES:
        raise WeightFileError(
            path, f"zip member {name!r} would inflate to {inflated:,} bytes, over the "
            f"{MAX_ZIP_INFLATED_BYTES:,} rnncalc inflates"
        )  # fmt: skip


def read_member(path: str, archive: zipfile.ZipFile, name: str, limit: int = MAX_ZIP_METADATA_BYTES) -> bytes:
    """Member ``name``'s bytes, read whole into memory: refused when it declares more than
    ``limit`` bytes, or inflates to more than it declares."""
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise WeightFileError(path, f"zip member {name!r} holds {info.file_size:,} bytes, over {limit:,}")
    chunks: list[bytes] = []
    _inflate(path, archive, info, chunks.append)
    return b"".join(chunks)


def check_inflated(path: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Inflate a compressed member to nowhere, a chunk at a time, to check it inflates to its
    declared size and CRC-32: torch's reader checks neither, and reads a damaged deflate
    stream as whatever its buffer held (a different tensor each run, torch 2.13)."""
    _inflate(path, archive, info, lambda chunk: None)


def inflated_copy(path: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    """A temporary file (deleted when closed) holding the compressed member ``info`` inflated,
    for a reader that seeks back and forth (a zip module member inflates again from its start
    on every backward seek)."""
    copy = tempfile.TemporaryFile()  # noqa: SIM115 (the caller closes it)
    try:
        _inflate(path, archive, info, copy.write)
        copy.seek(0)
    except BaseException:
        copy.close()
        raise
    return copy


def _inflate(
    path: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: Callable[[bytes], object]
) -> None:
    """Hand ``out`` the member's inflated bytes a :data:`CHUNK` at a time, counted: the
    declared size is where inflating stops, whatever the compressed stream holds."""
    total = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(CHUNK):
                total += len(chunk)
                if total > info.file_size:
                    raise WeightFileError(
                        path, f"zip member {info.filename!r} inflates past the {info.file_size:,} "
                        "bytes it declares"
                    )  # fmt: skip
                out(chunk)
    except WeightFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError, RuntimeError) as error:
        raise WeightFileError(path, f"zip member {info.filename!r} is corrupt: {error}") from None
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    if total != info.file_size:
        raise WeightFileError(
            path, f"zip member {info.filename!r} inflates to {total:,} bytes, not the "
            f"{info.file_size:,} it declares"
        )  # fmt: skip
