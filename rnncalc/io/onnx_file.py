"""Read an ONNX model's initializers and recurrent nodes with the ``onnx`` package, without
loading the initializers' bytes.

:func:`scan_onnx` walks the file's protobuf wire format through a memory map
(:mod:`rnncalc.io.protobuf_wire`) and hands ``onnx`` the model with each graph initializer's
``raw_data`` cut out, noting where those bytes lie in the file: names, dims and types come from
``onnx``, the values are mapped from the file when asked for. External data (tensors stored
beside the ``.onnx`` file, ``onnx.save(..., save_as_external_data=True)``) is read only from
inside the model's directory (:func:`open_external`) and only within the data file's real size
(:func:`external_data`): its location and range are checked when the model is read, its bytes
mapped when a tensor is asked for.
"""

from __future__ import annotations

import errno
import itertools
import math
import mmap
import os
import re
import stat
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from pathlib import PureWindowsPath
from typing import Any, NamedTuple

from rnncalc.io.protobuf_wire import LEN, Field, WireError, length_prefix
from rnncalc.io.protobuf_wire import fields as wire_fields
from rnncalc.io.tensors import FileContents, Node, Tensor, WeightFileError

#: ONNX operators holding a recurrent layer (https://onnx.ai/onnx/operators/).
RECURRENT_OPS = ("LSTM", "GRU", "RNN")
#: Operators whose attributes are read besides the recurrent ones': what says where a dense
#: head acts (the axes a step is taken or a shape moved on), its activation, a norm's epsilon.
ATTRIBUTE_OPS = frozenset({
    *RECURRENT_OPS, "LayerNormalization", "Gemm", "Gather", "Transpose", "Squeeze", "Softmax",
    "LogSoftmax", "LeakyRelu", "Elu", "Celu", "Selu", "HardSigmoid", "Gelu",
})  # fmt: skip
#: The most elements a graph's integer constant may have to be kept
#: (:attr:`~rnncalc.io.tensors.FileContents.constants`): an index or a shape, never data.
CONSTANT_ELEMENTS = 8
#: Field numbers (onnx/onnx.proto): ModelProto.graph, GraphProto.initializer and
#: TensorProto.raw_data.
MODEL_GRAPH, GRAPH_INITIALIZER, TENSOR_RAW_DATA = 7, 5, 9


class ScannedOnnx(NamedTuple):
    """An ONNX model without its initializers' ``raw_data``, and where each initializer's
    ``raw_data`` lies in the file: ``(start, end)`` byte offsets (None: it has none), in the
    order of ``model.graph.initializer``."""

    model: Any
    raw_data: list[tuple[int, int] | None]


def scan_onnx(path: str, onnx: Any) -> ScannedOnnx:
    """``path`` parsed by ``onnx`` with the graph initializers' ``raw_data`` left in the file.
    Raises what ``onnx.load`` raises for a file that is not a protobuf message: the wire
    format is walked here only where it is well formed, else ``onnx`` reads it whole."""
    with open(path, "rb") as handle:
        try:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            return _loaded(path, onnx)
    raw_data: list[tuple[int, int] | None] = []
    try:
        with memoryview(mapped) as buffer:
            stripped = _without_raw_data(buffer, raw_data)
    except WireError:
        return _loaded(path, onnx)
    finally:
        mapped.close()
    model = onnx.ModelProto.FromString(stripped)
    if len(model.graph.initializer) != len(raw_data):  # not how protobuf read the fields
        return _loaded(path, onnx)
    return ScannedOnnx(model, raw_data)


def _loaded(path: str, onnx: Any) -> ScannedOnnx:
    """``path`` loaded whole by ``onnx``: its initializers keep their ``raw_data``."""
    model = onnx.load(path, load_external_data=False)
    return ScannedOnnx(model, [None] * len(model.graph.initializer))


#: Fields walked before the scan leaves the file to ``onnx.load``: a real model's graph has far
#: fewer (a node is one field), a hostile file of tiny fields would keep a Python loop busy.
MAX_FIELDS = 1 << 20


def _without_raw_data(buffer: memoryview, raw_data: list[tuple[int, int] | None]) -> bytes:
    """The ModelProto in ``buffer`` with its graph initializers' ``raw_data`` fields dropped
    (their lengths re-encoded); each initializer's span (or None) is appended to ``raw_data``."""
    walked = itertools.count()

    def fields(start: int, end: int) -> Iterator[Field]:
        for field in wire_fields(buffer, start, end):
            if next(walked) > MAX_FIELDS:
                raise WireError(f"more than {MAX_FIELDS:,} fields")
            yield field

    model = bytearray()
    for field in fields(0, len(buffer)):
        if field.number != MODEL_GRAPH or field.wire_type != LEN:
            model += buffer[field.begin : field.end]
            continue
        graph = bytearray()
        for part in fields(field.start, field.end):
            if part.number != GRAPH_INITIALIZER or part.wire_type != LEN:
                graph += buffer[part.begin : part.end]
                continue
            tensor, span = bytearray(), None
            for item in fields(part.start, part.end):
                if item.number == TENSOR_RAW_DATA and item.wire_type == LEN:
                    span = (item.start, item.end)  # a field given twice: the last one counts
                    continue
                tensor += buffer[item.begin : item.end]
            raw_data.append(span)
            graph += length_prefix(GRAPH_INITIALIZER, len(tensor)) + tensor
        model += length_prefix(MODEL_GRAPH, len(graph)) + graph
    return bytes(model)


class ExternalData(NamedTuple):
    """Where an initializer's bytes lie outside the model file: the data file's ``location``
    as the model names it, and ``length`` bytes from ``offset`` in it."""

    location: str
    offset: int
    length: int


class MissingExternalData(WeightFileError):
    """An external data file that is not there (inspect reads dims only and goes on)."""


#: Separators of a location's parts where the model is read (POSIX: "/"; Windows: both).
_SEPARATORS = re.escape(os.sep + (os.altsep or ""))


def open_external(path: str, name: str, location: str) -> int:
    """A read-only descriptor of the external data file ``location`` (initializer ``name`` of
    the model at ``path``), which must be a regular file inside the model's directory: an
    absolute location, a ``..`` part or a symbolic link anywhere on the way (even one that
    stays inside) is refused, and the path is walked a directory at a time without following
    links, so nothing outside the directory is ever opened."""

    def refuse(why: str) -> WeightFileError:
        return WeightFileError(path, f"initializer {name!r}: external data {location!r} {why}")

    if not location or "\0" in location:
        raise refuse("is not a file name")
    if os.path.isabs(location) or PureWindowsPath(location).anchor or location[0] in "/\\":
        raise refuse("is an absolute path; rnncalc reads external data only from the model's directory")
    if ".." in re.split(r"[/\\]", location):
        raise refuse("leaves the model's directory (..); rnncalc reads external data only from there")
    parts = [part for part in re.split(f"[{_SEPARATORS}]", location) if part not in ("", ".")]
    if not parts:
        raise refuse("is not a file name")
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    # O_NONBLOCK: a FIFO planted as the data file is opened without waiting for a writer.
    flags = os.O_RDONLY | nofollow | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        if os.open in os.supports_dir_fd and nofollow:
            handle = _open_beneath(directory, parts, flags)
        else:  # no openat(): each part checked, then opened by name
            current = directory
            for part in parts:
                current = os.path.join(current, part)
                if os.path.islink(current):
                    raise OSError(errno.ELOOP, "a symbolic link")
            handle = os.open(current, flags)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW's refusal (EMLINK on BSD)
            raise refuse("goes through a symbolic link; rnncalc follows none in external data") from None
        if error.errno == errno.ENOENT:
            raise MissingExternalData(
                path, f"initializer {name!r}: external data {location!r} does not exist"
            ) from None
        raise refuse(f"cannot be opened: {error.strerror or error}") from None
    if not stat.S_ISREG(os.fstat(handle).st_mode):
        os.close(handle)
        raise refuse("is not a regular file")
    return handle


def _open_beneath(directory: str, parts: list[str], flags: int) -> int:
    """``directory/parts...`` opened with ``openat`` a part at a time, no link followed."""
    walk = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_DIRECTORY", 0)
    current = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        for part in parts[:-1]:
            try:
                parent, current = current, os.open(part, walk, dir_fd=current)
            except NotADirectoryError:  # Linux's answer for a link opened with O_DIRECTORY
                if stat.S_ISLNK(os.stat(part, dir_fd=current, follow_symlinks=False).st_mode):
                    raise OSError(errno.ELOOP, "a symbolic link") from None
                raise
            os.close(parent)
        return os.open(parts[-1], flags, dir_fd=current)
    finally:
        os.close(current)


def external_data(path: str, tensor: Any, handle: int, needed: int | None) -> ExternalData:
    """The checked location and byte range of ``tensor``'s external data in the file open as
    ``handle``: ``offset`` and ``length`` (onnx's keys, decimal text; without a length, the
    rest of the file) must lie within the file's real size and, where the tensor's type fixes
    it, ``length`` must be the ``needed`` bytes. The declared numbers are never trusted beyond
    the file."""
    entries = {entry.key: entry.value for entry in tensor.external_data}
    location = entries.get("location", "")

    def refuse(why: str) -> WeightFileError:
        return WeightFileError(path, f"initializer {tensor.name!r}: external data {location!r} {why}")

    size = os.fstat(handle).st_size
    numbers = {}
    for key in ("offset", "length"):
        if key in entries:
            try:
                numbers[key] = int(entries[key])
            except ValueError:
                raise refuse(f"has {key} {entries[key][:40]!r}, not a number") from None
            if numbers[key] < 0:
                raise refuse(f"has a negative {key} {numbers[key]}")
    offset = numbers.get("offset", 0)
    if offset > size:
        raise refuse(f"starts at byte {offset:,}, past the end of the {size:,}-byte file")
    length = numbers.get("length", size - offset)
    if length > size - offset:
        raise refuse(f"declares {length:,} bytes from byte {offset:,}; the file has {size - offset:,}")
    if needed is not None and length != needed:
        raise refuse(f"holds {length:,} bytes; the tensor's type and dims need {needed:,}")
    return ExternalData(location, offset, length)


def external_location(tensor: Any) -> str:
    """The ``location`` of ``tensor``'s external data ("" when it names none)."""
    return next((entry.value for entry in tensor.external_data if entry.key == "location"), "")


#: TensorProto.DataType → bytes per element, for the types whose size is fixed (onnx.proto):
#: FLOAT, UINT8, INT8, UINT16, INT16, INT32, INT64, BOOL, FLOAT16, DOUBLE, UINT32, UINT64,
#: COMPLEX64, COMPLEX128, BFLOAT16 and the 8-bit floats.
ITEM_SIZES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8,
              15: 16, 16: 2, 17: 1, 18: 1, 19: 1, 20: 1}  # fmt: skip


def needed_bytes(tensor: Any) -> int | None:
    """The bytes ``tensor``'s data must have, from its type and dims (None: a type of no fixed
    size, as strings or 4-bit numbers)."""
    size = ITEM_SIZES.get(tensor.data_type)
    if size is None:
        return None
    count = 1
    for dim in tensor.dims:
        count *= max(int(dim), 0)
    return size * count


def check_external(path: str, model: Any, onnx: Any, missing: list[str] | None = None) -> None:
    """Every graph initializer stored as external data: its file opened and its range checked
    (:func:`open_external`, :func:`external_data`); none of its bytes read. A file that does
    not exist is refused, or, given a ``missing`` list, added to it."""
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        try:
            handle = open_external(path, tensor.name, external_location(tensor))
        except MissingExternalData:
            if missing is None:
                raise
            missing.append(external_location(tensor))
            continue
        try:
            external_data(path, tensor, handle, needed_bytes(tensor))
        finally:
            os.close(handle)


def one_line(error: BaseException) -> str:
    """``error`` as ``Type: message`` on one line (a library's message may span several)."""
    return " ".join(f"{type(error).__name__}: {error}".split())


def scanned(path: str, onnx: Any, missing: list[str] | None = None) -> ScannedOnnx:
    """:func:`scan_onnx` of ``path`` with its external data checked (:func:`check_external`,
    which takes ``missing``); a file that is not a readable model is a
    :class:`WeightFileError`."""
    try:
        found = scan_onnx(path, onnx)
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    except Exception as error:  # protobuf's DecodeError and onnx's own errors share no base class
        raise WeightFileError(path, f"not a readable ONNX model: {one_line(error)}") from None
    for tensor in found.model.graph.initializer:
        # onnx.proto's strings are UTF-8; protobuf hands proto2 strings that are not as bytes.
        texts = [tensor.name, *(text for entry in tensor.external_data for text in (entry.key, entry.value))]
        if any(isinstance(text, bytes) for text in texts):
            raise WeightFileError(path, f"initializer {tensor.name!r} has a name or external data entry "
                                  "that is not UTF-8 text")  # fmt: skip
    check_external(path, found.model, onnx, missing)
    return found


def read_onnx(path: str, onnx: Any) -> FileContents:
    """The initializers (as tensors) and the nodes of an ONNX model's graph, read with ``onnx``,
    the imported package (its convention imports it and says how to install it). External data
    that is not there is a note (the dims are in the graph); any other fault of it refuses."""
    missing: list[str] = []
    found = scanned(path, onnx, missing)
    return model_contents(path, found.model, onnx, missing, found.raw_data)


def model_contents(
    path: str,
    model: Any,
    onnx: Any,
    missing: Sequence[str] = (),
    raw_data: Sequence[tuple[int, int] | None] = (),
) -> FileContents:
    """The initializers and nodes of ``model``, a parsed ``onnx.ModelProto`` (read from ``path``,
    or a live model so named); ``missing`` names the external data files not beside it,
    ``raw_data`` where in ``path`` the initializers' bytes lie (:class:`ScannedOnnx`)."""
    graph = model.graph
    if not graph.node and not graph.initializer:
        raise WeightFileError(path, "not an ONNX model: the graph has no nodes and no initializers")
    types = {number: name.lower() for name, number in onnx.TensorProto.DataType.items()}
    unknown = next((init for init in graph.initializer if init.data_type not in types), None)
    if unknown is not None:  # protobuf keeps an enum value onnx.proto does not define
        raise WeightFileError(path, f"initializer {unknown.name!r} has data type {unknown.data_type}, "
                              "which ONNX does not define")  # fmt: skip
    tensors = tuple(
        Tensor(init.name, tuple(int(d) for d in init.dims), types[init.data_type])
        for init in graph.initializer
    )
    negative = next((tensor for tensor in tensors if any(d < 0 for d in tensor.shape)), None)
    if negative is not None:
        raise WeightFileError(
            path, f"initializer {negative.name!r} has a negative dimension {negative.shape}"
        )
    nodes = tuple(_node(path, node, onnx) for node in graph.node)
    notes = tuple(
        f"external data {location!r} is not beside the model: the counts come from the graph's "
        "dims; convert needs the file"
        for location in dict.fromkeys(missing)
    )
    names = {tensor.name for tensor in tensors}
    order = tuple(dict.fromkeys(name for node in nodes for name in node.inputs if name in names))
    constants = _constants(path, model, onnx, raw_data)
    return FileContents(tensors=tensors, nodes=nodes, notes=notes, order=order, constants=constants)


def _constants(
    path: str, model: Any, onnx: Any, raw_data: Sequence[tuple[int, int] | None]
) -> dict[str, int | tuple[int, ...]]:
    """The graph's integer constants of at most :data:`CONSTANT_ELEMENTS` elements, by name (a
    scalar as an int, else its values flattened): ``Constant`` nodes' outputs and INT32/INT64
    initializers whose bytes are in the model file (a few bytes read where the scan found them;
    external data is not opened for them)."""
    found: dict[str, int | tuple[int, ...]] = {}
    sizes = {onnx.TensorProto.INT64: 8, onnx.TensorProto.INT32: 4}
    spans = list(raw_data) or [None] * len(model.graph.initializer)
    with open(path, "rb") if any(spans) else nullcontext() as handle:
        for init, span in zip(model.graph.initializer, spans, strict=False):
            size = sizes.get(init.data_type)
            count = math.prod(init.dims)
            if not size or count > CONSTANT_ELEMENTS or init.data_location != onnx.TensorProto.DEFAULT:
                continue
            data = bytes(init.raw_data)
            if span is not None and handle is not None and span[1] - span[0] == size * count:
                handle.seek(span[0])
                data = handle.read(size * count)
            values = list(init.int64_data if size == 8 else init.int32_data)
            if len(data) == size * count:
                values = [
                    int.from_bytes(data[i : i + size], "little", signed=True)
                    for i in range(0, len(data), size)
                ]
            if len(values) == count:
                found[init.name] = values[0] if not init.dims else tuple(values)
    for node in model.graph.node:
        if node.op_type != "Constant" or node.domain not in ("", "ai.onnx") or len(node.output) != 1:
            continue
        for attribute in node.attribute:
            value = _constant_value(attribute, onnx, sizes)
            if value is not None:
                found[_text(node.output[0])] = value
    return found


def _constant_value(attribute: Any, onnx: Any, sizes: dict[int, int]) -> int | tuple[int, ...] | None:
    """A ``Constant`` node's ``value_int``, ``value_ints`` or small integer ``value``."""
    if attribute.name == "value_int":
        return int(attribute.i)
    if attribute.name == "value_ints" and len(attribute.ints) <= CONSTANT_ELEMENTS:
        return tuple(int(value) for value in attribute.ints)
    tensor = attribute.t
    if (
        attribute.name != "value"
        or tensor.data_type not in sizes
        or math.prod(tensor.dims) > CONSTANT_ELEMENTS
    ):
        return None
    try:
        values = tuple(int(value) for value in onnx.numpy_helper.to_array(tensor).reshape(-1))
        return values[0] if not tensor.dims and len(values) == 1 else values
    except Exception:  # data not of its dims; onnx's errors share no base class
        return None


def _node(path: str, node: Any, onnx: Any) -> Node:
    """One node of the graph with its inputs (what tells a weight from a shape constant); the
    attributes of the recurrent operators only, which are what the layers are read from. An
    operator of another domain keeps its domain in ``op_type`` (``com.example.LSTM``), so it
    is never taken for the standard one."""
    standard = node.domain in ("", "ai.onnx")
    return Node(
        name=_text(node.name),
        op_type=_text(node.op_type) if standard else f"{_text(node.domain)}.{_text(node.op_type)}",
        inputs=tuple(_text(name) for name in node.input),
        attributes=_attributes(path, node, onnx) if standard and node.op_type in ATTRIBUTE_OPS else {},
        outputs=tuple(_text(name) for name in node.output),
    )


def _attributes(path: str, node: Any, onnx: Any) -> dict[str, object]:
    """A node's attributes by name, as ``onnx.helper`` reads them; one it cannot read (a type
    onnx.proto does not define) refuses the file if the node is a recurrent layer, and is left
    out of another node's."""
    found = {}
    for attribute in node.attribute:
        try:
            found[_text(attribute.name)] = _attribute(onnx.helper.get_attribute_value(attribute))
        except Exception as error:  # onnx raises ValueError or its own errors
            if node.op_type not in RECURRENT_OPS:
                continue
            where = f"node {_text(node.name)!r}: attribute {_text(attribute.name)!r}"
            raise WeightFileError(path, f"{where}: {one_line(error)}") from None
    return found


def _text(value: str | bytes) -> str:
    """A string field as text: protobuf hands one that is not UTF-8 over as bytes."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _attribute(value: object) -> object:
    """Attribute values as plain Python: bytes become text, repeated values lists."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [_attribute(item) for item in value]
    return value
