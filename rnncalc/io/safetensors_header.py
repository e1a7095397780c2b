"""Read a ``.safetensors`` file's tensor table from its header, with the standard library only.

The format (https://github.com/huggingface/safetensors, "Format"): 8 bytes, an unsigned
little-endian header length N; N bytes of JSON mapping each tensor name to
``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to the byte after the
header), plus an optional ``"__metadata__"`` of strings; then the data. Only the header is read,
so a 10 GB file answers as fast as a small one.

A file is accepted exactly when the safetensors library (0.8, ``SafeTensors::read_metadata``
and ``Metadata::validate`` in safetensors/src/tensor.rs) accepts it, which
tests/test_safetensors_differential.py checks against the library: the header at most 100 MB
and inside the file, UTF-8 JSON of an object; ``__metadata__`` null or strings to strings, at
most once; each tensor a known dtype, a shape of unsigned 64-bit sizes, two offsets; the
tensors, sorted by offsets, lie end to end from 0 (no gap, no overlap), each as long as its
shape and dtype say (sizes computed without overflowing 64 bits; sub-byte dtypes ending on a
byte), and the last ends where the file ends.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from typing import Any

from rnncalc.io.tensors import FileContents, Tensor, WeightFileError

#: The safetensors library refuses headers above 100 MB (``MAX_HEADER_SIZE``); so does rnncalc.
MAX_HEADER_BYTES = 100_000_000
#: Bits per element of every dtype safetensors 0.8 defines (``Dtype::bitsize``); inspect lists
#: them all, convert moves the floating-point ones (:func:`rnncalc.io.tensor_data.dtype_refusal`).
DTYPE_BITS = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8,
    "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}  # fmt: skip
#: Rust's ``usize`` on the 64-bit machines the library runs on: every size and offset is one.
USIZE_END = 2**64


@dataclass(frozen=True)
class Entry:
    """One tensor of the header: dtype, shape, and its bytes ``begin:end`` after the header."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class Header:
    """A checked header: where the data starts in the file and each tensor, in header order."""

    data_start: int
    entries: dict[str, Entry]


def read_safetensors(path: str) -> FileContents:
    """The tensors a ``.safetensors`` file declares; a malformed header is a :class:`WeightFileError`."""
    header = read_header(path)
    return FileContents(
        tensors=tuple(Tensor(name, entry.shape, entry.dtype) for name, entry in header.entries.items())
    )


def read_header(path: str) -> Header:
    """The header of the file at ``path``, checked as the safetensors library checks it."""
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
        document = json.loads(raw.decode("utf-8"), object_pairs_hook=_pairs, parse_constant=_constant)
    except (UnicodeError, RecursionError, ValueError) as error:
        raise WeightFileError(path, f"not a safetensors file: header is not JSON ({error})") from None
    if not isinstance(document, dict):
        raise WeightFileError(path, "not a safetensors file: header is not a JSON object")
    _metadata(path, document.pop("__metadata__", None))
    entries = {name: _entry(path, name, value) for name, value in document.items()}
    end, last = 0, ""
    for name, entry in sorted(entries.items(), key=lambda item: (item[1].begin, item[1].end)):
        if entry.begin != end or entry.end < entry.begin:
            raise WeightFileError(
                path, f"tensor {name!r}: data_offsets [{entry.begin}, {entry.end}] do not start where "
                f"the previous tensor ends (byte {end}): tensors must lie end to end"
            )  # fmt: skip
        end, last = entry.end, name
        _check_size(path, name, entry)
    data_bytes = size - 8 - length
    if end > data_bytes:
        raise WeightFileError(path, f"truncated: tensor {last!r} ends at byte {end} of {data_bytes}")
    if end < data_bytes:
        raise WeightFileError(
            path, f"{data_bytes - end} bytes after the last tensor's data: not a safetensors file as written"
        )
    return Header(8 + length, entries)


def looks_like_safetensors(path: str, head: bytes) -> bool:
    """True when a file's first 8 bytes can be a safetensors header length (the format has no
    magic number: this is tried only after every format that has one)."""
    return len(head) == 8 and int.from_bytes(head, "little") < MAX_HEADER_BYTES


class _Duplicate(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object as the library's parser reads it: a repeated tensor name keeps its last entry
    (as Python's does), a repeated ``__metadata__`` is an error."""
    if sum(key == "__metadata__" for key, _ in pairs) > 1:
        raise _Duplicate("duplicate field __metadata__")
    if not all(_text(key) for key, _ in pairs):
        raise ValueError("a name is not UTF-8 text")
    return dict(pairs)


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python accepts NaN and Infinity; JSON does not


def _metadata(path: str, metadata: Any) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict) or not all(isinstance(v, str) and _text(v) for v in metadata.values()):
        raise WeightFileError(path, "__metadata__ is not a mapping of strings to strings")


def _entry(path: str, name: str, entry: Any) -> Entry:
    if not isinstance(entry, dict):
        raise WeightFileError(path, f"tensor {name!r}: entry is not an object")
    for key in ("dtype", "shape", "data_offsets"):
        if key not in entry:
            raise WeightFileError(path, f"tensor {name!r}: no {key}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPE_BITS:
        raise WeightFileError(path, f"tensor {name!r}: unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_usize(d) for d in shape):
        raise WeightFileError(path, f"tensor {name!r}: shape {shape!r} is not a list of sizes")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_usize(o) for o in offsets)):
        raise WeightFileError(path, f"tensor {name!r}: data_offsets {offsets!r} is not [begin, end]")
    return Entry(dtype, tuple(shape), offsets[0], offsets[1])


def _check_size(path: str, name: str, entry: Entry) -> None:
    """The tensor's byte count from its shape and dtype, computed as the library computes it
    (each product checked against 64 bits, in order) and equal to its offsets' span."""
    count = 1
    for dimension in (*entry.shape, DTYPE_BITS[entry.dtype]):
        count *= dimension
        if count >= USIZE_END:
            raise WeightFileError(path, f"tensor {name!r}: shape {list(entry.shape)} overflows 64 bits")
    if count % 8:
        raise WeightFileError(
            path, f"tensor {name!r}: {list(entry.shape)} {entry.dtype} values do not end on a byte"
        )
    if entry.end - entry.begin != count // 8:
        raise WeightFileError(
            path, f"tensor {name!r}: data_offsets [{entry.begin}, {entry.end}] do not fit shape "
            f"{list(entry.shape)} ({count // 8} bytes of {entry.dtype})"
        )  # fmt: skip


def _text(value: str) -> bool:
    """A JSON string the library reads: UTF-8 text (a lone surrogate such as ``\\ud800`` is not)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _usize(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < USIZE_END
