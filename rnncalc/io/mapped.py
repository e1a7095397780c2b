"""Arrays that view a file mapped read-only, whose pages a conversion lets go as it goes.

A memory-mapped tensor costs no memory until read; every page read then stays in the process
(its resident set) until the mapping is closed. :func:`drop` gives pages back
(``madvise(MADV_DONTNEED)``: the kernel maps them from the file again if they are touched,
and clean file pages lose nothing), so reading a large file through a map holds only what is
being copied. Only arrays marked with :func:`mapped` are ever dropped: on anonymous memory
``MADV_DONTNEED`` would zero the data, so the mark records the mapped byte range and
:func:`drop` touches nothing outside it (an array computed from a marked one inherits the
class, not the range's validity: its memory lies elsewhere and is left alone).
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import sys
from typing import Any

import numpy as np


class MappedArray(np.ndarray):
    """A view of a read-only file mapping; ``mapping`` is the mapped byte range it lies in."""

    mapping: tuple[int, int] = (0, 0)

    def __array_finalize__(self, parent: Any) -> None:
        self.mapping = getattr(parent, "mapping", (0, 0))


def mapped(array: Any) -> Any:
    """``array`` (a view of a file opened read-only and mapped) marked as droppable."""
    view = array.view(MappedArray)
    view.mapping = (array.ctypes.data, array.ctypes.data + array.nbytes)
    return view


def drop(array: Any) -> None:
    """Let go of the whole pages of a contiguous :class:`MappedArray` inside its mapping; any
    other array is left alone. Linux only (elsewhere the pages stay until the file is closed)."""
    if sys.platform != "linux" or not isinstance(array, MappedArray) or not array.flags.c_contiguous:
        return
    low, high = array.mapping
    start = max(array.ctypes.data, low)
    end = min(array.ctypes.data + array.nbytes, high)
    page = mmap.PAGESIZE
    first, last = -(-start // page) * page, end // page * page
    if last > first:
        _libc().madvise(first, last - first, mmap.MADV_DONTNEED)


@functools.cache
def _libc() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc
