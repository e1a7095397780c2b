"""Dataset names, shapes and dtypes of an HDF5 file, read from its metadata with the standard library.

Importing h5py imports numpy, which costs more than everything else ``rnncalc inspect`` does for a
``.keras`` file. Keras writes its weights through h5py's default ("earliest") format, whose
metadata is a small, fixed subset of HDF5, read here: superblock version 0 or 1, version-1 object
headers (with continuation blocks), groups as symbol tables (a version-1 B-tree over symbol
nodes, names in a local heap), dataspace and datatype messages. Anything outside that subset
raises :class:`Unsupported`, and the caller reads the file with h5py instead.

Layouts follow the HDF5 File Format Specification, version 3.0 (docs.hdfgroup.org,
"HDF5 File Format Specification"): sections II.A (superblock), III.A.1 (v1 B-trees),
III.B (symbol nodes), III.C (symbol table entries), III.D (local heaps), IV.A.1.a (version-1
object headers), IV.A.2 (messages: 0x0001 dataspace, 0x0003 datatype, 0x0010 continuation,
0x0011 symbol table).
"""

from __future__ import annotations

import struct
from typing import IO

from rnncalc.io.tensors import Tensor

SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Message types read; the others (fill value, layout, attributes, times...) are skipped.
DATASPACE, DATATYPE, CONTINUATION, SYMBOL_TABLE = 0x0001, 0x0003, 0x0010, 0x0011
#: Messages that make a group "new style" (link storage), outside the subset.
LINK_MESSAGES = frozenset({0x0002, 0x0006})
#: Datatype classes (section IV.A.2.d) → dtype name stem.
FIXED_POINT, FLOATING_POINT = 0, 1
#: Bounds that stop a corrupt file from sending the reader round in circles.
MAX_OBJECTS = 100_000
MAX_DEPTH = 64


class Unsupported(Exception):
    """The file is outside the subset read here (or not HDF5): read it with h5py."""


class _Reader:
    def __init__(self, handle: IO[bytes], origin: int) -> None:
        self._handle = handle
        self._origin = origin
        self.offsets = 8
        self.lengths = 8
        self.base = 0
        self.objects = 0

    def read(self, address: int, size: int) -> bytes:
        self._handle.seek(self._origin + address)
        data = self._handle.read(size)
        if len(data) != size:
            raise Unsupported(f"truncated at byte {address}")
        return data

    def number(self, data: bytes, at: int, size: int) -> int:
        return int.from_bytes(data[at : at + size], "little")


def read_datasets(handle: IO[bytes], group: str, origin: int = 0) -> tuple[Tensor, ...]:
    """Every dataset under ``group`` (``/``-separated), named ``group/...``, sorted by name.

    ``origin`` is where the HDF5 file starts in ``handle`` (a member of a stored zip archive).
    Raises :class:`Unsupported` for anything outside the subset described above.
    """
    reader = _Reader(handle, origin)
    root = _superblock(reader)
    address = root
    for part in group.split("/"):
        children = dict(_group_children(reader, address))
        if part not in children:
            return ()
        address = children[part]
    found: list[Tensor] = []
    _walk(reader, address, group, found, 0)
    return tuple(sorted(found, key=lambda tensor: tensor.name))


def _superblock(reader: _Reader) -> int:
    """Sizes of offsets and lengths, the base address; returns the root group's object header."""
    head = reader.read(0, 24)
    if head[:8] != SIGNATURE:
        raise Unsupported("no HDF5 signature at the start")
    version = head[8]
    if version not in (0, 1):
        raise Unsupported(f"superblock version {version}")
    reader.offsets, reader.lengths = head[13], head[14]
    if reader.offsets not in (2, 4, 8) or reader.lengths not in (2, 4, 8):
        raise Unsupported("unusual offset or length size")
    start = 24 if version == 0 else 28
    size = 4 * reader.offsets + 2 * reader.offsets + 24
    body = reader.read(start, size)
    reader.base = reader.number(body, 0, reader.offsets)
    entry = 4 * reader.offsets
    return reader.base + reader.number(body, entry + reader.offsets, reader.offsets)


def _messages(reader: _Reader, address: int) -> list[tuple[int, bytes]]:
    """The (type, data) messages of a version-1 object header, continuation blocks included."""
    reader.objects += 1
    if reader.objects > MAX_OBJECTS:
        raise Unsupported("too many objects")
    prefix = reader.read(address, 16)
    if prefix[0] != 1:
        raise Unsupported(f"object header version {prefix[0]}")
    count = reader.number(prefix, 2, 2)
    blocks = [(address + 16, reader.number(prefix, 8, 4))]
    messages: list[tuple[int, bytes]] = []
    while blocks and len(messages) < count:
        start, length = blocks.pop(0)
        data = reader.read(start, length)
        at = 0
        while at + 8 <= length and len(messages) < count:
            kind, size, flags = reader.number(data, at, 2), reader.number(data, at + 2, 2), data[at + 4]
            body = data[at + 8 : at + 8 + size]
            if flags & 0x02 and kind in (DATASPACE, DATATYPE):
                raise Unsupported("shared datatype or dataspace")
            if kind == CONTINUATION:
                blocks.append(
                    (
                        reader.base + reader.number(body, 0, reader.offsets),
                        reader.number(body, reader.offsets, reader.lengths),
                    )
                )
            messages.append((kind, body))
            at += 8 + size
    return messages


def _group_children(reader: _Reader, address: int) -> list[tuple[str, int]]:
    """(name, object header address) of a symbol-table group's members; empty for a dataset."""
    for kind, body in _messages(reader, address):
        if kind in LINK_MESSAGES:
            raise Unsupported("a group with link messages (new-style group)")
        if kind == SYMBOL_TABLE:
            tree = reader.base + reader.number(body, 0, reader.offsets)
            heap = reader.base + reader.number(body, reader.offsets, reader.offsets)
            names = _local_heap(reader, heap)
            children: list[tuple[str, int]] = []
            _btree(reader, tree, names, children, 0)
            return children
    return []


def _local_heap(reader: _Reader, address: int) -> bytes:
    head = reader.read(address, 8 + 2 * reader.lengths + reader.offsets)
    if head[:4] != b"HEAP":
        raise Unsupported("bad local heap")
    size = reader.number(head, 8, reader.lengths)
    data = reader.base + reader.number(head, 8 + 2 * reader.lengths, reader.offsets)
    return reader.read(data, size)


def _btree(reader: _Reader, address: int, names: bytes, out: list[tuple[str, int]], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Unsupported("B-tree too deep")
    head = reader.read(address, 8 + 2 * reader.offsets)
    if head[:4] != b"TREE" or head[4] != 0:
        raise Unsupported("bad group B-tree node")
    level, entries = head[5], reader.number(head, 6, 2)
    step = reader.lengths + reader.offsets
    body = reader.read(address + 8 + 2 * reader.offsets, reader.lengths + entries * step)
    for index in range(entries):
        child = reader.base + reader.number(body, reader.lengths + index * step, reader.offsets)
        if level:
            _btree(reader, child, names, out, depth + 1)
        else:
            _symbol_node(reader, child, names, out)


def _symbol_node(reader: _Reader, address: int, names: bytes, out: list[tuple[str, int]]) -> None:
    head = reader.read(address, 8)
    if head[:4] != b"SNOD":
        raise Unsupported("bad symbol table node")
    count = reader.number(head, 6, 2)
    size = 2 * reader.offsets + 24
    body = reader.read(address + 8, count * size)
    for index in range(count):
        entry = body[index * size : (index + 1) * size]
        name_at = reader.number(entry, 0, reader.offsets)
        cache = reader.number(entry, 2 * reader.offsets, 4)
        if cache == 2:
            raise Unsupported("a soft link")
        end = names.find(b"\0", name_at)
        if end < 0:
            raise Unsupported("unterminated name in the local heap")
        name = names[name_at:end].decode("utf-8", "replace")
        out.append((name, reader.base + reader.number(entry, reader.offsets, reader.offsets)))


def _walk(reader: _Reader, address: int, path: str, out: list[Tensor], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Unsupported("groups nested too deeply")
    messages = _messages(reader, address)
    kinds = {kind for kind, _ in messages}
    if kinds & LINK_MESSAGES:
        raise Unsupported("a group with link messages (new-style group)")
    if SYMBOL_TABLE in kinds:
        for name, child in _group_children(reader, address):
            _walk(reader, child, f"{path}/{name}", out, depth + 1)
        return
    found = dict(messages)
    if DATASPACE in found and DATATYPE in found:
        out.append(Tensor(path, _dataspace(reader, found[DATASPACE]), _datatype(found[DATATYPE])))


def _dataspace(reader: _Reader, body: bytes) -> tuple[int, ...]:
    version, rank = body[0], body[1]
    if version == 1:
        start = 8
    elif version == 2:
        start = 4
    else:
        raise Unsupported(f"dataspace version {version}")
    return tuple(reader.number(body, start + i * reader.lengths, reader.lengths) for i in range(rank))


def _datatype(body: bytes) -> str:
    kind = body[0] & 0x0F
    size = struct.unpack_from("<I", body, 4)[0]
    if kind == FLOATING_POINT:
        return f"float{8 * size}"
    if kind == FIXED_POINT:
        return f"{'int' if body[1] & 0x08 else 'uint'}{8 * size}"
    return f"hdf5 class {kind}, {size} bytes"
