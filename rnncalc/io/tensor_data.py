"""Read tensor *data* from a weight file, one tensor at a time, for ``rnncalc convert``.

A :class:`TensorFormat` is a file format convert reads values from (and perhaps writes); each
:class:`~rnncalc.core.convention.Convention` declares its own
(:meth:`~rnncalc.core.convention.Convention.tensor_formats`), with the opener and writer kept in
its ``rnncalc/frameworks/*_files.py`` module. Only the safetensors reader, which needs numpy
alone, lives here.

The other readers of :mod:`rnncalc.io` return names and shapes only; these return the values,
lazily: :class:`TensorData` is a mapping whose ``[name]`` reads that tensor when asked, so a
conversion holds one tensor at a time, not the file. Where the bytes lie in the file as they
are, the value is a view of the file mapped read-only, marked with
:func:`rnncalc.io.mapped.mapped` so that convert lets its pages go as it copies it: PyTorch
files in the zip format (``torch.load(mmap=True)``), ``.safetensors`` data, a ``.keras``
archive's contiguous datasets (h5py gives their offsets) and an ONNX model's ``raw_data``
(:func:`rnncalc.io.onnx_file.scan_onnx`); anything else is read into memory when looked up.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rnncalc.io.tensors import WeightFileError

#: safetensors dtype → numpy dtype of the values convert reads (floats only; the weights are).
SAFETENSORS_FLOATS = {"F16": "<f2", "F32": "<f4", "F64": "<f8"}


@dataclass(frozen=True)
class TensorFormat:
    """A format ``rnncalc convert`` reads tensor values from, and writes when ``target`` is set.

    ``name`` is the :class:`~rnncalc.io.weight_format.WeightFormat` name inspect reads the file
    as (its layers are recognised by the convention's ``find_layers``); a format inspect does not
    read is recognised by ``suffixes`` alone and matched against the convention's report by
    names and shapes. ``target`` is the ``--to`` value (empty: convert does not write it),
    ``suffixes`` the destination extensions that pick it, ``write(plan, pairs, path)`` writes a
    :class:`~rnncalc.convert.plan.Plan`'s ``(name, array)`` pairs in report order. ``order`` sorts
    one layer's tensor names into report order when the file's order differs; ``refuse(layer)``
    says why a recognised layer cannot be moved (None: it can), ``refuse_file(contents)`` why
    the file's model is more than what convert moves (a layer it would drop; None: it is not).
    rnncalc recognises ``suffixes`` in any case; ``exact_suffix`` says that the framework's own
    loader does not (Keras's ``load_model`` reads ``.keras`` only), so convert notes a
    destination named otherwise."""

    name: str
    description: str
    suffixes: tuple[str, ...]
    open: Callable[[str], TensorData]
    target: str = ""
    write: Callable[[Any, Any, str], None] | None = None
    order: Callable[[str], Any] | None = None
    refuse: Callable[[Any], str | None] | None = None
    exact_suffix: bool = False
    refuse_file: Callable[[Any], str | None] | None = None


class TensorData(Mapping[str, Any]):
    """Name → numpy array, each read from the file when looked up; ``close()`` frees the file.

    ``release(name)`` tells a memory-mapped reader that the tensor is done with: its pages
    leave the process (they stay in the page cache), so reading a whole file through a map
    does not leave all of it resident.
    """

    def __init__(
        self,
        names: list[str],
        read: Callable[[str], Any],
        close: Callable[[], None],
        mapped_view: Callable[[str], Any] | None = None,
    ) -> None:
        self._names = names
        self._known = set(names)
        self._read = read
        self._close = close
        self._mapped_view = mapped_view

    def release(self, name: str) -> None:
        if self._mapped_view is not None and name in self._known:
            from rnncalc.io.mapped import drop, mapped

            view = self._mapped_view(name)
            if view is not None:
                drop(mapped(view))

    def __getitem__(self, name: str) -> Any:
        if name not in self._known:
            raise KeyError(name)
        return self._read(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def close(self) -> None:
        self._close()


def open_safetensors(path: str) -> TensorData:
    """Each tensor as a ``numpy.memmap`` of its bytes (header as the format defines it; see
    :mod:`rnncalc.io.safetensors_header`, which has checked it)."""
    import numpy as np

    from rnncalc.io.mapped import mapped

    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    header.pop("__metadata__", None)
    start = 8 + length

    def view(name: str) -> Any:
        """The tensor's bytes in the file, mapped read-only (None when it has none)."""
        begin, end = header[name]["data_offsets"]
        return (
            np.memmap(path, dtype="u1", mode="r", offset=start + begin, shape=end - begin)
            if end > begin
            else None
        )

    def read(name: str) -> Any:
        entry = header[name]
        dtype = entry["dtype"]
        begin, end = entry["data_offsets"]
        if dtype == "BF16":  # the top half of a float32
            raw = np.memmap(path, dtype="<u2", mode="r", offset=start + begin, shape=(end - begin) // 2)
            return (raw.astype(np.uint32) << 16).view(np.float32).reshape(entry["shape"])
        if dtype not in SAFETENSORS_FLOATS:
            raise WeightFileError(path, f"tensor {name!r} is {dtype}, not a float type convert can move")
        shape = tuple(entry["shape"])
        if not end > begin:
            return np.zeros(shape, dtype=np.float32)
        values = np.memmap(path, dtype=SAFETENSORS_FLOATS[dtype], mode="r", offset=start + begin, shape=shape)
        return mapped(values) if values.dtype == np.float32 else values.astype(np.float32)

    return TensorData(list(header), read, lambda: None, view)
