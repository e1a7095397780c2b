"""Read a ``.safetensors`` file's tensor table from its header, with the standard library only.

The format (https://github.com/huggingface/safetensors, "Format"): 8 bytes, an unsigned
little-endian header length N; N bytes of JSON mapping each tensor name to
``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to the byte after the
header), plus an optional ``"__metadata__"`` of strings; then the data. Only the header is read,
so a 10 GB file answers as fast as a small one.
"""

from __future__ import annotations

import json
import math
import os
import struct
from typing import Any

from rnncalc.io.tensors import FileContents, Tensor, WeightFileError

#: The safetensors library refuses headers above 100 MB (``MAX_HEADER_SIZE``); so does rnncalc.
MAX_HEADER_BYTES = 100_000_000
#: Bytes per element of each dtype the format defines, to check each tensor's byte range.
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}  # fmt: skip


def read_safetensors(path: str) -> FileContents:
    """The tensors a ``.safetensors`` file declares; a malformed header is a :class:`WeightFileError`."""
    try:
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise WeightFileError(path, "not a safetensors file: shorter than its 8-byte header length")
            (length,) = struct.unpack("<Q", prefix)
            if length > MAX_HEADER_BYTES:
                raise WeightFileError(
                    path, f"not a safetensors file: header length {length} exceeds {MAX_HEADER_BYTES}"
                )
            raw = handle.read(length)
            size = os.fstat(handle.fileno()).st_size
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    if len(raw) < length:
        raise WeightFileError(path, f"truncated: header says {length} bytes, the file has {len(raw)}")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightFileError(path, f"not a safetensors file: header is not JSON ({error})") from None
    if not isinstance(header, dict):
        raise WeightFileError(path, "not a safetensors file: header is not a JSON object")
    data_bytes = size - 8 - length
    tensors = [
        _tensor(path, name, entry, data_bytes) for name, entry in header.items() if name != "__metadata__"
    ]
    return FileContents(format="safetensors", convention="torch", tensors=tuple(tensors))


def _tensor(path: str, name: str, entry: Any, data_bytes: int) -> Tensor:
    if not isinstance(entry, dict):
        raise WeightFileError(path, f"tensor {name!r}: entry is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPE_BYTES:
        raise WeightFileError(path, f"tensor {name!r}: unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_natural(d) for d in shape):
        raise WeightFileError(path, f"tensor {name!r}: shape {shape!r} is not a list of sizes")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_natural(o) for o in offsets)):
        raise WeightFileError(path, f"tensor {name!r}: data_offsets {offsets!r} is not [begin, end]")
    begin, end = offsets
    if end - begin != math.prod(shape) * DTYPE_BYTES[dtype]:
        raise WeightFileError(path, f"tensor {name!r}: data_offsets {offsets} do not fit shape {shape}")
    if end > data_bytes:
        raise WeightFileError(path, f"truncated: tensor {name!r} ends at byte {end} of {data_bytes}")
    return Tensor(name, tuple(shape), dtype)


def _natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
