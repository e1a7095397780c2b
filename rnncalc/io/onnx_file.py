"""Read an ONNX model's initializers and recurrent nodes with the ``onnx`` package, without
loading the initializers' bytes.

:func:`scan_onnx` walks the file's protobuf wire format through a memory map
(:mod:`rnncalc.io.protobuf_wire`) and hands ``onnx`` the model with each graph initializer's
``raw_data`` cut out, noting where those bytes lie in the file: names, dims and types come from
``onnx``, the values are mapped from the file when asked for. External data (tensors stored
beside the ``.onnx`` file) is not loaded either: an initializer's dims are in the graph itself.
"""

from __future__ import annotations

import itertools
import mmap
from collections.abc import Iterator
from typing import Any, NamedTuple

from rnncalc.io.protobuf_wire import LEN, Field, WireError, length_prefix
from rnncalc.io.protobuf_wire import fields as wire_fields
from rnncalc.io.tensors import FileContents, Node, Tensor, WeightFileError

#: ONNX operators holding a recurrent layer (https://onnx.ai/onnx/operators/).
RECURRENT_OPS = ("LSTM", "GRU", "RNN")
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


def read_onnx(path: str, onnx: Any) -> FileContents:
    """The initializers (as tensors) and the LSTM/GRU/RNN nodes of an ONNX model, read with
    ``onnx``, the imported package (its convention imports it and says how to install it)."""
    try:
        model = scan_onnx(path, onnx).model
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    except Exception as error:  # protobuf's DecodeError and onnx's own errors share no base class
        raise WeightFileError(path, f"not a readable ONNX model: {type(error).__name__}: {error}") from None
    return model_contents(path, model, onnx)


def model_contents(path: str, model: Any, onnx: Any) -> FileContents:
    """The initializers and recurrent nodes of ``model``, a parsed ``onnx.ModelProto`` (read from
    ``path``, or a live model so named)."""
    graph = model.graph
    if not graph.node and not graph.initializer:
        raise WeightFileError(path, "not an ONNX model: the graph has no nodes and no initializers")
    tensors = tuple(
        Tensor(
            init.name,
            tuple(int(d) for d in init.dims),
            onnx.TensorProto.DataType.Name(init.data_type).lower(),
        )
        for init in graph.initializer
    )
    negative = next((tensor for tensor in tensors if any(d < 0 for d in tensor.shape)), None)
    if negative is not None:
        raise WeightFileError(
            path, f"initializer {negative.name!r} has a negative dimension {negative.shape}"
        )
    nodes = tuple(
        Node(
            name=node.name,
            op_type=node.op_type,
            inputs=tuple(node.input),
            attributes={a.name: _attribute(onnx.helper.get_attribute_value(a)) for a in node.attribute},
        )
        for node in graph.node
        if node.op_type in RECURRENT_OPS and node.domain in ("", "ai.onnx")
    )
    names = {tensor.name for tensor in tensors}
    order = tuple(dict.fromkeys(name for node in graph.node for name in node.input if name in names))
    return FileContents(tensors=tensors, nodes=nodes, order=order)


def _attribute(value: object) -> object:
    """Attribute values as plain Python: bytes become text, repeated values lists."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [_attribute(item) for item in value]
    return value
