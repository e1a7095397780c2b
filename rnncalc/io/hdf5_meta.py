"""Dataset names, shapes and dtypes of an HDF5 file, read from its metadata with the standard library.

Importing h5py imports numpy, which costs more than everything else ``rnncalc inspect`` does for a
``.keras`` file. Keras writes its weights through h5py's default ("earliest") format, whose
metadata is a small, fixed subset of HDF5, read here: superblock version 0 or 1, version-1 object
headers (with continuation blocks), groups as symbol tables (a version-1 B-tree over symbol
nodes, names in a local heap), dataspace and datatype messages. Anything outside that subset
raises :class:`Unsupported`, and the caller reads the file with h5py instead.

A dataset whose bytes are not inside the file (external storage, a virtual dataset), a soft link,
or a filter other than :data:`READ_FILTERS` raises :class:`Refused` naming it: reading it would
read another file, or run a decoder rnncalc does not expect. Every read is bounded by the file's
real length (and :data:`MAX_READ`), never by a size a header claims.

Layouts follow the HDF5 File Format Specification, version 3.0 (docs.hdfgroup.org,
"HDF5 File Format Specification"): sections II.A (superblock), III.A.1 (v1 B-trees),
III.B (symbol nodes), III.C (symbol table entries), III.D (local heaps), IV.A.1.a (version-1
object headers), IV.A.2 (messages: 0x0001 dataspace, 0x0003 datatype, 0x0010 continuation,
0x0011 symbol table; 0x0007 external data files, 0x0008 data layout, 0x000B filter pipeline).
"""

from __future__ import annotations

import struct
from typing import IO

from rnncalc.io.tensors import Tensor

SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Message types read; the others (fill value, layout, attributes, times...) are skipped.
DATASPACE, DATATYPE, CONTINUATION, SYMBOL_TABLE = 0x0001, 0x0003, 0x0010, 0x0011
#: Messages that say where a dataset's bytes are, and how they are encoded.
EXTERNAL, LAYOUT, FILTERS = 0x0007, 0x0008, 0x000B
#: The data layout message's class of a virtual dataset (section IV.A.2.i, layout version 4).
VIRTUAL_LAYOUT = 3
#: Filters read (H5Zpublic.h): built into every HDF5 library, each chunk's output bounded by
#: the chunk's size. Any other id (szip, nbit, scale-offset, or a plugin HDF5 would load from
#: HDF5_PLUGIN_PATH) is refused.
READ_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32"}
#: Built-in filters refused, named in the message.
OTHER_FILTERS = {4: "szip", 5: "nbit", 6: "scaleoffset"}
#: Messages that make a group "new style" (link storage), outside the subset.
LINK_MESSAGES = frozenset({0x0002, 0x0006})
#: Datatype classes (section IV.A.2.d) → dtype name stem.
FIXED_POINT, FLOATING_POINT = 0, 1
#: Bounds that stop a corrupt file from sending the reader round in circles.
MAX_OBJECTS = 100_000
MAX_DEPTH = 64
#: Largest piece of metadata read at once (a header block, a heap, a B-tree node): real ones
#: are kilobytes; a header claiming more is declined before anything is allocated.
MAX_READ = 64 * 2**20


class Unsupported(Exception):
    """The file is outside the subset read here (or not HDF5): read it with h5py."""


class Refused(Exception):
    """A dataset or link whose bytes are not in the file itself, or are encoded by a filter not
    read: ``path`` (inside the HDF5 file) and ``reason``. Raised by both readers, never read."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def filter_refusal(path: str, code: int) -> Refused | None:
    """The refusal of a dataset encoded with filter ``code`` (None for a filter read)."""
    if code in READ_FILTERS:
        return None
    name = OTHER_FILTERS.get(code, "a filter outside the HDF5 library")
    return Refused(path, f"stored through HDF5 filter {code} ({name}); rnncalc reads data stored "
                         f"plain or through {', '.join(READ_FILTERS.values())}")  # fmt: skip


def external_refusal(path: str) -> Refused:
    return Refused(path, "its bytes are in another file (HDF5 external storage); "
                         "rnncalc reads only data stored in the file itself")  # fmt: skip


def virtual_refusal(path: str) -> Refused:
    return Refused(path, "a virtual dataset (its bytes are in other datasets, perhaps other files); "
                         "rnncalc reads only data stored in the file itself")  # fmt: skip


def link_refusal(path: str, kind: str, target: str) -> Refused:
    return Refused(path, f"{kind} link to {target}; rnncalc follows no links (Keras writes none)")


class _Reader:
    def __init__(self, handle: IO[bytes], origin: int, length: int) -> None:
        self._handle = handle
        self._origin = origin
        self.length = length
        self.offsets = 8
        self.lengths = 8
        self.base = 0
        self.objects = 0
        #: Half the most children a group B-tree node, and entries a symbol node, may hold.
        self.internal_k = self.leaf_k = 0

    def read(self, address: int, size: int) -> bytes:
        if size > MAX_READ:
            raise Unsupported(f"{size:,} bytes of metadata at byte {address}, over {MAX_READ:,}")
        if address + size > self.length:
            raise Unsupported(f"truncated at byte {address}")
        self._handle.seek(self._origin + address)
        data = self._handle.read(size)
        if len(data) != size:
            raise Unsupported(f"truncated at byte {address}")
        return data

    def number(self, data: bytes, at: int, size: int) -> int:
        return int.from_bytes(data[at : at + size], "little")


def read_datasets(
    handle: IO[bytes], group: str, origin: int = 0, length: int | None = None
) -> tuple[Tensor, ...]:
    """Every dataset under ``group`` (``/``-separated), named ``group/...``, sorted by name.

    ``origin`` is where the HDF5 file starts in ``handle`` and ``length`` its size (a member of a
    stored zip archive; default: to the end of ``handle``). Raises :class:`Unsupported` for
    anything outside the subset described above, :class:`Refused` for what is never read.
    """
    if length is None:
        length = handle.seek(0, 2) - origin
    try:
        return _read_datasets(_Reader(handle, origin, length), group)
    except (IndexError, struct.error, ValueError) as error:  # a message shorter than it says
        raise Unsupported(f"malformed metadata: {error}") from None


def _read_datasets(reader: _Reader, group: str) -> tuple[Tensor, ...]:
    root = _superblock(reader)
    address = root
    path = ""
    for part in group.split("/"):
        path = f"{path}/{part}" if path else part
        children = dict(_group_children(reader, address))
        if part not in children:
            return ()
        address = _hard(children[part], path)
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
    reader.leaf_k, reader.internal_k = reader.number(head, 16, 2), reader.number(head, 18, 2)
    # Versions of the free-space, root entry and shared-header formats, reserved bytes and the
    # consistency flags: zero in every file h5py writes, and checked by HDF5 when it opens one.
    if any(head[9:13]) or head[15] or any(head[20:24]) or not reader.leaf_k or not reader.internal_k:
        raise Unsupported("superblock fields h5py does not write")
    if reader.offsets not in (2, 4, 8) or reader.lengths not in (2, 4, 8):
        raise Unsupported("unusual offset or length size")
    start = 24 if version == 0 else 28
    size = 4 * reader.offsets + 2 * reader.offsets + 24
    body = reader.read(start, size)
    reader.base = reader.number(body, 0, reader.offsets)
    undefined = (1 << 8 * reader.offsets) - 1
    if {reader.number(body, at * reader.offsets, reader.offsets) for at in (1, 3)} != {undefined}:
        raise Unsupported("a free-space or driver information block")  # h5py writes neither
    end = reader.base + reader.number(body, 2 * reader.offsets, reader.offsets)
    if end > reader.length:  # HDF5 refuses it too ("truncated file")
        raise Unsupported(f"truncated: the superblock says {end:,} bytes, the file has {reader.length:,}")
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


def _group_children(reader: _Reader, address: int) -> list[tuple[str, int | str]]:
    """(name, object header address) of a symbol-table group's members, a soft link's target
    (a string) in place of the address; empty for a dataset."""
    for kind, body in _messages(reader, address):
        if kind in LINK_MESSAGES:
            raise Unsupported("a group with link messages (new-style group)")
        if kind == SYMBOL_TABLE:
            tree = reader.base + reader.number(body, 0, reader.offsets)
            heap = reader.base + reader.number(body, reader.offsets, reader.offsets)
            names = _local_heap(reader, heap)
            children: list[tuple[str, int | str]] = []
            _btree(reader, tree, names, children, 0)
            return children
    return []


def _hard(child: int | str, path: str) -> int:
    """A member's object header address; a soft link is refused."""
    if isinstance(child, str):
        raise link_refusal(path, "a soft", child)
    return child


def _local_heap(reader: _Reader, address: int) -> bytes:
    head = reader.read(address, 8 + 2 * reader.lengths + reader.offsets)
    if head[:4] != b"HEAP":
        raise Unsupported("bad local heap")
    size = reader.number(head, 8, reader.lengths)
    data = reader.base + reader.number(head, 8 + 2 * reader.lengths, reader.offsets)
    return reader.read(data, size)


def _btree(
    reader: _Reader,
    address: int,
    names: bytes,
    out: list[tuple[str, int | str]],
    depth: int,
    bounds: tuple[bytes, bytes | None] = (b"", None),
) -> None:
    """The members under a group B-tree node. Its keys are names in the heap; a child holds the
    names after its left key up to its right key, the order HDF5's lookup by name relies on
    (a node out of order is declined: h5py would not find its members by name)."""
    if depth > MAX_DEPTH:
        raise Unsupported("B-tree too deep")
    head = reader.read(address, 8 + 2 * reader.offsets)
    if head[:4] != b"TREE" or head[4] != 0:
        raise Unsupported("bad group B-tree node")
    level, entries = head[5], reader.number(head, 6, 2)
    if entries > 2 * reader.internal_k:
        raise Unsupported("a B-tree node with more children than the superblock allows")
    step = reader.lengths + reader.offsets
    body = reader.read(address + 8 + 2 * reader.offsets, reader.lengths + entries * step)
    keys = [
        _heap_bytes(names, reader.number(body, index * step, reader.lengths)) for index in range(entries + 1)
    ]
    low, high = bounds
    if keys[0] < low or (high is not None and keys[-1] > high) or keys != sorted(keys):
        raise Unsupported("group B-tree keys out of order")
    for index in range(entries):
        child = reader.base + reader.number(body, reader.lengths + index * step, reader.offsets)
        within = (keys[index], keys[index + 1])
        if level:
            _btree(reader, child, names, out, depth + 1, within)
        else:
            _symbol_node(reader, child, names, out, within)


def _symbol_node(
    reader: _Reader, address: int, names: bytes, out: list[tuple[str, int | str]], bounds: tuple[bytes, bytes]
) -> None:
    head = reader.read(address, 8)
    if head[:4] != b"SNOD":
        raise Unsupported("bad symbol table node")
    count = reader.number(head, 6, 2)
    if count > 2 * reader.leaf_k:
        raise Unsupported("a symbol table node with more entries than the superblock allows")
    size = 2 * reader.offsets + 24
    body = reader.read(address + 8, count * size)
    previous = bounds[0]
    for index in range(count):
        entry = body[index * size : (index + 1) * size]
        raw = _heap_bytes(names, reader.number(entry, 0, reader.offsets))
        if not previous < raw <= bounds[1]:
            raise Unsupported("symbol table names out of order")
        previous = raw
        name = _text(raw)
        cache = reader.number(entry, 2 * reader.offsets, 4)
        if cache == 2:  # a soft link: its value's offset in the heap is the scratch pad's start
            target = _heap_bytes(names, reader.number(entry, 2 * reader.offsets + 8, 4))
            out.append((name, _text(target)))
        else:
            out.append((name, reader.base + reader.number(entry, reader.offsets, reader.offsets)))


def _text(raw: bytes) -> str:
    """A name as h5py decodes it (UTF-8; anything else is an error there too)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Unsupported("a name that is not UTF-8") from None


def _heap_bytes(names: bytes, at: int) -> bytes:
    """The null-terminated string at ``at`` in a local heap."""
    end = names.find(b"\0", at)
    if at >= len(names) or end < 0:
        raise Unsupported("unterminated name in the local heap")
    return names[at:end]


def _walk(reader: _Reader, address: int, path: str, out: list[Tensor], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Unsupported("groups nested too deeply")
    messages = _messages(reader, address)
    kinds = {kind for kind, _ in messages}
    if kinds & LINK_MESSAGES:
        raise Unsupported("a group with link messages (new-style group)")
    if SYMBOL_TABLE in kinds:
        for name, child in _group_children(reader, address):
            _walk(reader, _hard(child, f"{path}/{name}"), f"{path}/{name}", out, depth + 1)
        return
    found = dict(messages)
    if any(sum(kind == wanted for kind, _ in messages) > 1 for wanted in (DATASPACE, DATATYPE, LAYOUT)):
        raise Unsupported(f"{path}: a message twice")
    if DATASPACE in found and DATATYPE in found:
        _check_storage(path, found)
        out.append(Tensor(path, _dataspace(reader, found[DATASPACE]), _datatype(found[DATATYPE])))


def _check_storage(path: str, messages: dict[int, bytes]) -> None:
    """Refuse a dataset whose bytes are elsewhere or encoded by a filter not read."""
    if EXTERNAL in messages:
        raise external_refusal(path)
    layout = messages.get(LAYOUT, b"")
    if len(layout) < 3:
        raise Unsupported(f"{path}: no data layout message")
    version = layout[0]
    if version not in (1, 2, 3, 4):
        raise Unsupported(f"{path}: data layout version {version}")
    if version == 4 and layout[1] == VIRTUAL_LAYOUT:
        raise virtual_refusal(path)
    if FILTERS in messages:
        for code in _filter_ids(messages[FILTERS]):
            refused = filter_refusal(path, code)
            if refused is not None:
                raise refused


def _filter_ids(body: bytes) -> list[int]:
    """The filter ids of a filter pipeline message (section IV.A.2.l, versions 1 and 2)."""
    if len(body) < 2 or body[0] not in (1, 2):
        raise Unsupported("filter pipeline message")
    version, count = body[0], body[1]
    at = 8 if version == 1 else 2
    codes = []
    for _ in range(count):
        if at + 6 > len(body):
            raise Unsupported("truncated filter pipeline message")
        code = int.from_bytes(body[at : at + 2], "little")
        named = version == 1 or code >= 256
        name_length = int.from_bytes(body[at + 2 : at + 4], "little") if named else 0
        values = int.from_bytes(body[at + (6 if named else 4) : at + (8 if named else 6)], "little")
        at += 8 if named else 6
        if version == 1:
            at += -(-name_length // 8) * 8 + 4 * (values + values % 2)
        else:
            at += name_length + 4 * values
        codes.append(code)
    return codes


#: Largest rank HDF5 allows (H5S_MAX_RANK).
MAX_RANK = 32


def _dataspace(reader: _Reader, body: bytes) -> tuple[int, ...]:
    """The dimensions of a simple or scalar dataspace (section IV.A.2.b)."""
    version, rank = body[0], body[1]
    if version == 1:
        start = 8
    elif version == 2 and body[3] in (0, 1):  # scalar or simple, not null
        start = 4
    else:
        raise Unsupported(f"dataspace version {version}")
    maxima = rank if body[2] & 0x01 else 0
    if rank > MAX_RANK or len(body) < start + (rank + maxima) * reader.lengths:
        raise Unsupported("a dataspace message shorter than its rank")
    return tuple(reader.number(body, start + i * reader.lengths, reader.lengths) for i in range(rank))


#: IEEE 754 binary16, 32 and 64 as a version-1 floating-point datatype describes them (section
#: IV.A.2.d): size → (bit offset, precision, exponent location, exponent size, mantissa location,
#: mantissa size, exponent bias), with the sign bit at the top and an implied mantissa MSB.
IEEE_FLOATS = {
    2: (0, 16, 10, 5, 0, 10, 15),
    4: (0, 32, 23, 8, 0, 23, 127),
    8: (0, 64, 52, 11, 0, 52, 1023),
}


def _datatype(body: bytes) -> str:
    """The dtype's name as numpy (and so h5py) names it: ``float32``, ``>f4``, ``int64``."""
    kind, version = body[0] & 0x0F, body[0] >> 4
    size = struct.unpack_from("<I", body, 4)[0]
    flags = body[1] | body[2] << 8 | body[3] << 16
    big = flags & 0x01
    if version != 1:
        raise Unsupported(f"datatype version {version}")
    if kind == FLOATING_POINT:
        layout = struct.unpack_from("<HHBBBBI", body, 8)
        if IEEE_FLOATS.get(size) != layout or flags & ~0x01 != (0x20 | (8 * size - 1) << 8):
            raise Unsupported("a floating-point type other than IEEE 754 half, single or double")
        return f">f{size}" if big else f"float{8 * size}"
    if kind == FIXED_POINT:
        signed = flags & 0x08
        if size not in (1, 2, 4, 8) or struct.unpack_from("<HH", body, 8) != (0, 8 * size) or flags & ~0x09:
            raise Unsupported("an integer type numpy has no dtype for")
        if big and size > 1:
            return f">{'i' if signed else 'u'}{size}"
        return f"{'int' if signed else 'uint'}{8 * size}"
    return f"hdf5 class {kind}, {size} bytes"
