"""Where each array's bytes sit in a Flax msgpack state, so that one can be written and read a
tensor at a time instead of as one bytes object.

``flax.serialization.msgpack_serialize`` (flax/serialization.py) packs a tree of dicts with
``msgpack.packb(tree, default=_msgpack_ext_pack, strict_types=True)`` after
``jax.tree_util.tree_map`` has copied it, which sorts each dict's keys. An ndarray leaf becomes
msgpack ext type 1 whose payload is itself ``msgpack.packb((shape, dtype.name, arr.tobytes('C')),
use_bin_type=True)``: a 3-array of the shape's array, the dtype's name as a str and the raw
bytes as a bin. Arrays of more than ``MAX_CHUNK_SIZE`` bytes are replaced first by
``{'__msgpack_chunked_array__': True, 'shape': {'0': d0, ...}, 'chunks': {'0': flat[:n], ...}}``.

:func:`layout` lays out such a file for known names and shapes (every byte but the arrays'
is known before the first array is), :func:`scan` finds the arrays in one that flax wrote.
The ext, bin and other headers follow the msgpack spec
(https://github.com/msgpack/msgpack/blob/master/spec.md), with the smallest form as msgpack's
packer picks it.
"""

from __future__ import annotations

import itertools
import math
import struct
from dataclasses import dataclass, field
from typing import Any

#: flax/serialization.py ``MAX_CHUNK_SIZE``: arrays of more bytes are split into chunks.
MAX_CHUNK_SIZE = 2**30
#: flax/serialization.py ``_MsgpackExtType.ndarray``.
NDARRAY_EXT = 1
#: The dtype of every Flax NNX parameter rnncalc writes (``nnx.Linear``'s default).
DTYPE = "float32"
ITEMSIZE = 4
#: ``msgpack.ExtType`` payload lengths with a header of their own (fixext 1 to 16).
FIXEXT = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
#: Dtype names :func:`scan` finds, with their item sizes (flax writes ``arr.dtype.name`` and
#: the native-endian bytes; ``bfloat16`` is jax's, through ml_dtypes).
SCANNED_DTYPES = {
    "float16": 2, "float32": 4, "float64": 8, "bfloat16": 2, "bool": 1,
    "int8": 1, "int16": 2, "int32": 4, "int64": 8, "uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8,
}  # fmt: skip
#: Markers of the msgpack types :func:`scan` reads: lengths held in the marker, and markers
#: followed by a length of so many bytes.
FIXMAP, FIXARRAY, FIXSTR = range(0x80, 0x90), range(0x90, 0xA0), range(0xA0, 0xC0)
MAP, ARRAY, STR, BIN = (
    {0xDE: 2, 0xDF: 4},
    {0xDC: 2, 0xDD: 4},
    {0xD9: 1, 0xDA: 2, 0xDB: 4},
    {0xC4: 1, 0xC5: 2, 0xC6: 4},
)


def ext_header(length: int, code: int) -> bytes:
    """The msgpack header of an ext of ``length`` payload bytes and type ``code``."""
    if length in FIXEXT:
        return struct.pack(">Bb", FIXEXT[length], code)
    for marker, size in ((0xC7, "B"), (0xC8, "H"), (0xC9, "I")):
        if length < 1 << (8 * struct.calcsize(size)):
            return struct.pack(f">B{size}b", marker, length, code)
    raise ValueError(f"an ext of {length} bytes does not fit msgpack")


def bin_header(length: int) -> bytes:
    """The msgpack header of a bin of ``length`` bytes."""
    for marker, size in ((0xC4, "B"), (0xC5, "H"), (0xC6, "I")):
        if length < 1 << (8 * struct.calcsize(size)):
            return struct.pack(f">B{size}", marker, length)
    raise ValueError(f"a bin of {length} bytes does not fit msgpack")


@dataclass
class Layout:
    """A file's bytes other than the arrays' (``(offset, bytes)`` pieces), where each array's
    values go (``name → [(offset, first element, end element)]``, one entry per chunk of its
    flattened values) and the file's size."""

    pieces: list[tuple[int, bytes]] = field(default_factory=list)
    arrays: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    size: int = 0

    def add(self, data: bytes) -> None:
        """Append structure bytes (merged with the piece before when they touch)."""
        if self.pieces and self.pieces[-1][0] + len(self.pieces[-1][1]) == self.size:
            offset, before = self.pieces[-1]
            self.pieces[-1] = (offset, before + data)
        else:
            self.pieces.append((self.size, data))
        self.size += len(data)

    def add_array(self, name: str, shape: tuple[int, ...], first: int, packer: Any) -> None:
        """Append an ndarray ext holding elements ``first`` to ``first + prod(shape)`` of
        ``name``'s flattened values."""
        count = math.prod(shape)
        inner = (
            packer.pack_array_header(3)
            + packer.pack(shape)
            + packer.pack(DTYPE)
            + bin_header(count * ITEMSIZE)
        )
        self.add(ext_header(len(inner) + count * ITEMSIZE, NDARRAY_EXT) + inner)
        self.arrays.setdefault(name, []).append((self.size, first, first + count))
        self.size += count * ITEMSIZE


def layout(rows: list[tuple[str, tuple[int, ...]]]) -> Layout:
    """The file ``msgpack_serialize`` writes for float32 arrays named by dotted paths (a path's
    decimal parts are the integer keys of an ``nnx.List``, as ``nnx.to_pure_dict`` gives them)."""
    import msgpack

    tree: dict[Any, Any] = {}
    for name, shape in rows:
        *parents, last = (int(part) if part.isdecimal() else part for part in name.split("."))
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = (name, shape)
    packer = msgpack.Packer(use_bin_type=True)
    result = Layout()

    def emit(node: dict[Any, Any]) -> None:
        result.add(packer.pack_map_header(len(node)))
        for key in sorted(node):  # jax's tree_map, which flax copies the tree with, sorts keys
            result.add(packer.pack(key))
            value = node[key]
            if isinstance(value, dict):
                emit(value)
                continue
            name, shape = value
            count = math.prod(shape)
            if count * ITEMSIZE <= MAX_CHUNK_SIZE:
                result.add_array(name, shape, 0, packer)
                continue
            # flax/serialization.py _chunk: the flattened values in chunks of this many.
            per_chunk = max(1, int(MAX_CHUNK_SIZE / ITEMSIZE))
            result.add(
                packer.pack_map_header(3)
                + packer.pack("__msgpack_chunked_array__")
                + packer.pack(True)
                + packer.pack("shape")
                + packer.pack({str(axis): size for axis, size in enumerate(shape)})
                + packer.pack("chunks")
                + packer.pack_map_header(-(-count // per_chunk))
            )
            for index, first in enumerate(range(0, count, per_chunk)):
                result.add(packer.pack(str(index)))
                result.add_array(name, (min(per_chunk, count - first),), first, packer)

    emit(tree)
    return result


#: Map entries walked before :func:`scan` leaves the file to ``msgpack_restore``: a state has a
#: few per tensor, a hostile file of tiny entries would keep a Python loop busy.
MAX_ENTRIES = 1 << 20


class NotScanned(Exception):
    """Something :func:`scan` does not read (a chunked array, a scalar, another dtype...)."""


def scan(buffer: Any) -> dict[str, tuple[int, str, tuple[int, ...]]]:
    """``dotted name → (offset, dtype name, shape)`` of every array in a msgpack state whose
    nested maps (str or integer keys, none twice, none with a dot) hold only ndarray exts of
    :data:`SCANNED_DTYPES`; raises :class:`NotScanned` for anything else, for a file that is not
    one whole msgpack object, or after :data:`MAX_ENTRIES` entries. Every declared length is
    checked against the bytes left before anything is read or allocated."""
    view = memoryview(buffer)
    position = 0
    walked = itertools.count()
    found: dict[str, tuple[int, str, tuple[int, ...]]] = {}

    def take(size: int) -> memoryview:
        nonlocal position
        if position + size > len(view):
            raise NotScanned("truncated")
        chunk = view[position : position + size]
        position += size
        return chunk

    def number(size: int) -> int:
        return int.from_bytes(take(size), "big")

    def length(marker: int, fixed: range, sized: dict[int, int]) -> int:
        """A str, bin, array or map's length: in its marker byte (``fixed``), or in the 1 to 4
        bytes after it (``sized``: marker → byte count)."""
        if marker in fixed:
            return marker - fixed.start
        if marker in sized:
            return number(sized[marker])
        raise NotScanned(f"byte {marker:#x}")

    def integer() -> int:
        marker = take(1)[0]
        if marker < 0x80:
            return marker
        if 0xCC <= marker <= 0xCF:
            return number(1 << (marker - 0xCC))
        raise NotScanned(f"byte {marker:#x}")

    def text(marker: int) -> str:
        try:
            return bytes(take(length(marker, FIXSTR, STR))).decode("utf-8")
        except UnicodeDecodeError:
            raise NotScanned("a str that is not UTF-8") from None

    def key() -> str:
        marker = view[position] if position < len(view) else -1
        if marker in FIXSTR or marker in STR:
            return text(take(1)[0])
        return str(integer())

    def array(name: str) -> None:
        marker = take(1)[0]
        if marker in FIXEXT.values():
            size = 1 << (marker - 0xD4)
        elif marker in (0xC7, 0xC8, 0xC9):
            size = number(1 << (marker - 0xC7))
        else:
            raise NotScanned(f"byte {marker:#x}")
        if struct.unpack(">b", take(1))[0] != NDARRAY_EXT:
            raise NotScanned("an ext other than an ndarray")
        end = position + size
        if take(1)[0] != 0x93:
            raise NotScanned("an ndarray payload that is not a 3-array")
        shape = tuple(integer() for _ in range(length(take(1)[0], FIXARRAY, ARRAY)))
        dtype = text(take(1)[0])
        nbytes = length(take(1)[0], range(0), BIN)
        if dtype not in SCANNED_DTYPES or nbytes != math.prod(shape) * SCANNED_DTYPES[dtype]:
            raise NotScanned(f"{dtype} values of shape {shape} in {nbytes} bytes")
        found[name] = (position, dtype, shape)
        take(nbytes)
        if position != end:
            raise NotScanned("an ndarray ext of the wrong length")

    def mapping(prefix: str) -> None:
        keys: set[str] = set()
        for _ in range(length(take(1)[0], FIXMAP, MAP)):
            if next(walked) >= MAX_ENTRIES:
                raise NotScanned(f"more than {MAX_ENTRIES:,} entries")
            part = key()
            if part in keys or "." in part:  # msgpack keeps the last; a dot makes names collide
                raise NotScanned(f"the key {part!r} twice or with a dot")
            keys.add(part)
            name = f"{prefix}{part}"
            marker = view[position] if position < len(view) else -1
            if marker in FIXMAP or marker in MAP:
                mapping(f"{name}.")
            else:
                array(name)

    mapping("")
    if position != len(view):
        raise NotScanned("bytes after the state")
    return found
