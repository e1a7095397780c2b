"""Read an ONNX model's initializers and recurrent nodes with the ``onnx`` package, without
loading the initializers' bytes.

:func:`scan_onnx` walks the file's protobuf wire format through a memory map
(:mod:`rnncalc.io.protobuf_wire`) and hands ``onnx`` the model with each graph initializer's
``raw_data`` cut out, noting where those bytes lie in the file: names, dims and types come from
``onnx``, the values are mapped from the file when asked for. External data (tensors stored
beside the ``.onnx`` file) is not loaded either: an initializer's dims are in the graph itself.
"""

from __future__ import annotations

import mmap
from typing import Any, NamedTuple

from rnncalc.io.protobuf_wire import LEN, WireError, fields, length_prefix
from rnncalc.io.tensors import FileContents, Node, Tensor, WeightFileError

#: ONNX operators holding a recurrent layer (https://onnx.ai/onnx/operators/).
RECURRENT_OPS = ("LSTM", "GRU", "RNN")
#: Field numbers (onnx/onnx.proto): ModelProto.graph, GraphProto.initializer, TensorProto.name
#: and TensorProto.raw_data.
MODEL_GRAPH, GRAPH_INITIALIZER, TENSOR_NAME, TENSOR_RAW_DATA = 7, 5, 8, 9


class ScannedOnnx(NamedTuple):
    """An ONNX model without its initializers' ``raw_data``, and where each initializer's
    ``raw_data`` lies in the file (``(start, end)`` byte offsets, by initializer name)."""

    model: Any
    raw_data: dict[str, tuple[int, int]]


def scan_onnx(path: str, onnx: Any) -> ScannedOnnx:
    """``path`` parsed by ``onnx`` with the graph initializers' ``raw_data`` left in the file.
    Raises what ``onnx.load`` raises for a file that is not a protobuf message: the wire
    format is walked here only where it is well formed, else ``onnx`` reads it whole."""
    with open(path, "rb") as handle:
        try:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            return ScannedOnnx(onnx.load(path, load_external_data=False), {})
    raw_data: dict[str, tuple[int, int]] = {}
    try:
        with memoryview(mapped) as buffer:
            stripped = _without_raw_data(buffer, raw_data)
    except WireError:
        return ScannedOnnx(onnx.load(path, load_external_data=False), {})
    finally:
        mapped.close()
    return ScannedOnnx(onnx.ModelProto.FromString(stripped), raw_data)


def _without_raw_data(buffer: memoryview, raw_data: dict[str, tuple[int, int]]) -> bytes:
    """The ModelProto in ``buffer`` with its graph initializers' ``raw_data`` fields dropped
    (their lengths re-encoded); each one's span is put in ``raw_data`` under its name."""
    model = bytearray()
    for field in fields(buffer, 0, len(buffer)):
        if field.number != MODEL_GRAPH or field.wire_type != LEN:
            model += buffer[field.begin : field.end]
            continue
        graph = bytearray()
        for part in fields(buffer, field.start, field.end):
            if part.number != GRAPH_INITIALIZER or part.wire_type != LEN:
                graph += buffer[part.begin : part.end]
                continue
            tensor, name, span = bytearray(), "", None
            for item in fields(buffer, part.start, part.end):
                if item.number == TENSOR_RAW_DATA and item.wire_type == LEN:
                    span = (item.start, item.end)  # a repeated bytes field: the last one counts
                    continue
                if item.number == TENSOR_NAME and item.wire_type == LEN:
                    name = bytes(buffer[item.start : item.end]).decode("utf-8", "replace")
                tensor += buffer[item.begin : item.end]
            if span is not None:
                raw_data[name] = span
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
    return FileContents(tensors=tensors, nodes=nodes)


def _attribute(value: object) -> object:
    """Attribute values as plain Python: bytes become text, repeated values lists."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [_attribute(item) for item in value]
    return value
