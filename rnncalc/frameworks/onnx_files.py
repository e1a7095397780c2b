"""ONNX models: one recurrent layer per ``LSTM``/``GRU``/``RNN`` node, from its weight
initializers and attributes.

Imported by :class:`~rnncalc.frameworks.onnx.OnnxConvention`'s file methods only, so that
importing the registry stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from rnncalc.core.errors import ConversionError
from rnncalc.core.spec import Cell, Spec
from rnncalc.inspect.common import Found, layer_for, spec_or_none
from rnncalc.io.onnx_file import GRAPH_INITIALIZER, MODEL_GRAPH, TENSOR_RAW_DATA
from rnncalc.io.protobuf_wire import length_prefix
from rnncalc.io.tensor_data import TensorData, TensorFormat
from rnncalc.io.tensors import FileContents, Node, Tensor, require_module
from rnncalc.io.weight_format import WeightFormat

if TYPE_CHECKING:
    from rnncalc.convert.plan import Plan
    from rnncalc.convert.write import Pairs
    from rnncalc.inspect.model import RecurrentLayer

#: What reading an ONNX model needs, in the words of a missing-package error.
ONNX_HINT = "pip install 'rnncalc[inspect]' (or pip install onnx)"


def weight_formats() -> tuple[WeightFormat, ...]:
    """``.onnx`` protobuf models, known by their suffix only (protobuf has no magic number)."""
    return (WeightFormat("onnx", "ONNX model", (".onnx",), _read_onnx),)


def _read_onnx(path: str) -> FileContents:
    from rnncalc.io.onnx_file import read_onnx

    return read_onnx(path, require_module("onnx", ONNX_HINT, path))


#: ONNX recurrent operators (onnx.ai/onnx/operators/onnx__LSTM.html and GRU, RNN): the
#: positions of the inputs holding weights: W [dirs, gates*hidden, input], R [dirs,
#: gates*hidden, hidden], B [dirs, 2*gates*hidden] (input and recurrent biases), P (peepholes).
ONNX_WEIGHT_INPUTS: dict[int, str] = {1: "W", 2: "R", 3: "B", 7: "P"}
ONNX_CELLS: dict[str, Cell] = {"RNN": Cell.RNN, "GRU": Cell.GRU, "LSTM": Cell.LSTM}
ONNX_ACTIVATIONS: dict[str, str] = {"tanh": "tanh", "relu": "relu"}


def find_layers(file: str, contents: FileContents) -> Found:
    """One recurrent layer per ONNX LSTM/GRU/RNN node, from its W/R/B initializers."""
    initializers = {tensor.name: tensor for tensor in contents.tensors}
    layers, notes = [], []
    for index, node in enumerate(contents.nodes):
        label = node.name or f"{node.op_type}#{index}"
        named = {
            role: node.inputs[position]
            for position, role in ONNX_WEIGHT_INPUTS.items()
            if position < len(node.inputs) and node.inputs[position]
        }
        weights = {role: initializers[name] for role, name in named.items() if name in initializers}
        if len(weights) != len(named) or "W" not in weights or "R" not in weights:
            notes.append(f"{label}: its weights are computed in the graph, not initializers; not inferred")
            continue
        spec, why = _onnx_spec(node, weights)
        if spec is None:
            notes.append(f"{label}: {why}; left among the other tensors")
            continue
        layer_notes = []
        if "P" in weights:
            layer_notes.append("P (peephole weights) has no counterpart in PyTorch or Keras")
        for attribute in ("clip", "input_forget"):
            if node.attributes.get(attribute):
                layer_notes.append(f"{attribute}={node.attributes[attribute]} changes the computation")
        if node.attributes.get("direction") == "reverse":
            layer_notes.append("direction=reverse: one direction, run from the last step to the first")
        held = tuple(weights[role] for role in ("W", "R", "B", "P") if role in weights)
        layers.append(layer_for(label, spec, held, tuple(layer_notes)))
    return layers, notes, contents.tensors, {}


def _onnx_spec(node: Node, weights: Mapping[str, Tensor]) -> tuple[Spec | None, str]:
    w, r, b = weights["W"], weights["R"], weights.get("B")
    if len(w.shape) != 3 or len(r.shape) != 3:
        return None, "W and R are not 3-D"
    directions, rows, features = w.shape
    hidden = r.shape[2]
    cell = ONNX_CELLS[node.op_type]
    gates = {Cell.RNN: 1, Cell.GRU: 3, Cell.LSTM: 4}[cell]
    if node.attributes.get("hidden_size", hidden) != hidden or rows != gates * hidden:
        return None, f"W has {rows} rows, not {gates} gate blocks of hidden_size {hidden}"
    if r.shape != (directions, rows, hidden) or (b is not None and b.shape != (directions, 2 * rows)):
        return None, "W, R and B shapes disagree"
    fields: dict[str, Any] = {
        "cell": cell,
        "hidden_size": hidden,
        "input_size": features,
        "bidirectional": directions == 2,
        "bias": b is not None,
    }
    if cell is Cell.GRU:
        # linear_before_reset=1 applies the reset gate after the recurrent matmul: Keras's
        # reset_after=True, PyTorch's only GRU; the ONNX default is 0.
        fields["reset_after"] = bool(node.attributes.get("linear_before_reset", 0))
    if cell is Cell.RNN:
        activations = [str(a).lower() for a in node.attributes.get("activations", ["Tanh"])]
        if activations[0] not in ONNX_ACTIVATIONS:
            return None, f"activation {activations[0]} is neither tanh nor relu"
        fields["nonlinearity"] = ONNX_ACTIVATIONS[activations[0]]
    spec = spec_or_none(fields)
    return spec, "" if spec else "its sizes are not a valid spec"


# --- rnncalc convert: tensor values in and out ---------------------------------------------------


def tensor_formats() -> tuple[TensorFormat, ...]:
    """ONNX models, read and written (``--to onnx``)."""
    return (
        TensorFormat("onnx", "ONNX model", (".onnx",), open_onnx, target="onnx", write=write_onnx,
                     refuse=_peepholes),
    )  # fmt: skip


def _peepholes(layer: RecurrentLayer) -> str | None:
    """An LSTM node's fourth weight input P (peepholes) has no counterpart elsewhere."""
    if len(layer.tensors) > (3 if layer.spec.bias else 2):
        return f"{layer.prefix} has peephole weights P, which no other framework holds"
    return None


#: TensorProto.DataType FLOAT, FLOAT16 and DOUBLE → the numpy type of their raw_data, which
#: onnx.proto stores little-endian.
ONNX_FLOATS = {1: "<f4", 10: "<f2", 11: "<f8"}


def open_onnx(path: str) -> TensorData:
    """An ONNX model's initializers: those with float ``raw_data`` in the file as
    ``numpy.memmap`` windows onto it (:func:`~rnncalc.io.onnx_file.scan_onnx` found them
    without loading the file), the rest (``float_data``, external data) decoded by ``onnx``
    when looked up."""
    from pathlib import Path

    import numpy as np

    onnx = require_module("onnx", ONNX_HINT, path)
    from onnx import numpy_helper

    from rnncalc.io.mapped import mapped as mapped_array
    from rnncalc.io.onnx_file import scan_onnx

    model, spans = scan_onnx(path, onnx)
    base = str(Path(path).parent)
    initializers = {init.name: init for init in model.graph.initializer}
    # The last of two initializers with one name counts, as in the dict above.
    raw_data = {init.name: span for init, span in zip(model.graph.initializer, spans, strict=True)}

    def mapped(name: str) -> tuple[Any, Any] | None:
        """The initializer's bytes in the file, mapped read-only (None when empty), and their
        numpy type; None for all but float ``raw_data`` of the right size in the file."""
        init = initializers[name]
        span = raw_data[name]
        if span is None or init.data_location == onnx.TensorProto.EXTERNAL:
            return None
        if init.data_type not in ONNX_FLOATS:
            return None
        dtype = np.dtype(ONNX_FLOATS[init.data_type])
        start, end = span
        if end - start != dtype.itemsize * math.prod(init.dims):
            return None
        window = (
            np.memmap(path, dtype="u1", mode="r", offset=start, shape=end - start) if end > start else None
        )
        return window, dtype

    def view(name: str) -> Any:
        found = mapped(name)
        return None if found is None else found[0]

    def read(name: str) -> Any:
        init = initializers[name]
        shape = tuple(int(d) for d in init.dims)
        found = mapped(name)
        if found is not None:
            window, dtype = found
            if window is None:
                return np.zeros(shape, dtype=np.float32)
            values = window.view(dtype).reshape(shape)
            return mapped_array(values) if values.dtype == np.float32 else values
        span = raw_data[name]
        if span is not None:  # not float: its bytes read into a copy of the proto, for onnx
            start, end = span
            whole = onnx.TensorProto()
            whole.CopyFrom(init)
            with open(path, "rb") as handle:
                handle.seek(start)
                whole.raw_data = handle.read(end - start)
            init = whole
        if init.data_location == onnx.TensorProto.EXTERNAL:
            return numpy_helper.to_array(init, base_dir=base)
        return numpy_helper.to_array(init)  # made float32, or refused, by TensorData

    return TensorData(list(initializers), read, lambda: None, view)


def write_onnx(plan: Plan, pairs: Pairs, path: str) -> None:
    """The ONNX convention's graph (one operator per layer, dynamic batch and time) with the
    weights as initializers, written as they arrive: one tensor held at a time.

    The bytes are those ``onnx.save`` writes for the whole model (fields in number order, one
    ``graph`` field): the graph without its initializers is built and checked by ``onnx``,
    each initializer's ``TensorProto`` is serialized without ``raw_data``, and the tensors'
    bytes are placed after them in protobuf's wire format (:mod:`rnncalc.io.protobuf_wire`).
    Every length is known from the plan before the first byte, so a model over protobuf's 2 GiB
    is refused before anything is read or written. One ``graph`` field, not a second one
    appended to be merged: some protobuf decoders keep the last instead of merging
    (square/wire#3537)."""
    import numpy as np
    import onnx

    from rnncalc.convert.write import checked

    layout = onnx_layout(plan)
    if layout.size > onnx.checker.MAXIMUM_PROTOBUF:
        raise ConversionError(
            f"the ONNX model would be {layout.size:,} bytes, over protobuf's limit of "
            f"{onnx.checker.MAXIMUM_PROTOBUF:,} for one file; rnncalc does not write external data"
        )
    headers = iter(layout.tensor_headers)
    with open(path, "wb") as handle:
        handle.write(layout.model_head)
        handle.write(length_prefix(MODEL_GRAPH, layout.graph_size))
        handle.write(layout.graph_head)
        for _, array in checked(plan, pairs):
            handle.write(next(headers))
            handle.write(np.ascontiguousarray(array, dtype="<f4").data)
            del array  # not held while the next tensor is made
        handle.write(layout.graph_tail)
        handle.write(layout.model_tail)


class OnnxLayout(NamedTuple):
    """A model's serialization around its initializers' bytes: the ModelProto's fields before
    and after ``graph`` (7), the GraphProto's before and after ``initializer`` (5), and per
    initializer the bytes before its tensor data (the field's key and length, the TensorProto's
    dims, data_type and name, raw_data's key and length)."""

    model_head: bytes
    graph_head: bytes
    tensor_headers: tuple[bytes, ...]
    tensor_bytes: tuple[int, ...]
    graph_tail: bytes
    model_tail: bytes

    @property
    def graph_size(self) -> int:
        tensors = sum(map(len, self.tensor_headers)) + sum(self.tensor_bytes)
        return len(self.graph_head) + tensors + len(self.graph_tail)

    @property
    def size(self) -> int:
        """The file's bytes."""
        graph = len(length_prefix(MODEL_GRAPH, self.graph_size)) + self.graph_size
        return len(self.model_head) + graph + len(self.model_tail)


def onnx_layout(plan: Plan) -> OnnxLayout:
    """The layout of ``plan``'s model with float32 initializers in report order; its graph
    (nodes, inputs, outputs) is ``onnx.checker``-checked with ``full_check`` (shape inference),
    with the initializers declared as extra graph inputs of the same type and shape."""
    import onnx

    from rnncalc.convert.stream import target_rows
    from rnncalc.frameworks.onnx import GraphPlan, build, spec_graph

    graph = spec_graph(plan.spec)
    rows = target_rows(plan)
    assert [(tensor.name, tensor.shape) for tensor in graph.initializers] == rows, "graph and report differ"
    model = build(GraphPlan(graph.inputs + graph.initializers, (), graph.nodes, graph.outputs), {})
    del model.graph.input[len(graph.inputs) :]
    model_head, model_tail = _split(model, MODEL_GRAPH)
    graph_head, graph_tail = _split(model.graph, GRAPH_INITIALIZER)
    headers, sizes = [], []
    for name, shape in rows:
        size = 4 * math.prod(shape)
        tensor = onnx.TensorProto(dims=shape, data_type=onnx.TensorProto.FLOAT, name=name)
        fields = tensor.SerializeToString() + length_prefix(TENSOR_RAW_DATA, size)
        headers.append(length_prefix(GRAPH_INITIALIZER, len(fields) + size) + fields)
        sizes.append(size)
    return OnnxLayout(model_head, graph_head, tuple(headers), tuple(sizes), graph_tail, model_tail)


def _split(message: Any, number: int) -> tuple[bytes, bytes]:
    """``message`` serialized in two parts: its fields numbered below ``number``, and above
    (protobuf writes known fields in number order, so they surround field ``number``)."""
    before, after = type(message)(), type(message)()
    before.CopyFrom(message)
    after.CopyFrom(message)
    for field in message.DESCRIPTOR.fields:
        if field.number <= number:
            after.ClearField(field.name)
        if field.number >= number:
            before.ClearField(field.name)
    return before.SerializeToString(), after.SerializeToString()
