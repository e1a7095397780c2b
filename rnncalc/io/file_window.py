"""Part of an open file as a file of its own: a zip member that h5py reads or writes in place.

h5py seeks back and forth through an HDF5 file; inside a ``.keras`` archive, whose members are
stored uncompressed, the member's bytes can be read and written where they lie rather than
through the zip module (whose member reads start again from the top on every backward seek)
or a temporary copy.
"""

from __future__ import annotations

import io
from typing import IO, Any


class FileWindow(io.RawIOBase):
    """Bytes ``start`` on of the open binary file ``raw``, positions counted from ``start``.

    With ``size`` the window ends at ``start + size`` and is read-only (a member being read);
    without, it runs to the file's end and is writable too (a member being written). ``close()``
    closes ``raw`` as well when ``owns`` is set.
    """

    def __init__(self, raw: IO[bytes], start: int, size: int | None = None, *, owns: bool = False) -> None:
        super().__init__()
        self._raw, self._start, self._size, self._owns = raw, start, size, owns
        self._position = 0

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return self._size is None

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            end = self._size if self._size is not None else self._raw.seek(0, io.SEEK_END) - self._start
            base = end
        else:
            base = self._position if whence == io.SEEK_CUR else 0
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._size is not None:
            view = view[: max(0, min(len(view), self._size - self._position))]
        self._raw.seek(self._start + self._position)
        count = self._raw.readinto(view) or 0  # type: ignore[attr-defined]
        self._position += count
        return count

    def write(self, data: Any) -> int:
        if self._size is not None:
            raise io.UnsupportedOperation("a window with a size is read-only")
        self._raw.seek(self._start + self._position)
        count = self._raw.write(data)
        self._position += count
        return count

    def truncate(self, size: int | None = None) -> int:
        if self._size is not None:
            raise io.UnsupportedOperation("a window with a size is read-only")
        size = self._position if size is None else size
        self._raw.truncate(self._start + size)
        return size

    def flush(self) -> None:
        self._raw.flush()

    def close(self) -> None:
        super().close()  # flushes first
        if self._owns:
            self._raw.close()
