"""PyTorch's ``torch.save`` file format, written one tensor at a time.

``torch.save`` of a state dict needs every tensor at once. This writer needs one: the state
dict's structure (names and shapes) is known before any value, so its pickle is written first
and each tensor's bytes go into their own zip record as the tensor arrives, then are dropped.
``torch.load`` reads the result exactly as it reads a ``torch.save``d state dict (with and
without ``mmap``): the pickle is byte for byte the one ``torch.save`` writes for the same state
dict, and the records are those ``torch.save`` writes, 64-byte aligned, in the same order.

The format, as ``torch.save`` writes it (torch/serialization.py, ``_save``, and
caffe2/serialize/inline_container.cc, ``PyTorchStreamWriter``): a zip of uncompressed records
in one folder, ``data.pkl`` (the object, pickled with protocol 2; each tensor is
``torch._utils._rebuild_tensor_v2`` of a storage named by a persistent id
``("storage", torch.FloatStorage, key, "cpu", numel)``), ``.format_version``,
``.storage_alignment``, ``byteorder``, one ``data/<key>`` record of raw bytes per storage, and
``version``.

Why the standard library's ``zipfile`` and ``pickle`` rather than torch's writers (measured on
a 128 MiB state dict whose arrays are made one at a time, as bench/convert_parts.py makes them):

- ``torch.serialization.skip_data`` (``torch.save`` leaves the storages' bytes as holes to fill
  in a second pass) needs a tensor of every shape up front: real ones cost their full size in
  address space (resident only if touched), fake ones (``FakeTensorMode``, the documented way)
  import torch's compiler stack, 1.4 s and 73 MiB more than torch alone. It writes those
  records' CRC-32 as 0 (torch/csrc/jit/python/init.cpp, "[Note: write_record_metadata]"), so
  each record's data descriptor and central-directory entry must be patched afterwards, and
  ``.data/serialization_id`` is computed from the zeros. 0.8 to 1.0 s against 0.3 s.
- ``torch._C.PyTorchFileWriter`` writes record by record but is private.
- ``zipfile`` computes each record's CRC-32 as the bytes stream through and pads each local
  header with an extra field (``FB``, as torch pads it) so that the data starts at a multiple
  of 64 bytes. The one record left out is ``.data/serialization_id``, an identifier
  ``torch.load`` only logs (an absent one reads as ""): a hash of the records' names by the C++
  library's ``std::hash``, in an unordered set's order, cannot be reproduced outside torch
  (inline_container.cc, ``writeSerializationId``).

torch is still imported, for the two names the pickle refers to
(``torch._utils._rebuild_tensor_v2``, ``torch.FloatStorage``): they are those the installed
torch loads.
"""

from __future__ import annotations

import io
import math
import pickle
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    Array = np.ndarray[Any, Any]

#: torch.save's folder for every record when it writes to a buffer (its name for a file's is
#: the file's stem, which here would be the temporary file's).
ARCHIVE = "archive"
#: Every record's data starts at a multiple of this (torch/serialization.py,
#: ``_get_storage_alignment``), so that ``torch.load(mmap=True)`` maps a storage in place.
ALIGNMENT = 64
#: The local file header's fixed part, then the zip64 extra field ``force_zip64`` adds
#: (APPNOTE.TXT 4.3.7 and 4.5.3), then the padding field's own header.
LOCAL_HEADER, ZIP64_EXTRA, EXTRA_HEADER = 30, 20, 4
#: The padding field's id, as torch's writer names it (inline_container.cc, ``getPadding``).
PADDING_ID = 0x4246  # b"FB" little-endian
#: A non-contiguous or non-float32 array is copied this many bytes at a time at most.
BLOCK_BYTES = 1 << 24
#: The version record torch.save writes (inline_container.h, ``kMinProducedFileFormatVersion``).
FILE_FORMAT_VERSION = b"3\n"
#: The location torch.save records for a CPU storage (torch/serialization.py, ``location_tag``);
#: one object, so the pickle memoizes it after the first tensor, as torch.save's does.
CPU = "cpu"


class _Storage:
    """A float32 storage to come: its record's key and its number of values."""

    def __init__(self, key: str, numel: int) -> None:
        self.key, self.numel = key, numel


class _Tensor:
    """A C-contiguous tensor to come, the whole of its storage."""

    def __init__(self, storage: _Storage, shape: tuple[int, ...]) -> None:
        self.storage, self.shape = storage, shape


class _StatePickler(pickle.Pickler):
    """Pickles each ``_Tensor`` as ``torch.save`` pickles a float32 CPU tensor
    (torch/_tensor.py, ``_reduce_ex_internal``; torch/serialization.py, ``persistent_id``)."""

    def __init__(self, file: io.BytesIO, torch: Any) -> None:
        super().__init__(file, protocol=2)  # torch.serialization.DEFAULT_PROTOCOL
        self.rebuild_tensor = torch._utils._rebuild_tensor_v2
        self.storage_type = torch.FloatStorage

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, _Storage):
            return ("storage", self.storage_type, obj.key, CPU, obj.numel)
        return None

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _Tensor):
            strides = tuple(math.prod(obj.shape[axis + 1 :]) for axis in range(len(obj.shape)))
            # storage, storage offset, size, stride, requires_grad, backward hooks
            return self.rebuild_tensor, (obj.storage, 0, obj.shape, strides, False, OrderedDict())
        return NotImplemented


def state_dict_pickle(rows: Sequence[tuple[str, tuple[int, ...]]], torch: Any) -> bytes:
    """``data.pkl`` of a state dict of float32 tensors of these names and shapes, in order;
    tensor ``i``'s storage is record ``data/i``."""
    state = {
        name: _Tensor(_Storage(str(index), math.prod(shape)), shape)
        for index, (name, shape) in enumerate(rows)
    }
    buffer = io.BytesIO()
    _StatePickler(buffer, torch).dump(state)
    return buffer.getvalue()


def write_torch_zip(
    rows: Sequence[tuple[str, tuple[int, ...]]], pairs: Iterable[tuple[str, Array]], path: str
) -> None:
    """Write to ``path`` what ``torch.save`` writes for a state dict of float32 tensors named and
    shaped as ``rows``; ``pairs`` gives their values in that order (its names and shapes are the
    caller's to check), each written and dropped before the next is asked for."""
    import torch

    with open(path, "wb") as handle, zipfile.ZipFile(handle, "w") as archive:

        def record(name: str, chunks: Iterable[Any]) -> None:
            with _aligned_record(archive, handle, name) as out:
                for chunk in chunks:
                    out.write(chunk)
                    del chunk  # a copied block goes before the next is made

        record("data.pkl", [state_dict_pickle(rows, torch)])
        record(".format_version", [b"1"])
        record(".storage_alignment", [str(ALIGNMENT).encode()])
        record("byteorder", [b"little"])  # whatever this machine's: the values are written "<f4"
        count = 0
        for _, array in pairs:  # not enumerate(): it would hold the previous pair while the next is made
            if count == len(rows):
                raise ValueError(f"more than the {len(rows)} tensors declared")
            record(f"data/{count}", _little_endian_float32(array))
            count += 1
            del array
        if count != len(rows):
            raise ValueError(f"{count} tensors for the {len(rows)} declared")
        record("version", [FILE_FORMAT_VERSION])


def _aligned_record(archive: zipfile.ZipFile, handle: Any, name: str) -> Any:
    """An open stored record whose data starts at a multiple of :data:`ALIGNMENT` bytes."""
    path = f"{ARCHIVE}/{name}"
    info = zipfile.ZipInfo(path)
    start = handle.tell() + LOCAL_HEADER + len(path.encode()) + ZIP64_EXTRA + EXTRA_HEADER
    padding = -start % ALIGNMENT
    info.extra = struct.pack("<HH", PADDING_ID, padding) + b"Z" * padding
    # force_zip64: the header has the same length whatever the record's size (zip64 sizes are
    # needed above 4 GiB), so the padding is known before the size is.
    out = archive.open(info, "w", force_zip64=True)
    assert handle.tell() % ALIGNMENT == 0, f"{path} starts at {handle.tell()}"
    return out


def _little_endian_float32(array: Array) -> Iterator[Any]:
    """``array``'s values in C order as little-endian float32 (the storage data.pkl declares):
    the array itself when it is one already, else copies of :data:`BLOCK_BYTES` at most."""
    import numpy as np

    if array.dtype == np.dtype("<f4") and array.flags.c_contiguous:
        yield array
        return
    rows = array.reshape(1) if array.ndim == 0 else array
    step = max(1, BLOCK_BYTES // max(1, 4 * math.prod(rows.shape[1:])))
    for start in range(0, rows.shape[0], step):
        yield np.ascontiguousarray(rows[start : start + step], dtype="<f4")
