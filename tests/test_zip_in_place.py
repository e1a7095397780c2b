"""A zip member written in place by a writer that seeks: the zip module reads it as it reads
the members it wrote itself (names, CRC-32, ZIP64 header when the estimate asks for one)."""

from __future__ import annotations

import inspect
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from rnncalc.io.zip_in_place import zip_with_member_in_place

MEMBERS = [("metadata.json", b'{"a": 1}'), ("config.json", b"{}")]


def _write_out_of_order(path: Path, estimated_size: int) -> bytes:
    """Writes the member's end first, then its start over reserved space, as HDF5 does."""
    with zip_with_member_in_place(str(path), MEMBERS, "model.weights.h5", estimated_size) as handle:
        handle.seek(1000)
        handle.write(b"tail" * 100)
        handle.seek(0)
        handle.write(b"head")
        handle.seek(500)
        assert handle.read(4) == b"\0\0\0\0"  # the writer reads back what it wrote
    return b"head" + b"\0" * 996 + b"tail" * 100


@pytest.mark.parametrize("estimated_size", [1400, 3 << 30])
def test_a_member_written_out_of_order_reads_back_with_its_crc(tmp_path: Path, estimated_size: int) -> None:
    path = tmp_path / "model.keras"
    expected = _write_out_of_order(path, estimated_size)
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == ["metadata.json", "config.json", "model.weights.h5"]
        assert [info.compress_type for info in archive.infolist()] == [zipfile.ZIP_STORED] * 3
        assert archive.read("metadata.json") == b'{"a": 1}'
        assert archive.read("model.weights.h5") == expected


def test_an_estimate_over_the_zip64_limit_gives_the_member_a_zip64_header(tmp_path: Path) -> None:
    """APPNOTE.TXT 4.5.3: the ZIP64 extra field (id 1) in the local header."""
    small, large = tmp_path / "small.keras", tmp_path / "large.keras"
    _write_out_of_order(small, 1400)
    _write_out_of_order(large, 3 << 30)
    with zipfile.ZipFile(small) as archive:
        start = archive.getinfo("model.weights.h5").header_offset
    assert small.read_bytes()[start + 28 : start + 30] == b"\0\0"  # extra field length
    assert large.read_bytes()[start + 28 : start + 30] == (20).to_bytes(2, "little")
    assert large.read_bytes()[start + 30 + 16 : start + 32 + 16] == (1).to_bytes(2, "little")


# --- The zip module's private behaviour zip_in_place relies on, pinned ---------------------------
# zip_with_member_in_place lets the zip module write a member whose bytes are already in place,
# skipping the writes that fall on them. That holds only while the zip module (CPython's
# Lib/zipfile, ZipFile._open_to_write and _ZipWriteFile.close, the same in 3.10 to 3.13) writes
# a stored member to a seekable file exactly as below. A Python that changes any of it fails
# here, by name, rather than writing a corrupt .keras file.


class _Recorder(io.RawIOBase):
    """A seekable in-memory file that records every write as ``(offset, length)``."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer, self.position = bytearray(), 0
        self.writes: list[tuple[int, int]] = []

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = offset + (
            len(self.buffer) if whence == io.SEEK_END else 0 if whence == io.SEEK_SET else self.position
        )
        return self.position

    def write(self, data: Any) -> int:
        data = bytes(data)
        self.writes.append((self.position, len(data)))
        self.buffer[self.position : self.position + len(data)] = data
        self.position += len(data)
        return len(data)


def test_the_zip_module_names_zip_in_place_uses_are_there() -> None:
    assert isinstance(zipfile.ZIP64_LIMIT, int) and zipfile.ZIP64_LIMIT == (1 << 31) - 1
    assert callable(zipfile.ZipInfo.FileHeader)
    assert "force_zip64" in inspect.signature(zipfile.ZipFile.open).parameters


@pytest.mark.parametrize("zip64", [False, True])
def test_the_zip_module_writes_a_stored_member_as_zip_in_place_expects(zip64: bool) -> None:
    """Header at the end of the previous member, of FileHeader's length; the data written
    through, unchanged and contiguous; on close, the header written again over itself (no data
    descriptor), and the position back at the data's end, where the central directory goes."""
    sink = _Recorder()
    with zipfile.ZipFile(sink, "w") as archive:
        with archive.open("config.json", "w") as member:
            member.write(b"{}")
        start_dir = sink.tell()
        info = zipfile.ZipInfo("model.weights.h5", (2024, 1, 1, 0, 0, 0))
        info.CRC = 0
        header = len(info.FileHeader(zip64))
        sink.writes.clear()
        with archive.open(info, "w", force_zip64=zip64) as member:
            assert info.header_offset == start_dir
            assert sink.writes == [(start_dir, header)]
            for chunk in (b"a" * 10, b"b" * 1000, b"c"):
                member.write(chunk)
        data = (start_dir + header, 10), (start_dir + header + 10, 1000), (start_dir + header + 1010, 1)
        assert sink.writes[:5] == [(start_dir, header), *data, (start_dir, header)]
        assert sink.tell() == start_dir + header + 1011
        assert info.flag_bits & 0x08 == 0  # no data descriptor after the data
        assert len(info.FileHeader(zip64)) == header  # rewritten in place, the same length
