"""ONNX models: one recurrent layer per ``LSTM``/``GRU``/``RNN`` node, from its weight
initializers and attributes.

Imported by :class:`~rnncalc.frameworks.onnx.OnnxConvention`'s file methods only, so that
importing the registry stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rnncalc.core.spec import Cell, Spec
from rnncalc.inspect.common import Found, layer_for, spec_or_none
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


def open_onnx(path: str) -> TensorData:
    """An ONNX model's initializers, each decoded when looked up (external data included)."""
    from pathlib import Path

    import numpy as np

    onnx = require_module("onnx", ONNX_HINT, path)
    from onnx import numpy_helper

    model = onnx.load(path, load_external_data=False)
    base = str(Path(path).parent)
    initializers = {init.name: init for init in model.graph.initializer}

    def read(name: str) -> Any:
        init = initializers[name]
        if init.data_location == onnx.TensorProto.EXTERNAL:
            return np.asarray(numpy_helper.to_array(init, base_dir=base), dtype=np.float32)
        return np.asarray(numpy_helper.to_array(init), dtype=np.float32)

    return TensorData(list(initializers), read, lambda: None)


def write_onnx(plan: Plan, pairs: Pairs, path: str) -> None:
    """The ONNX convention's graph (one operator per layer, dynamic batch and time) with the
    weights as initializers."""
    import onnx

    from rnncalc.convert.write import checked
    from rnncalc.frameworks.onnx import build, spec_graph

    arrays = dict(checked(plan, pairs))
    onnx.save(build(spec_graph(plan.spec), arrays), path)
