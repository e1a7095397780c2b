"""ONNX models: one recurrent layer per ``LSTM``/``GRU``/``RNN`` node, from its weight
initializers and attributes.

Imported by :class:`~rnncalc.frameworks.onnx.OnnxConvention`'s file methods only, so that
importing the registry stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from rnncalc.core.errors import ConversionError
from rnncalc.core.spec import Cell, Spec
from rnncalc.frameworks.inspection import Found, layer_for, spec_or_none
from rnncalc.io.onnx_file import GRAPH_INITIALIZER, MODEL_GRAPH, TENSOR_RAW_DATA
from rnncalc.io.protobuf_wire import length_prefix
from rnncalc.io.tensor_data import CannotRun, TensorData, TensorFormat, first_line
from rnncalc.io.tensors import FileContents, Node, Tensor, WeightFileError, require_module
from rnncalc.io.weight_format import WeightFormat

if TYPE_CHECKING:
    from rnncalc.frameworks.inspection import RecurrentLayer
    from rnncalc.frameworks.writing import Pairs, Plan

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


#: Operator inputs that hold shapes, indices, axes, sequence lengths, bounds or a recurrent
#: operator's initial state (onnx.ai/onnx/operators/), by position: an initializer used only
#: there is a constant of the graph, not a parameter. ``torch.onnx.export(dynamo=True)`` keeps
#: such constants as initializers (``val_126`` for a Reshape's shape, zeros for ``initial_h``).
CONSTANT_INPUTS: dict[str, frozenset[int]] = {
    op: frozenset(positions)
    for op, positions in {
        "Reshape": (1,), "Expand": (1,), "Tile": (1,), "Unsqueeze": (1,), "Squeeze": (1,),
        "Slice": (1, 2, 3, 4), "Split": (1,), "Gather": (1,), "GatherElements": (1,),
        "GatherND": (1,), "Pad": (1, 2, 3), "ConstantOfShape": (0,), "Range": (0, 1, 2),
        "Clip": (1, 2), "TopK": (1,), "CumSum": (1,), "OneHot": (0, 1, 2), "Resize": (1, 2, 3),
        "ReduceSum": (1,), "ReduceMean": (1,), "ReduceMax": (1,), "ReduceMin": (1,),
        "ReduceProd": (1,), "ReduceL2": (1,),
        # sequence_lens, initial_h and (LSTM) initial_c: per run, not learned by the layer.
        "LSTM": (4, 5, 6), "GRU": (4, 5), "RNN": (4, 5),
    }.items()
}  # fmt: skip
#: TensorProto data types of trained weights (FLOAT, FLOAT16, DOUBLE, BFLOAT16, COMPLEX64/128):
#: an integer, boolean or string initializer is a shape, an index or a mask, never a weight.
WEIGHT_DTYPES = frozenset({"float", "float16", "double", "bfloat16", "complex64", "complex128"})


def parameters(contents: FileContents) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """The initializers that are the model's parameters, and the graph's constants: told apart
    by how the graph uses them, not by name. A constant is an initializer whose type is not a
    weight's, or that every node using it takes as a shape, index, axis or initial state
    (:data:`CONSTANT_INPUTS`); an initializer no node uses stays a parameter."""
    uses: dict[str, list[bool]] = {}
    for node in contents.nodes:
        for position, name in enumerate(node.inputs):
            uses.setdefault(name, []).append(position in CONSTANT_INPUTS.get(node.op_type, ()))
    constant = {
        tensor.name
        for tensor in contents.tensors
        if tensor.dtype not in WEIGHT_DTYPES or (uses.get(tensor.name) and all(uses[tensor.name]))
    }
    return (
        tuple(tensor for tensor in contents.tensors if tensor.name not in constant),
        tuple(tensor for tensor in contents.tensors if tensor.name in constant),
    )


def find_layers(file: str, contents: FileContents) -> Found:
    """One recurrent layer per ONNX LSTM/GRU/RNN node, from its W/R/B initializers; the graph's
    constants (:func:`parameters`) are named in a note and not counted."""
    tensors, constants = parameters(contents)
    initializers = {tensor.name: tensor for tensor in tensors}
    layers, notes = [], []
    if constants:
        listed = ", ".join(tensor.name for tensor in constants[:6])
        more = f" and {len(constants) - 6} more" if len(constants) > 6 else ""
        notes.append(
            f"{len(constants)} initializer{'s' if len(constants) > 1 else ''} of the graph "
            f"(shapes, indices, initial states) {'are' if len(constants) > 1 else 'is'} not "
            f"counted as parameters: {listed}{more}"
        )
    recurrent = [node for node in contents.nodes if node.op_type in ONNX_CELLS]
    if not recurrent:
        notes.append(
            "the graph has no LSTM, GRU or RNN operator (torch.onnx.export with dynamo=True "
            "unrolls nn.RNN into MatMul and Add per time step; dynamo=False keeps the operator)"
        )
    for index, node in enumerate(recurrent):
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
    return layers, notes, tensors, {}


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


# --- rnncalc inspect: what the graph records of the other parts ----------------------------------


#: Operators that pass their input's values on unchanged (or only moved), after which no
#: activation has been applied: a dense head whose output reaches the graph's end, or the next
#: part, only through them has none.
PASSING_OPS = frozenset({"Identity", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Dropout"})
#: Operators that act on each feature vector alone (the last axis), so keep which axes are time
#: steps; a dense layer's ``MatMul``/``Gemm``/``Add`` are checked apart.
PER_POSITION_OPS = frozenset({"Identity", "Dropout", "Cast", "LayerNormalization"})
#: ONNX's defaults of the activation attributes rnncalc compares (onnx.ai/onnx/operators/);
#: ``Softmax``'s axis defaulted to 1 before opset 13, so an absent axis is not taken as -1.
ACTIVATION_DEFAULTS: dict[str, dict[str, float]] = {
    "Elu": {"alpha": 1.0}, "Celu": {"alpha": 1.0}, "LeakyRelu": {"alpha": 0.01},
    "HardSigmoid": {"alpha": 0.2, "beta": 0.5},
    "Selu": {"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875},
}  # fmt: skip


def recorded_parts(contents: FileContents) -> dict[str, dict[str, Any]]:
    """What the graph records of its dense layers and layer norms beyond their weights (see
    :meth:`~rnncalc.frameworks.contract.FrameworkConvention.recorded_parts`), keyed as the chain
    names their groups (:func:`~rnncalc.frameworks.inspection.module_of`): a ``LayerNormalization``'s
    ``epsilon``; a dense layer's (``MatMul`` [+ ``Add``], or ``Gemm``, by a weight initializer)
    ``per_step`` where the steps it takes are traced from a recurrent operator
    (:func:`_step_axes`), and its ``activation`` where the one node after it is an activation
    with Keras's defaults, or its output reaches the end or the next part unchanged ("linear"),
    and the weight a ``Gemm`` takes transposed (``transB``: ``transposed``). What the graph
    leaves uncertain is None, so that it is said to be assumed."""
    from rnncalc.frameworks.inspection import module_of

    weights = {tensor.name: tensor for tensor in parameters(contents)[0] if "float" in tensor.dtype}
    used = {name: index for index, name in enumerate(contents.order)}
    ordered = sorted(weights.values(), key=lambda tensor: used.get(tensor.name, len(used)))
    group = {tensor.name: module_of(ordered, index, used) for index, tensor in enumerate(ordered)}
    consumers: dict[str, list[Node]] = {}
    for node in contents.nodes:
        for name in dict.fromkeys(node.inputs):
            consumers.setdefault(name, []).append(node)
    axes = _step_axes(contents, weights)
    found: dict[str, dict[str, Any]] = {}
    for node in contents.nodes:
        held = node.inputs[1] if len(node.inputs) > 1 else ""
        if node.op_type == "LayerNormalization" and held in weights:
            epsilon = node.attributes.get("epsilon", 1e-5)  # the operator's default
            if isinstance(epsilon, float):
                found[group[held]] = {"kind": "layer_norm", "epsilon": _shortest_float32(epsilon)}
        elif node.op_type in ("MatMul", "Gemm") and len(weights.get(held, Tensor("", (), "")).shape) == 2:
            x = node.inputs[0]
            out = node.outputs[0] if node.outputs else ""
            after = consumers.get(out, [])
            if node.op_type == "MatMul" and len(after) == 1 and after[0].op_type == "Add":
                bias = [name for name in after[0].inputs if name != out]
                if len(bias) == 1 and bias[0] in weights and after[0].outputs:
                    out = after[0].outputs[0]
            steps = axes.get(x) if not node.attributes.get("transA") else None
            per_step = None if steps is None or {"D", "d"} & set(steps) else bool({"T", "t"} & set(steps))
            rank = len(steps) if steps is not None else None
            activation = _activation(out, consumers, weights, rank)
            record: dict[str, Any] = {"kind": "dense", "per_step": per_step, "activation": activation}
            scaled = node.attributes.get("alpha", 1.0) != 1.0 or node.attributes.get("beta", 1.0) != 1.0
            if node.op_type == "Gemm" and node.attributes.get("transB") and not scaled:
                record["transposed"] = (held,)  # nn.Linear's (out, in), as torch.onnx.export writes
            found[group[held]] = record
    return found


def _shortest_float32(value: float) -> float:
    """``value`` (a float32 attribute, ``0.0010000000474974513``) as the shortest decimal that
    is the same float32 (``0.001``)."""
    import struct

    single = struct.pack("<f", value)
    for digits in range(1, 10):
        shorter = float(f"{value:.{digits}g}")
        if struct.pack("<f", shorter) == single:
            return shorter
    return value


def _step_axes(contents: FileContents, weights: Container[str]) -> dict[str, tuple[str, ...]]:
    """The axes of each tensor computed from a recurrent operator's outputs by operators that
    keep track of them (onnx.ai/onnx/operators/): ``T`` time (``t`` where the last step is not
    the final state: a reverse or bidirectional operator), ``N`` batch, ``D`` directions (``d``
    when one), ``H`` features. ``Y`` is ``[T, D, N, H]`` (``layout=1``: ``[N, T, D, H]``),
    ``Y_h``/``Y_c`` ``[D, N, H]``; a ``Gather`` of index -1 on ``T`` takes the last step, a
    ``Squeeze`` drops ``d``, a ``Reshape`` that keeps the leading axes joins ``D``/``d`` and
    ``H`` (both directions concatenated); a tensor without ``T`` holds the last step only."""
    axes: dict[str, tuple[str, ...]] = {}
    for node in contents.nodes:
        if node.op_type in ONNX_CELLS:
            two = node.attributes.get("direction") == "bidirectional"
            forward = node.attributes.get("direction", "forward") == "forward"
            d, t = ("D" if two else "d"), ("T" if forward else "t")
            batch_first = node.attributes.get("layout", 0) == 1
            sequence = ("N", t, d, "H") if batch_first else (t, d, "N", "H")
            state = ("N", d, "H") if batch_first else (d, "N", "H")
            shapes: list[tuple[str, ...]] = [sequence, state, state]
            axes.update({name: shape for name, shape in zip(node.outputs, shapes, strict=False) if name})
            continue
        known = [name for name in dict.fromkeys(node.inputs) if name in axes]
        if len(known) == 1 and node.outputs:
            moved = _moved(node, known[0], axes[known[0]], contents.constants, weights)
            if moved is not None:
                axes[node.outputs[0]] = moved
    return axes


def _moved(
    node: Node,
    traced: str,
    axes: tuple[str, ...],
    constants: Mapping[str, int | tuple[int, ...]],
    weights: Container[str],
) -> tuple[str, ...] | None:
    """The axes of ``node``'s output, given those of its input ``traced``; None when unknown."""
    op, attributes = node.op_type, node.attributes
    first = node.inputs[0] == traced
    given = constants.get(node.inputs[1]) if first and len(node.inputs) > 1 else None
    if op in PER_POSITION_OPS or op in _ACTIVATIONS:
        axis = attributes.get("axis", None if op in ("Softmax", "LogSoftmax") else -1)
        return axes if first and axes[-1] == "H" and axis in (-1, len(axes) - 1) else None
    if op in ("MatMul", "Gemm") and first and axes[-1] == "H" and node.inputs[1] in weights:
        return axes if op == "MatMul" or (len(axes) == 2 and not attributes.get("transA")) else None
    if op == "Add" and axes[-1] == "H" and all(name in weights for name in node.inputs if name != traced):
        return axes
    if not first:
        return None
    if op == "Transpose":
        perm = attributes.get("perm", list(range(len(axes)))[::-1])
        return tuple(axes[p] for p in perm) if sorted(perm) == list(range(len(axes))) else None
    if op == "Squeeze":
        dropped = given if len(node.inputs) > 1 else attributes.get("axes")
        dropped = (dropped,) if isinstance(dropped, int) else dropped
        if not isinstance(dropped, tuple | list) or not dropped:
            return None
        positions = {p % len(axes) for p in dropped if -len(axes) <= p < len(axes)}
        if len(positions) != len(dropped) or any(axes[p] != "d" for p in positions):
            return None
        return tuple(axis for p, axis in enumerate(axes) if p not in positions)
    if op == "Gather":
        axis = attributes.get("axis", 0)
        if not isinstance(axis, int) or not -len(axes) <= axis < len(axes):
            return None
        # Step -1 of a forward operator's time axis; the one direction of Y_h (h_n[-1])
        if (given == -1 and axes[axis] == "T") or (given in (0, -1) and axes[axis] == "d"):
            return tuple(a for p, a in enumerate(axes) if p != axis % len(axes))
        return None
    # Reshape: the leading entries copy (0) or restate (a size) the leading axes, the last joins
    # the directions and features: an exporter's [T, N, D*H]. It could only re-split T*N into
    # other sizes of the same count, which no exporter writes.
    if op == "Reshape" and isinstance(given, tuple) and len(given) == len(axes) - 1:
        joins = axes[-2:] in (("D", "H"), ("d", "H")) and given[-1] != 0
        if joins and all(size >= 0 for size in given[:-1]):
            return (*axes[:-2], "H")
    return None


def _activation(
    out: str, consumers: Mapping[str, list[Node]], weights: Container[str], rank: int | None
) -> str | None:
    """The activation a dense layer's output ``out`` goes through: the one node taking it, an
    operator of :data:`~rnncalc.frameworks.onnx.ACTIVATION_OPS` with Keras's defaults, or
    ``x * Sigmoid(x)`` (silu); "linear" when every path from ``out`` reaches the graph's end
    or the next part (a weight's ``MatMul``/``Gemm``, a norm, a recurrent operator) through
    operators that pass values on; None when uncertain."""
    after = consumers.get(out, [])
    if len(after) == 1 and after[0].op_type in _ACTIVATIONS:
        node = after[0]
        activation, wanted = _ACTIVATIONS[node.op_type]
        given = {**ACTIVATION_DEFAULTS.get(node.op_type, {}), **node.attributes}
        if node.attributes.get("approximate", "none") != "none":  # Gelu's tanh form
            return None
        for name, value in wanted.items():
            if name == "axis":
                axis = node.attributes.get("axis")
                if axis != -1 and (rank is None or axis != rank - 1):
                    return None
            elif not isinstance(given.get(name), int | float) or not math.isclose(
                given[name], value, rel_tol=1e-6
            ):
                return None
        return activation
    if len(after) == 2 and {node.op_type for node in after} == {"Sigmoid", "Mul"}:
        sigmoid = next(node for node in after if node.op_type == "Sigmoid")
        multiply = next(node for node in after if node.op_type == "Mul")
        if sigmoid.outputs and sorted(multiply.inputs) == sorted([out, sigmoid.outputs[0]]):
            return "silu"
        return None
    pending, seen = [out], {out}
    while pending:
        name = pending.pop()
        for node in consumers.get(name, []):
            if node.op_type in PASSING_OPS and node.inputs[0] == name:
                pending += [found for found in node.outputs[:1] if found not in seen]
                seen.update(node.outputs[:1])
            elif not (
                (node.op_type in ("MatMul", "Gemm", "LayerNormalization") and node.inputs[0] == name
                 and len(node.inputs) > 1 and node.inputs[1] in weights)
                or (node.op_type in ONNX_CELLS and node.inputs[0] == name)
            ):  # fmt: skip
                return None
    return "linear"


def _activation_ops() -> dict[str, tuple[str, dict[str, Any]]]:
    """The writer's :data:`~rnncalc.frameworks.onnx.ACTIVATION_OPS` by operator, and ``Gelu``
    (opset 20, exact by default)."""
    from rnncalc.frameworks.onnx import ACTIVATION_OPS

    found = {op: (activation.value, attributes) for activation, (op, attributes) in ACTIVATION_OPS.items()}
    found["Gelu"] = ("gelu", {})
    return found


_ACTIVATIONS = _activation_ops()


# --- rnncalc convert: tensor values in and out ---------------------------------------------------


def tensor_formats() -> tuple[TensorFormat, ...]:
    """ONNX models, read and written (``--to onnx``)."""
    return (
        TensorFormat("onnx", "ONNX model", (".onnx",), open_onnx, target="onnx", write=write_onnx,
                     refuse=_peepholes, run_file=run_onnx_file),
    )  # fmt: skip


#: What running an ONNX model needs (the ONNX convention's install hint).
RUN_HINT = "pip install 'rnncalc[onnx]'"
#: onnxruntime's names of the input types a recurrent model takes → numpy's.
ORT_INPUT_TYPES = {"tensor(float)": "float32", "tensor(int64)": "int64", "tensor(int32)": "int32"}


def run_onnx_file(path: str, x: Any) -> tuple[str, list[Any]]:
    """The model in ``path`` run as a user runs it (an onnxruntime session on the file) on
    ``x``, fed in the layout its first recurrent operator reads it in (:func:`batch_major`):
    who ran it and its outputs in order."""
    import numpy as np

    onnx = require_module("onnx", RUN_HINT, path)
    onnxruntime = require_module("onnxruntime", RUN_HINT, path)

    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as error:
        raise CannotRun(f"onnx cannot load it: {first_line(error)}") from error
    refused = unrunnable(model, path)
    if refused:
        raise CannotRun(refused)
    try:
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as error:
        raise CannotRun(f"onnxruntime cannot load it: {first_line(error)}") from error
    first, *others = session.get_inputs()
    if others:
        raise CannotRun(f"its graph takes {len(others) + 1} inputs, not one")
    layout = batch_major(model.graph, first.name)
    if layout is None:
        raise CannotRun(f"no recurrent operator reads its input {first.name!r}")
    if first.type not in ORT_INPUT_TYPES:
        raise CannotRun(f"its input {first.name!r} is a {first.type}")
    feed = np.ascontiguousarray(x if layout else np.swapaxes(x, 0, 1), dtype=ORT_INPUT_TYPES[first.type])
    if len(first.shape) != feed.ndim or any(
        isinstance(dim, int) and dim != size for dim, size in zip(first.shape, feed.shape, strict=False)
    ):
        raise CannotRun(f"its input {first.name!r} has the shape {first.shape}, not {list(feed.shape)}")
    unbounded = unbounded_sizes(model, first.name, feed.shape)
    if unbounded:
        raise CannotRun(unbounded)
    try:
        return "onnxruntime", [np.asarray(out) for out in session.run(None, {first.name: feed})]
    except Exception as error:
        raise CannotRun(f"onnxruntime cannot run it: {first_line(error)}") from error


#: Operators verify does not run from a file: control flow, whose trip counts and branches the
#: file chooses (a ``Loop`` of 2^63 steps would not end), and every operator they hold.
CONTROL_FLOW = frozenset({"Loop", "Scan", "If", "SequenceMap"})
#: The standard operator set's domain names; any other domain is a custom operator.
STANDARD_DOMAINS = frozenset({"", "ai.onnx"})


def unrunnable(model: Any, path: str) -> str | None:
    """Why verify does not run ``model``'s graph from its file ``path`` (control flow,
    model-local functions, operators outside the standard set, external data that rnncalc
    would not read: :func:`~rnncalc.io.onnx_file.open_external`), or None."""
    import os

    from rnncalc.io.onnx_file import open_external

    for tensor in model.graph.initializer:
        if tensor.data_location == 1:  # TensorProto.EXTERNAL
            location = next((entry.value for entry in tensor.external_data if entry.key == "location"), "")
            try:
                os.close(open_external(path, tensor.name, location))
            except WeightFileError as error:
                return error.message
    if len(model.functions):
        return f"its graph defines {len(model.functions)} functions, which verify does not run from a file"
    for node in model.graph.node:
        if node.domain not in STANDARD_DOMAINS:
            return f"its graph holds the custom operator {node.domain}.{node.op_type}"
        if node.op_type in CONTROL_FLOW:
            return f"its graph holds control flow ({node.op_type} {node.name!r}), which verify does not run"
    return None


#: Most bytes verify lets the tensors an ONNX file's graph makes take, beyond a multiple of its
#: weights (:func:`unbounded_sizes`): a graph may grow tensors from constants it holds
#: (``ConstantOfShape``, ``Expand``, ``Tile`` to any size), which no file size bounds.
RUN_MEMORY = 256 * 2**20
#: Initializers kept with their values when the graph's sizes are inferred: shapes and indices.
SHAPE_CONSTANT = 64


def unbounded_sizes(model: Any, name: str, shape: tuple[int, ...]) -> str | None:
    """Why the graph's tensors are not known to stay small for the input ``name`` of ``shape``,
    or None: ONNX's shape inference with data propagation (every tensor's shape, from the
    input's and the small integer constants' values) must give every tensor a known size, and
    all of them together at most four times the weights plus :data:`RUN_MEMORY` bytes."""
    import math

    from onnx import TensorProto, helper, shape_inference

    weights = 0
    inputs = [helper.make_tensor_value_info(name, _input_type(model, name), list(shape))]
    kept = []
    for tensor in model.graph.initializer:
        size = math.prod(tensor.dims)
        weights += size * _itemsize(tensor.data_type)
        if tensor.data_type in (TensorProto.INT64, TensorProto.INT32) and size <= SHAPE_CONSTANT:
            kept.append(tensor)
        else:
            inputs.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    graph = helper.make_graph(list(model.graph.node), "sizes", inputs, list(model.graph.output), kept)
    probe = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    try:
        inferred = shape_inference.infer_shapes(probe, data_prop=True)
    except Exception as error:
        return f"ONNX shape inference fails on its graph: {first_line(error)}"
    total = 0
    for value in (*inferred.graph.value_info, *inferred.graph.output):
        kind = value.type.tensor_type
        dims = [dim.dim_value if dim.HasField("dim_value") else None for dim in kind.shape.dim]
        if not kind.HasField("shape") or None in dims:
            return f"the size of its tensor {value.name!r} is not known before running it"
        item = _itemsize(kind.elem_type)
        total += math.prod(dims) * item  # type: ignore[arg-type]
    allowed = 4 * weights + RUN_MEMORY
    if total > allowed:
        return f"its graph would make {total:,} bytes of tensors, over the {allowed:,} verify allows"
    return None


def _itemsize(data_type: int) -> int:
    """Bytes of one element of an ONNX data type (8 for a type numpy has no equal of)."""
    from onnx import helper

    try:
        return int(helper.tensor_dtype_to_np_dtype(data_type).itemsize)
    except (KeyError, ValueError, TypeError):
        return 8


def _input_type(model: Any, name: str) -> int:
    """The element type of the graph input ``name``."""
    return int(next(value.type.tensor_type.elem_type for value in model.graph.input if value.name == name))


def batch_major(graph: Any, name: str) -> bool | None:
    """Whether the graph input ``name`` is batch-major, read from the graph: the first
    ``LSTM``/``GRU``/``RNN`` node its values reach takes time-major ``X`` unless ``layout=1``,
    and each ``Transpose`` on the way that swaps the first two axes swaps the layout (an
    embedding's ``Gather`` keeps it). None when no recurrent node reads it."""
    from onnx import helper

    from rnncalc.frameworks.onnx import OP_TYPES

    readers: dict[str, list[Any]] = {}
    for node in graph.node:
        for value in node.input:
            readers.setdefault(value, []).append(node)
    queue, seen = [(name, False)], {name}
    while queue:
        value, swapped = queue.pop(0)
        for node in readers.get(value, []):
            attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type in OP_TYPES.values() and node.input[0] == value:
                return bool(swapped != (attributes.get("layout", 0) == 1))
            perm = list(attributes.get("perm", ()))
            turned = swapped ^ (node.op_type == "Transpose" and perm[:2] == [1, 0])
            for output in node.output:
                if output not in seen:
                    seen.add(output)
                    queue.append((output, turned))
    return None


def _peepholes(layer: RecurrentLayer) -> str | None:
    """An LSTM node's fourth weight input P (peepholes) has no counterpart elsewhere."""
    if len(layer.tensors) > (3 if layer.spec.bias else 2):
        return f"{layer.prefix} has peephole weights P, which no other framework holds"
    return None


#: TensorProto.DataType FLOAT, FLOAT16 and DOUBLE → the numpy type of their raw_data, which
#: onnx.proto stores little-endian.
ONNX_FLOATS = {1: "<f4", 10: "<f2", 11: "<f8"}


def open_onnx(path: str) -> TensorData:
    """An ONNX model's initializers: float ones as ``numpy.memmap`` windows onto their bytes,
    ``raw_data`` in the model file (:func:`~rnncalc.io.onnx_file.scan_onnx` found them without
    loading the file) or external data in the model's directory (checked by
    :func:`~rnncalc.io.onnx_file.open_external` and
    :func:`~rnncalc.io.onnx_file.external_data`); the rest (``float_data``, other types)
    decoded by ``onnx`` when looked up."""
    import os

    import numpy as np

    onnx = require_module("onnx", ONNX_HINT, path)
    from onnx import numpy_helper

    from rnncalc.io.mapped import mapped as mapped_array
    from rnncalc.io.onnx_file import (
        external_data,
        external_location,
        needed_bytes,
        one_line,
        open_external,
        scanned,
    )

    model, spans = scanned(path, onnx)
    initializers = {init.name: init for init in model.graph.initializer}
    # The last of two initializers with one name counts, as in the dict above.
    raw_data = {init.name: span for init, span in zip(model.graph.initializer, spans, strict=True)}

    def window(name: str) -> tuple[Any, int]:
        """The initializer's bytes, mapped read-only (None when empty), and their size; None
        when they are not in a file (``float_data``, or no ``raw_data`` field)."""
        init = initializers[name]
        if init.data_location == onnx.TensorProto.EXTERNAL:
            handle = open_external(path, name, external_location(init))
            with os.fdopen(handle, "rb") as file:
                found = external_data(path, init, handle, needed_bytes(init))
                if not found.length:
                    return None, 0
                return np.memmap(
                    file, dtype="u1", mode="r", offset=found.offset, shape=found.length
                ), found.length
        span = raw_data[name]
        if span is None:
            return None, -1
        start, end = span
        if end == start:
            return None, 0
        return np.memmap(path, dtype="u1", mode="r", offset=start, shape=end - start), end - start

    def mapped(name: str) -> tuple[Any, Any] | None:
        """A float initializer's mapped bytes (None when empty) and their numpy type; None for
        other types and for bytes not of the tensor's size."""
        init = initializers[name]
        if init.data_type not in ONNX_FLOATS:
            return None
        dtype = np.dtype(ONNX_FLOATS[init.data_type])
        found, size = window(name)
        if size != dtype.itemsize * math.prod(init.dims):
            return None
        return found, dtype

    def view(name: str) -> Any:
        found = mapped(name)
        return None if found is None else found[0]

    def read(name: str) -> Any:
        init = initializers[name]
        shape = tuple(int(d) for d in init.dims)
        found = mapped(name)
        if found is not None:
            values, dtype = found
            if values is None:
                return np.zeros(shape, dtype=np.float32)
            values = values.view(dtype).reshape(shape)
            return mapped_array(values) if values.dtype == np.float32 else values
        held, size = window(name)
        if size >= 0:  # not float, or not its size: the bytes in a copy of the proto, for onnx
            whole = onnx.TensorProto()
            whole.CopyFrom(init)
            whole.ClearField("external_data")
            whole.data_location = onnx.TensorProto.DEFAULT
            whole.raw_data = b"" if held is None else held.tobytes()
            init = whole
        try:
            return numpy_helper.to_array(init)  # made float32, or refused, by TensorData
        except Exception as error:  # data not of its type and dims; onnx's errors share no base
            raise WeightFileError(path, f"initializer {name!r}: {one_line(error)}") from None

    return TensorData(list(initializers), read, lambda: None, view)


#: The size past which a model's weights go to an external data file: protobuf cannot hold a
#: message of 2 GiB (``onnx.checker.MAXIMUM_PROTOBUF``). A module attribute, read when writing,
#: so that a test can lower it.
PROTOBUF_LIMIT = 2**31


def write_onnx(plan: Plan, pairs: Pairs, path: str) -> None:
    """The ONNX convention's graph (one operator per layer, dynamic batch and time) with the
    weights as initializers, written as they arrive: one tensor held at a time.

    The bytes are those ``onnx.save`` writes for the whole model (fields in number order, one
    ``graph`` field): the graph without its initializers is built and checked by ``onnx``,
    each initializer's ``TensorProto`` is serialized without ``raw_data``, and the tensors'
    bytes are placed after them in protobuf's wire format (:mod:`rnncalc.io.protobuf_wire`).
    Every length is known from the plan before the first byte: a model over protobuf's 2 GiB
    (:data:`PROTOBUF_LIMIT`) keeps its weights in an external data file instead
    (:func:`write_external`). One ``graph`` field, not a second one appended to be merged:
    some protobuf decoders keep the last instead of merging (square/wire#3537)."""
    import numpy as np

    from rnncalc.frameworks.writing import checked

    layout = onnx_layout(plan)
    if layout.size >= PROTOBUF_LIMIT:
        write_external(plan, pairs, path)
        return
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


#: Alignment of each tensor's offset in an external data file (onnx's own writer aligns large
#: tensors to pages too): a tensor can be mapped without copying.
EXTERNAL_ALIGNMENT = 4096


def write_external(plan: Plan, pairs: Pairs, path: str) -> None:
    """The model at ``path`` with every initializer's bytes in ``DESTINATION.data`` beside the
    destination (``onnx.save(..., save_as_external_data=True)``'s layout: ``location``,
    ``offset``, ``length`` per tensor, offsets page-aligned). The data is written to a
    temporary file in the destination's directory and moved into place
    (:func:`~rnncalc.io.atomic.atomic_path`) after every byte of it and of the model is
    written, just before the model is: never half a file; an existing data file is replaced
    only with ``--force``."""
    import os

    import numpy as np
    import onnx

    from rnncalc.core.errors import SpecError
    from rnncalc.frameworks.writing import checked, target_rows
    from rnncalc.io.atomic import atomic_path

    location = os.path.basename(plan.destination) + ".data"
    data_path = os.path.join(os.path.dirname(os.path.abspath(plan.destination)), location)
    if os.path.lexists(data_path) and not plan.force:
        raise SpecError("-o", f"{data_path} exists; pass --force to replace it")
    model = _graph_model(plan)
    offsets, end = [], 0
    for name, shape in target_rows(plan):
        length = 4 * math.prod(shape)
        tensor = model.graph.initializer.add(dims=shape, data_type=onnx.TensorProto.FLOAT, name=name)
        tensor.data_location = onnx.TensorProto.EXTERNAL
        offset = -(-end // EXTERNAL_ALIGNMENT) * EXTERNAL_ALIGNMENT
        for key, value in (("location", location), ("offset", offset), ("length", length)):
            tensor.external_data.add(key=key, value=str(value))
        offsets.append(offset)
        end = offset + length
    graph = model.SerializeToString()
    if len(graph) >= PROTOBUF_LIMIT:
        raise ConversionError(
            f"the ONNX graph alone would be {len(graph):,} bytes, over protobuf's limit of "
            f"{PROTOBUF_LIMIT:,} for one file"
        )
    places = iter(offsets)
    with atomic_path(data_path, plan.force) as temporary:
        with open(temporary, "wb") as data:
            for _, array in checked(plan, pairs):
                data.seek(next(places))
                data.write(np.ascontiguousarray(array, dtype="<f4").data)
                del array  # not held while the next tensor is made
            data.truncate(end)
        with open(path, "wb") as written:
            written.write(graph)


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
    """The layout of ``plan``'s model (:func:`_graph_model`) with float32 initializers in
    report order."""
    import onnx

    from rnncalc.frameworks.writing import target_rows

    rows = target_rows(plan)
    model = _graph_model(plan)
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


def _graph_model(plan: Plan) -> Any:
    """``plan``'s model without initializers: its graph (nodes, inputs, outputs) built and
    ``onnx.checker``-checked with ``full_check`` (shape inference), the initializers declared
    as extra graph inputs of the same type and shape for the check, then dropped."""
    from rnncalc.frameworks.onnx import GraphPlan, build, model_graph, spec_graph
    from rnncalc.frameworks.writing import target_rows

    graph = model_graph(plan.source.model) if plan.source.model is not None else spec_graph(plan.spec)
    rows = target_rows(plan)
    assert [(tensor.name, tensor.shape) for tensor in graph.initializers] == rows, "graph and report differ"
    model = build(GraphPlan(graph.inputs + graph.initializers, (), graph.nodes, graph.outputs), {})
    del model.graph.input[len(graph.inputs) :]
    return model


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
