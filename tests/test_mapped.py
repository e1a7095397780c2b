"""Letting go of a mapped file's pages (rnncalc.io.mapped): the values survive, the resident
set shrinks, and memory that is not the mapping is never touched."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")

from rnncalc.io.mapped import drop, mapped  # noqa: E402

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="madvise and /proc are Linux's")
VALUES = 1 << 20  # 4 MiB of float32


def resident_file_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssFile:"))


@pytest.fixture
def floats(tmp_path: Path) -> Path:
    path = tmp_path / "floats.bin"
    np.arange(VALUES, dtype=np.float32).tofile(path)
    return path


@linux_only
def test_dropped_pages_leave_the_process_and_the_values_come_back_from_the_file(floats: Path) -> None:
    view = mapped(np.memmap(floats, dtype=np.float32, mode="r"))
    assert float(view.sum()) == float(np.arange(VALUES, dtype=np.float64).sum())  # every page read
    before = resident_file_kib()
    drop(view)
    assert before - resident_file_kib() >= 3 * 1024  # most of the 4 MiB left
    assert np.array_equal(view, np.arange(VALUES, dtype=np.float32))


@linux_only
def test_an_array_computed_from_a_mapped_one_is_never_dropped(floats: Path) -> None:
    view = mapped(np.memmap(floats, dtype=np.float32, mode="r"))
    computed = view + 1  # anonymous memory, though of the same class
    drop(computed)
    assert np.array_equal(computed, np.arange(VALUES, dtype=np.float32) + 1)


def test_an_unmarked_array_is_left_alone() -> None:
    plain = np.ones(VALUES, dtype=np.float32)
    drop(plain)
    assert plain.all()
