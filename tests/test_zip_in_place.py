"""A zip member written in place by a writer that seeks: the zip module reads it as it reads
the members it wrote itself (names, CRC-32, ZIP64 header when the estimate asks for one)."""

from __future__ import annotations

import zipfile
from pathlib import Path

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
