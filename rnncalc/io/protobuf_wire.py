"""The protobuf wire format, as far as streaming ONNX files needs it: field keys, varints and
length-delimited fields, written and scanned (https://protobuf.dev/programming-guides/encoding/).

A message is a sequence of fields, each a key ``(field_number << 3) | wire_type`` (a varint)
and a value: wire type 0 a varint, 1 eight bytes, 2 a varint length and that many bytes (strings,
bytes, embedded messages, packed repeated numbers), 5 four bytes. Types 3 and 4 (groups) are
deprecated and do not occur in ONNX files, so they are refused here.

Standard library only: the ONNX writer and reader use it to place tensor bytes themselves,
without holding them in a protobuf message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

#: Wire types (protobuf encoding, "Message Structure").
VARINT, I64, LEN, I32 = 0, 1, 2, 5
#: Bytes a fixed-width value occupies, by wire type.
_FIXED = {I64: 8, I32: 4}


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def varint(value: int) -> bytes:
    """``value`` (non-negative) as a base-128 varint, least significant group first."""
    if value < 0:
        raise ValueError(f"varint of a negative number: {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def length_prefix(field: int, size: int) -> bytes:
    """The key and length of a length-delimited field ``field`` holding ``size`` bytes: what
    precedes its value on the wire."""
    return varint(field << 3 | LEN) + varint(size)


def read_varint(buffer: bytes | memoryview, position: int, end: int) -> tuple[int, int]:
    """The varint at ``position`` and the position after it; at most 10 bytes (64 bits)."""
    value = shift = 0
    for index in range(position, min(end, position + 10)):
        byte = buffer[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, index + 1
        shift += 7
    raise WireError(f"a varint at byte {position} runs past its message or 10 bytes")


class Field(NamedTuple):
    """One field of a message: its number, wire type and value. ``begin:end`` spans the whole
    field (key included), ``start:end`` its value's bytes (for a length-delimited field, after
    its length); ``value`` is a varint's number."""

    number: int
    wire_type: int
    begin: int
    start: int
    end: int
    value: int = 0


def fields(buffer: bytes | memoryview, start: int, end: int) -> Iterator[Field]:
    """The fields of the message in ``buffer[start:end]``, in wire order; raises
    :class:`WireError` where a key or value does not fit."""
    position = start
    while position < end:
        begin = position
        key, position = read_varint(buffer, position, end)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError(f"field number 0 at byte {begin}")
        if wire_type == VARINT:
            value, after = read_varint(buffer, position, end)
            yield Field(number, wire_type, begin, position, after, value)
            position = after
            continue
        if wire_type == LEN:
            size, position = read_varint(buffer, position, end)
            after = position + size
        elif wire_type in _FIXED:
            after = position + _FIXED[wire_type]
        else:
            raise WireError(f"field {number} has wire type {wire_type} (groups are not read)")
        if after > end:
            raise WireError(f"field {number} at byte {position} runs past the end of its message")
        yield Field(number, wire_type, begin, position, after)
        position = after
