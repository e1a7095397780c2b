"""ONNX: the ``RNN``, ``LSTM`` and ``GRU`` operators of the default domain, one per layer.

Source: the ONNX operator specification (``onnx.defs.get_schema("LSTM")``, onnx 1.23; the
operators are unchanged in their inputs since opset 14, which added ``layout``), checked
against ``onnx.reference`` and onnxruntime 1.32. Each operator holds one layer, both
directions::

    W  [num_directions, G*hidden_size, input_size]    gate blocks stacked on axis 1
    R  [num_directions, G*hidden_size, hidden_size]
    B  [num_directions, 2*G*hidden_size]              [Wb, Rb] per direction; optional
    Y  [seq_length, num_directions, batch_size, hidden_size]       (layout 0)
    Y_h, Y_c  [num_directions, batch_size, hidden_size]

Gate orders: RNN ``i``; LSTM ``i, o, f, c``; GRU ``z, r, h``. GRU's ``linear_before_reset=1``
applies the reset gate to ``R_h h + Rb_h`` (PyTorch's GRU, Keras ``reset_after=True``); ``0``
applies it to ``h`` before ``R_h`` and still adds ``Rb_h`` outside, so ``B`` keeps both biases
either way. The LSTM's peepholes ``P`` ``[num_directions, 3*hidden_size]`` exist in ONNX only:
neither PyTorch nor Keras has them, so rnncalc never writes them. ONNX has no projection
(PyTorch's ``proj_size``).

rnncalc's canonical ONNX model for a spec (what :meth:`OnnxConvention.report` describes, the
adapter builds and :meth:`OnnxConvention.snippet` writes):

* one operator per layer, named ``lstm_0``, ``lstm_1``... (``rnn_k``, ``gru_k``), with
  initializers ``lstm_0.W``, ``lstm_0.R`` and (with a bias) ``lstm_0.B``: the initializers are
  the weights and nothing else, so their sizes sum to the parameter count;
* ``layout=0`` (time-major) everywhere: onnxruntime 1.32 refuses ``layout=1`` ("Batchwise
  recurrent operations (layout == 1) are not supported"). With ``batch_first`` the graph takes
  ``X`` as ``[N, T, I]`` and Transposes around the operators, so its outputs are what a
  ``layout=1`` operator returns: ``Y`` ``[N, T, D, H]`` and ``Y_h`` ``[N, D, H]``;
* between layers ``Y`` ``[T, D, N, H]`` is Transposed to ``[T, N, D, H]`` and Reshaped to
  ``[T, N, D*H]``: both directions concatenated, as PyTorch and ``torch.onnx.export`` do;
* graph outputs ``Y`` (the last operator's, directions on their own axis), ``Y_h`` and, for
  LSTM, ``Y_c``: every layer's final states concatenated on axis 0, ``[layers*D, N, H]``, in
  PyTorch's ``h_n`` order (layer 0 forward, layer 0 backward, layer 1 forward...). With one
  layer they are the operator's own outputs; ``torch.onnx.export`` writes the same Concat.

The graph declares opset 17 (what onnxruntime 1.17, the oldest the extra allows, runs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, cast

from rnncalc.core.calc import GATES
from rnncalc.core.errors import ConversionError, FrameworkMissingError, SpecError
from rnncalc.core.parts import DenseActivation, PartKind
from rnncalc.core.report import FrameworkReport, FrameworkTotals, LayerReport, Role, WeightRow
from rnncalc.core.spec import Cell, MergeMode, Nonlinearity, Spec
from rnncalc.core.symbolic import INPUT, Count, Dim, Shape, format_shape, shape_count
from rnncalc.frameworks.base import (
    LayerNames,
    PartLayout,
    WeightSlot,
    canonical_names,
    custom_activations,
    first_input,
    model_unsupported,
    no_slots,
    norm_slots,
    rows,
)
from rnncalc.frameworks.contract import FrameworkConvention

if TYPE_CHECKING:
    import numpy as np
    import onnx

    from rnncalc.core.model import Dense, Model
    from rnncalc.frameworks.adapter import Measured
    from rnncalc.reference import Blocks, Part, PartGetter, StackWeights

    Array = np.ndarray[Any, Any]
    Arrays = dict[str, Array]


#: The registry name reports and :class:`~rnncalc.frameworks.adapter.Measured` carry.
FRAMEWORK = "onnx"

#: The opset the graphs declare.
OPSET = 17
#: A serialized ModelProto must stay under 2 GiB (protobuf); larger weights go to external data.
PROTOBUF_LIMIT = 2**31
#: Operator names, and the base of rnncalc's node names (``lstm_0``).
OP_TYPES: dict[Cell, str] = {Cell.RNN: "RNN", Cell.LSTM: "LSTM", Cell.GRU: "GRU"}
NODE_BASES: dict[Cell, str] = {Cell.RNN: "rnn", Cell.LSTM: "lstm", Cell.GRU: "gru"}
#: ``WeightRow.direction`` of a tensor holding both directions of a bidirectional operator.
BOTH_DIRECTIONS = "both"
#: Canonical gate order (:data:`rnncalc.reference.CANONICAL_GATES`, PyTorch's), repeated here so
#: the analytic path does not import the numpy reference.
_CANONICAL_GATES: dict[Cell, tuple[str, ...]] = {
    Cell.RNN: ("h",),
    Cell.LSTM: ("i", "f", "g", "o"),
    Cell.GRU: ("r", "z", "n"),
}


def onnx_slots(
    cell: Cell, input_size: Dim, hidden_size: int, bias: bool, directions: int
) -> list[WeightSlot]:
    """One operator's initializers in input order ``W, R, B``, named without the node prefix."""
    rows = GATES[cell] * hidden_size
    slots = [
        WeightSlot("W", (directions, rows, input_size), Role.INPUT_KERNEL),
        WeightSlot("R", (directions, rows, hidden_size), Role.RECURRENT_KERNEL),
    ]
    if bias:
        slots.append(WeightSlot("B", (directions, 2 * rows), Role.BIAS))
    return slots


@lru_cache(maxsize=4096)
def _layer_formula(cell: Cell, hidden_size: int, bias: bool, directions: int) -> Count:
    """One operator's elements as ``a*I + b`` in its input size: the sum of its slot shapes."""
    counts = [shape_count(slot.shape) for slot in onnx_slots(cell, INPUT, hidden_size, bias, directions)]
    return Count(sum(c.per_input for c in counts), sum(c.constant for c in counts))


def _operator_kind(spec: Spec) -> str:
    """``LSTM``, ``GRU (bidirectional, linear_before_reset=0)``: the operator and its attributes."""
    details = ["bidirectional"] if spec.bidirectional else []
    if spec.cell is Cell.GRU:
        details.append(f"linear_before_reset={int(spec.reset_after)}")
    if spec.cell is Cell.RNN and spec.nonlinearity is Nonlinearity.RELU:
        details.append("activations=Relu")
    op = OP_TYPES[spec.cell]
    return f"{op} ({', '.join(details)})" if details else op


def _matmul_slots(part: Dense, size: Dim) -> list[WeightSlot]:
    """``MatMul`` by ``W`` ``(in, units)``, then ``Add`` of ``B`` ``(units,)``."""
    bias = [WeightSlot("B", (part.units,), Role.DENSE)] if part.bias else []
    return [WeightSlot("W", (size, part.units), Role.DENSE), *bias]


#: The parts of a model other than recurrent blocks, as rnncalc's graph holds them: the
#: operators, the node name base, the initializers (``node.name``).
PARTS: dict[PartKind, PartLayout] = {
    # Gather from the (vocab, dim) table.
    PartKind.EMBEDDING: PartLayout(
        lambda part: "Gather",
        "embedding",
        lambda part, size: [WeightSlot("weight", (part.vocab_size, part.dim), Role.EMBEDDING)],
        numbered=False,
        canonical=canonical_names(weight="weight"),
    ),
    # LayerNormalization(X, Scale, B) over the last axis (opset 17); Scale is a required input,
    # a Constant of ones (no initializer) when the norm keeps no scale.
    PartKind.LAYER_NORM: PartLayout(
        lambda part: "LayerNormalization",
        "layer_norm",
        norm_slots("Scale", "B"),
        canonical=canonical_names(Scale="weight", B="bias"),
    ),
    # Dropout is the identity at inference (training_mode false); exporters often drop it.
    PartKind.DROPOUT: PartLayout(lambda part: "Dropout", "dropout", no_slots),
    # MatMul(X, W) takes W as (in, units): nn.Linear's weight transposed (rnncalc writes no Gemm).
    PartKind.DENSE: PartLayout(
        lambda part: "MatMul + Add" if part.bias else "MatMul",
        "dense",
        _matmul_slots,
        canonical=canonical_names(W=("weight", True), B="bias"),
    ),
}

#: One operator for each dense activation that has one at opset 17 (Keras 3's defaults:
#: leaky_relu's slope 0.2, hard_sigmoid = relu6(x + 3) / 6, softmax on the last axis); silu
#: and the exact gelu are built from several (:meth:`_GraphBuilder.activation`).
ACTIVATION_OPS: dict[DenseActivation, tuple[str, dict[str, Any]]] = {
    DenseActivation.RELU: ("Relu", {}),
    DenseActivation.TANH: ("Tanh", {}),
    DenseActivation.SIGMOID: ("Sigmoid", {}),
    DenseActivation.SOFTMAX: ("Softmax", {"axis": -1}),
    DenseActivation.LOG_SOFTMAX: ("LogSoftmax", {"axis": -1}),
    DenseActivation.ELU: ("Elu", {"alpha": 1.0}),
    DenseActivation.SELU: ("Selu", {}),
    DenseActivation.SOFTPLUS: ("Softplus", {}),
    DenseActivation.SOFTSIGN: ("Softsign", {}),
    DenseActivation.LEAKY_RELU: ("LeakyRelu", {"alpha": 0.2}),
    DenseActivation.HARD_SIGMOID: ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}),
    DenseActivation.HARD_SILU: ("HardSwish", {}),
    DenseActivation.CELU: ("Celu", {"alpha": 1.0}),
    DenseActivation.EXPONENTIAL: ("Exp", {}),
}
#: Activations that are a ``Clip`` between two bounds (given as Constant inputs).
CLIP_BOUNDS: dict[DenseActivation, tuple[float, float]] = {
    DenseActivation.RELU6: (0.0, 6.0),
    DenseActivation.HARD_TANH: (-1.0, 1.0),
}


def _time_major(spec: Spec, *rest: Dim) -> Shape:
    return (spec.seq_len, spec.batch_size, *rest)


# --- The graph as data: what the adapter builds and the snippet writes -------------------------


class Node(NamedTuple):
    """One ONNX node: ``helper.make_node(op_type, inputs, outputs, name=name, **attributes)``."""

    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    name: str
    attributes: tuple[tuple[str, Any], ...] = ()


class Tensor(NamedTuple):
    """A graph input, output or initializer: name, shape and (inputs only) element type."""

    name: str
    shape: Shape
    dtype: str = "float32"


class GraphPlan(NamedTuple):
    """Everything of rnncalc's canonical graph but the weight values."""

    inputs: tuple[Tensor, ...]
    initializers: tuple[Tensor, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[Tensor, ...]


class _GraphBuilder:
    """Accumulates nodes and initializers; the shapes are those :class:`OnnxConvention` reports."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.initializers: list[Tensor] = []
        self.names = LayerNames(first_numbered=True)
        self._flatten_shape: str | None = None

    def add(
        self, op_type: str, inputs: Sequence[str], outputs: Sequence[str], name: str, **attributes: Any
    ) -> None:
        self.nodes.append(Node(op_type, tuple(inputs), tuple(outputs), name, tuple(attributes.items())))

    def recurrent_block(self, spec: Spec, x: str, input_size: int) -> list[str]:
        """``num_layers`` operators on the time-major ``x``; returns their node names."""
        nodes = []
        for index in range(spec.num_layers):
            node = self.names.next(NODE_BASES[spec.cell])
            size = input_size if index == 0 else spec.num_directions * spec.hidden_size
            slots = onnx_slots(spec.cell, size, spec.hidden_size, spec.bias, spec.num_directions)
            self.initializers += [Tensor(f"{node}.{slot.name}", slot.shape) for slot in slots]
            outputs = [f"{node}.Y", f"{node}.Y_h"] + ([f"{node}.Y_c"] if spec.cell is Cell.LSTM else [])
            attributes: dict[str, Any] = {
                "hidden_size": spec.hidden_size,
                "direction": "bidirectional" if spec.bidirectional else "forward",
            }
            if spec.cell is Cell.GRU:
                attributes["linear_before_reset"] = int(spec.reset_after)
            if spec.cell is Cell.RNN and spec.nonlinearity is Nonlinearity.RELU:
                attributes["activations"] = ["Relu"] * spec.num_directions
            inputs = [x] + [f"{node}.{slot.name}" for slot in slots]
            self.add(OP_TYPES[spec.cell], inputs, outputs, node, **attributes)
            nodes.append(node)
            if index < spec.num_layers - 1:
                x = self.flatten(node)
        return nodes

    def activation(self, activation: DenseActivation, x: str, node: str) -> str:
        """Nodes applying ``activation`` to ``x``; returns the result's name."""
        out = f"{node}.{activation.value}"
        if activation in ACTIVATION_OPS:
            op_type, attributes = ACTIVATION_OPS[activation]
            self.add(op_type, [x], [out], f"{node}.activation", **attributes)
        elif activation in CLIP_BOUNDS:
            low, high = CLIP_BOUNDS[activation]
            self.add("Constant", [], [f"{node}.low"], f"{node}.low", value_float=low)
            self.add("Constant", [], [f"{node}.high"], f"{node}.high", value_float=high)
            self.add("Clip", [x, f"{node}.low", f"{node}.high"], [out], f"{node}.clip")
        elif activation is DenseActivation.SILU:  # x * sigmoid(x)
            self.add("Sigmoid", [x], [f"{node}.sigmoid"], f"{node}.sigmoid")
            self.add("Mul", [x, f"{node}.sigmoid"], [out], f"{node}.silu")
        elif activation is DenseActivation.GELU:  # x * (1 + erf(x / sqrt(2))) / 2, exact
            self.add("Constant", [], [f"{node}.sqrt2"], f"{node}.sqrt2", value_float=math.sqrt(2.0))
            self.add("Constant", [], [f"{node}.one"], f"{node}.one", value_float=1.0)
            self.add("Constant", [], [f"{node}.half"], f"{node}.half", value_float=0.5)
            self.add("Div", [x, f"{node}.sqrt2"], [f"{node}.scaled"], f"{node}.div")
            self.add("Erf", [f"{node}.scaled"], [f"{node}.erf"], f"{node}.erf")
            self.add("Add", [f"{node}.erf", f"{node}.one"], [f"{node}.erf1"], f"{node}.add1")
            self.add("Mul", [x, f"{node}.erf1"], [f"{node}.xerf"], f"{node}.mul")
            self.add("Mul", [f"{node}.xerf", f"{node}.half"], [out], f"{node}.gelu")
        else:  # linear
            return x
        return out

    def part(self, part: Any, node: str, x: str, size: int) -> str:
        """The operators of a part other than a recurrent block (its initializers, named
        ``node.<slot>``, are in place); returns its output's name."""
        from rnncalc.core.model import Dense, Dropout, Embedding, LayerNorm

        out = f"{node}.output"
        if isinstance(part, Embedding):
            self.add("Gather", [f"{node}.weight", x], [out], node, axis=0)
        elif isinstance(part, LayerNorm):
            scale = f"{node}.Scale"
            if not part.scale:
                self.add("Constant", [], [scale], f"{node}.ones", value_floats=[1.0] * size)
            inputs = [x, scale] + ([f"{node}.B"] if part.bias else [])
            self.add("LayerNormalization", inputs, [out], node, axis=-1, epsilon=part.epsilon)
        elif isinstance(part, Dropout):
            self.add("Dropout", [x], [out], node)
        elif isinstance(part, Dense):
            self.add("MatMul", [x, f"{node}.W"], [f"{node}.MatMul"], f"{node}.matmul")
            out = f"{node}.MatMul"
            if part.bias:
                self.add("Add", [out, f"{node}.B"], [f"{node}.output"], f"{node}.add")
                out = f"{node}.output"
            if part.activation is not None:
                out = self.activation(part.activation, out, node)
        return out

    def last_step(self, node: str) -> str:
        """``node.Y_h`` ``[D, N, H]`` → ``[N, D*H]``: each direction's last step, as Keras's
        ``Bidirectional`` returns it without sequences."""
        self.add("Transpose", [f"{node}.Y_h"], [f"{node}.Y_h_NDH"], f"{node}.last_transpose", perm=[1, 0, 2])
        self.add("Constant", [], [f"{node}.last_shape"], f"{node}.last_shape", value_ints=[0, -1])
        self.add(
            "Reshape", [f"{node}.Y_h_NDH", f"{node}.last_shape"], [f"{node}.last"], f"{node}.last_reshape"
        )
        return f"{node}.last"

    def flatten(self, node: str) -> str:
        """``node.Y`` ``[T, D, N, H]`` → ``[T, N, D*H]``: the directions concatenated per step."""
        if self._flatten_shape is None:
            self._flatten_shape = "flatten_shape"
            # Reshape's 0 keeps that axis (T and N); -1 takes the rest (D*H).
            self.add("Constant", [], [self._flatten_shape], "flatten_shape", value_ints=[0, 0, -1])
        self.add("Transpose", [f"{node}.Y"], [f"{node}.Y_TNDH"], f"{node}.transpose", perm=[0, 2, 1, 3])
        self.add("Reshape", [f"{node}.Y_TNDH", self._flatten_shape], [f"{node}.output"], f"{node}.reshape")
        return f"{node}.output"


def spec_graph(spec: Spec) -> GraphPlan:
    """rnncalc's canonical graph for ``spec`` (input size, batch and time known)."""
    assert spec.input_size is not None
    builder = _GraphBuilder()
    x = "X"
    if spec.batch_first:
        builder.add("Transpose", ["X"], ["X_TNI"], "input_transpose", perm=[1, 0, 2])
        x = "X_TNI"
    nodes = builder.recurrent_block(spec, x, spec.input_size)
    last = nodes[-1]
    states = ["Y_h", "Y_c"] if spec.cell is Cell.LSTM else ["Y_h"]
    for state in states:
        parts = [f"{node}.{state}" for node in nodes]
        source = parts[0]
        if len(parts) > 1:  # every layer's states, in PyTorch's h_n order
            source = f"{state}_time_major" if spec.batch_first else state
            builder.add("Concat", parts, [source], f"{state}_concat", axis=0)
        if spec.batch_first:
            builder.add("Transpose", [source], [state], f"{state}_transpose", perm=[1, 0, 2])
        elif len(parts) == 1:  # the operator's own output, passed on unchanged
            builder.add("Identity", [source], [state], f"{state}_identity")
    if spec.batch_first:
        builder.add("Transpose", [f"{last}.Y"], ["Y"], "Y_transpose", perm=[2, 0, 1, 3])
    else:
        builder.add("Identity", [f"{last}.Y"], ["Y"], "Y_identity")
    x_shape = (
        (spec.batch_size, spec.seq_len, spec.input_size)
        if spec.batch_first
        else (spec.seq_len, spec.batch_size, spec.input_size)
    )
    outputs = tuple(Tensor(name, shape) for name, shape in _outputs(spec))
    return GraphPlan((Tensor("X", x_shape),), tuple(builder.initializers), tuple(builder.nodes), outputs)


def model_graph(model: Model) -> GraphPlan:
    """The canonical graph of a whole model: ``Gather`` for the embedding, the blocks'
    operators, ``LayerNormalization``, ``Dropout``, ``MatMul`` + ``Add`` (and the activation) per
    dense layer; ``output`` is ``[T, N, F]`` (batch-first with ``batch_first``), every time step,
    as the PyTorch adapter's model returns, or ``[N, F]`` after a ``per_step: false`` head."""
    builder = _GraphBuilder()
    first = model.layers[0]
    lead = (first.batch_size, first.seq_len) if model.batch_first else (first.seq_len, first.batch_size)
    if model.embedding is not None:
        graph_input = Tensor("ids", lead, "int64")
    else:
        assert model.input_size is not None
        graph_input = Tensor("X", (*lead, model.input_size))
    x = graph_input.name
    if model.batch_first:
        perm = [1, 0] if model.embedding is not None else [1, 0, 2]
        builder.add("Transpose", [x], [f"{x}_time_major"], "input_transpose", perm=perm)
        x = f"{x}_time_major"
    size = model.input_size
    assert size is not None
    for index, part in enumerate(model.parts):
        if isinstance(part, Spec):
            nodes = builder.recurrent_block(part, x, size)
            last = index == model.last_block and model.last_step
            x = builder.last_step(nodes[-1]) if last else builder.flatten(nodes[-1])
            size = part.num_directions * part.hidden_size
            continue
        layout = PARTS[part.kind]
        node = builder.names.next(layout.base) if layout.numbered else layout.base
        slots = layout.slots(part, size)
        builder.initializers += [Tensor(f"{node}.{slot.name}", slot.shape) for slot in slots]
        x = builder.part(part, node, x, size)
        size = int(part.features(size))
    shape = (first.batch_size, size) if model.last_step else (*lead, size)
    if model.batch_first and not model.last_step:
        builder.add("Transpose", [x], ["output"], "output_transpose", perm=[1, 0, 2])
    else:
        builder.add("Identity", [x], ["output"], "output_identity")
    output = Tensor("output", shape)
    return GraphPlan((graph_input,), tuple(builder.initializers), tuple(builder.nodes), (output,))


def _outputs(spec: Spec) -> tuple[tuple[str, Shape], ...]:
    """``Y`` ``[T, D, N, H]`` and ``Y_h`` (``Y_c``) ``[layers*D, N, H]``; with ``batch_first``
    the batch axis goes first (``layout=1``'s shapes)."""
    directions, hidden = spec.num_directions, spec.hidden_size
    stacked = spec.num_layers * directions
    if spec.batch_first:
        y: Shape = (spec.batch_size, spec.seq_len, directions, hidden)
        state: Shape = (spec.batch_size, stacked, hidden)
    else:
        y = (spec.seq_len, directions, spec.batch_size, hidden)
        state = (stacked, spec.batch_size, hidden)
    names = ("Y_h", "Y_c") if spec.cell is Cell.LSTM else ("Y_h",)
    return (("Y", y), *((name, state) for name in names))


# --- The convention ----------------------------------------------------------------------------


class OnnxConvention(FrameworkConvention):
    """ONNX's recurrent operators, run by onnxruntime; see the module docstring for the graph."""

    name = "onnx"
    part_layouts = PARTS
    title = "ONNX"
    # measure and run_real need onnxruntime (and onnx to build the graph; the extra has both).
    module = "onnxruntime"
    install_hint = "pip install 'rnncalc[onnx]'"
    files_module = "rnncalc.frameworks.onnx_files"
    object_packages = ("onnx",)
    objects = "an onnx.ModelProto"
    live_module = "rnncalc.frameworks.onnx_live"
    gate_order: ClassVar[Mapping[Cell, tuple[str, ...]]] = {
        Cell.RNN: ("i",),
        Cell.LSTM: ("i", "o", "f", "c"),
        Cell.GRU: ("z", "r", "h"),
    }
    gate_aliases: ClassVar[Mapping[Cell, Mapping[str, str]]] = {
        Cell.RNN: {"i": "h"},
        Cell.LSTM: {"c": "g"},
        Cell.GRU: {"h": "n"},
    }

    def is_installed(self) -> bool:
        """Both onnxruntime (:attr:`module`) and onnx, which builds the graph; neither needs the other."""
        import importlib.util

        try:
            return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))
        except (ImportError, ValueError):
            return False

    # --- analytic ----------------------------------------------------------------------

    def unsupported(self, spec: Spec) -> str | None:
        if spec.proj_size:
            return (
                "the ONNX LSTM operator has no projection (proj_size is PyTorch only; "
                "torch.onnx.export refuses it too)"
            )
        if spec.step:
            return (
                "ONNX has no cell operator; an RNN/LSTM/GRU node over a sequence of length 1 with "
                "initial_h (and initial_c) is the same computation with a time axis"
            )
        if custom_activations(spec):
            return (
                "rnncalc writes the operators' default activations (tanh, sigmoid gates; Relu for "
                "RNN); other activations attributes are not modelled (ONNX's HardSigmoid defaults "
                "to Keras 2's 0.2x + 0.5, not Keras 3's)"
            )
        if spec.go_backwards:
            return (
                "direction=reverse returns Y in input time order, while Keras's go_backwards returns "
                "the sequence reversed; the same output needs an extra ReverseSequence node"
            )
        if spec.stateful:
            return "stateful is a Keras layer option; an ONNX graph keeps no state between runs"
        if spec.unbatched:
            return (
                "the ONNX recurrent operators need a batch axis (X must have rank 3); "
                "exporters add one with Unsqueeze"
            )
        if spec.bidirectional and spec.merge_mode is not MergeMode.CONCAT:
            return (
                "the ONNX operators return the two directions apart on Y's direction axis and the "
                f"next layer reads them concatenated; merge_mode {spec.merge_mode.value} would need "
                "extra nodes, not an operator attribute"
            )
        return None

    def _model_name(self, spec: Spec) -> str:
        kind = _operator_kind(spec)
        return f"graph of {spec.num_layers} × {kind}" if spec.num_layers > 1 else kind

    def report(self, spec: Spec) -> FrameworkReport:
        model = self._model_name(spec)
        reason = self.unsupported(spec)
        if reason:
            return FrameworkReport(FRAMEWORK, model, reason=reason)
        first = first_input(spec)
        layers = self._block_layers(spec, first, LayerNames(first_numbered=True))
        # The graph input X: [T, N, I], or [N, T, I] with batch_first (Transposed in the graph).
        x: Shape = (
            (spec.batch_size, spec.seq_len, first)
            if spec.batch_first
            else (spec.seq_len, spec.batch_size, first)
        )
        return FrameworkReport(FRAMEWORK, model, layers, _outputs(spec), input_shape=x)

    def _block_layers(self, spec: Spec, input_size: Dim, names: LayerNames) -> tuple[LayerReport, ...]:
        """One :class:`LayerReport` per operator; its output shape is the operator's ``Y``."""
        kind = _operator_kind(spec)
        direction = BOTH_DIRECTIONS if spec.bidirectional else "forward"
        y = (spec.seq_len, spec.num_directions, spec.batch_size, spec.hidden_size)
        layers = []
        for _ in range(spec.num_layers):
            node = names.next(NODE_BASES[spec.cell])
            slots = onnx_slots(spec.cell, input_size, spec.hidden_size, spec.bias, spec.num_directions)
            weights = tuple(
                WeightRow(slot.name, f"{node}.{slot.name}", slot.shape, slot.role, direction)
                for slot in slots
            )
            layers.append(LayerReport(node, kind, y, weights))
            input_size = spec.num_directions * spec.hidden_size
        return tuple(layers)

    def totals(self, spec: Spec) -> FrameworkTotals:
        model = self._model_name(spec)
        reason = self.unsupported(spec)
        if reason:
            return FrameworkTotals(FRAMEWORK, model, reason=reason)
        per_input, constant = _layer_formula(spec.cell, spec.hidden_size, spec.bias, spec.num_directions)
        first = (
            Count(per_input, constant)
            if spec.input_size is None
            else Count(0, per_input * spec.input_size + constant)
        )
        later = Count(0, per_input * spec.num_directions * spec.hidden_size + constant)
        return FrameworkTotals(FRAMEWORK, model, first + later * (spec.num_layers - 1), _outputs(spec))

    def model_report(self, model: Model) -> FrameworkReport:
        kinds = [
            _operator_kind(part) if isinstance(part, Spec) else PARTS[part.kind].kind(part)
            for part in model.parts
        ]
        title = "graph: " + " → ".join(kinds)
        reason = model_unsupported(model, self.unsupported)
        if reason:
            return FrameworkReport(FRAMEWORK, title, reason=reason)
        first = model.layers[0]
        names = LayerNames(first_numbered=True)
        layers: list[LayerReport] = []
        size = first_input(model)
        sequences = True
        for index, part in enumerate(model.parts):
            if isinstance(part, Spec):
                layers.extend(self._block_layers(part, size, names))
                size = part.num_directions * part.hidden_size
                # The parts after a per_step: false head's block take its Y_h: [N, D*H].
                sequences = not (index == model.last_block and model.last_step)
                continue
            layout = PARTS[part.kind]
            node = names.next(layout.base) if layout.numbered else layout.base
            weights = rows(layout.slots(part, size), "", f"{node}.")
            size = part.features(size)
            shape = _time_major(first, size) if sequences else (first.batch_size, size)
            layers.append(LayerReport(node, layout.kind(part), shape, weights))
        lead = (first.batch_size, first.seq_len) if model.batch_first else (first.seq_len, first.batch_size)
        output = (*lead, size) if sequences else (first.batch_size, size)
        return FrameworkReport(FRAMEWORK, title, tuple(layers), (("output", output),))

    def bias_count(self, spec: Spec) -> int:
        """Named here, not counted from the report: a bidirectional operator's rows belong to no
        single direction. ``B`` holds ``Wb`` and ``Rb`` for each direction."""
        return 2 if spec.bias else 0

    def bias_note(self, spec: Spec) -> str:
        """Named here: one ``B`` tensor holds both vectors."""
        if not spec.bias:
            return "ONNX keeps no bias vector (no B input)"
        return "ONNX keeps two bias vectors per layer and direction (B = [Wb, Rb])"

    def model_notes(self, model: Model) -> tuple[str, ...]:
        return (
            ("ONNX's MatMul heads act on every time step of the last recurrent output",)
            if model.heads_unplaced
            else ()
        )

    def snippet(self, spec: Spec) -> str:
        from rnncalc.core.spec import describe_spec
        from rnncalc.frameworks.adapter import probe_spec

        if spec.input_size is None:
            raise SpecError("input_size", "is required to write code that builds the model")
        reason = self.unsupported(spec)
        if reason:
            return f"# ONNX cannot build this model ({describe_spec(spec)}):\n# {reason}.\n"
        head = f'"""ONNX: {describe_spec(spec)}. Written by rnncalc."""'
        notes = (_WEIGHTS_NOTE, _NODES_NOTES[spec.batch_first])
        return _snippet(spec_graph(probe_spec(spec)), head, notes, spec.batch_first)

    def model_snippet(self, model: Model) -> str:
        """The graph of :func:`model_graph` for the model at the probe sizes, built with
        ``onnx.helper``: its initializers are named as :meth:`model_report` names them."""
        from rnncalc.frameworks.adapter import probe_model
        from rnncalc.frameworks.snippet import model_header, model_unsupported_comment

        report = self.model_report(model)
        if report.reason:
            return model_unsupported_comment(self.title, model, report.model, report.reason)
        if model.input_size is None:
            raise SpecError("input_size", "is required to write code that builds the model")
        head = model_header(self.title, model, report.model).rstrip("\n")
        notes = (_MODEL_WEIGHTS_NOTE, _MODEL_NODES_NOTE)
        return _snippet(model_graph(probe_model(model)), head, notes, model.batch_first)

    def explain_notes(self, spec: Spec) -> tuple[str, ...]:
        gates = ", ".join(self.gate_order[spec.cell])
        rows = f"{GATES[spec.cell]}*H" if GATES[spec.cell] > 1 else "H"
        notes = [
            f"ONNX keeps one {OP_TYPES[spec.cell]} operator per layer, both directions in the same "
            f"tensors: W [num_directions, {rows}, input_size], R [num_directions, {rows}, H] and "
            f"B [num_directions, 2*{rows}], which is [Wb, Rb] per direction: an input and a "
            "recurrent bias, as PyTorch keeps. Matrices are (out, in), PyTorch's orientation.",
        ]
        if GATES[spec.cell] > 1:
            canonical = ", ".join(_CANONICAL_GATES[spec.cell])
            notes.append(f"Gate blocks are stacked {gates} (PyTorch: {canonical}).")
        if spec.cell is Cell.GRU:
            notes.append(
                "linear_before_reset=1 applies the reset gate to R_h h + Rb_h (PyTorch's GRU, Keras "
                "reset_after=True); 0 applies it to h before R_h (Keras reset_after=False) and still "
                "adds Rb_h, so B has 2*3*H values either way, one vector more than Keras keeps."
            )
        if spec.cell is Cell.LSTM:
            notes.append(
                "The LSTM operator also takes peepholes P [num_directions, 3*H]; neither PyTorch nor "
                "Keras has them, so rnncalc leaves them out. ONNX has no projection (proj_size)."
            )
        notes.append(
            "Y is [T, num_directions, N, H], the directions on their own axis; between layers rnncalc's "
            "graph Transposes and Reshapes it to [T, N, num_directions*H]. onnxruntime runs only "
            "layout=0 (time-major), so batch_first adds Transpose nodes around the operators."
        )
        return tuple(notes)

    # --- adapter -------------------------------------------------------------------------

    def _require(self) -> None:
        if not self.is_installed():
            raise FrameworkMissingError(
                f"onnx or onnxruntime is not installed; install them with: {self.install_hint}"
            )

    def input_shape(self, spec: Spec) -> tuple[int, ...]:
        assert spec.input_size is not None and spec.seq_len is not None and spec.batch_size is not None
        if spec.batch_first:
            return (spec.batch_size, spec.seq_len, spec.input_size)
        return (spec.seq_len, spec.batch_size, spec.input_size)

    def _checked_plan(self, spec: Spec) -> GraphPlan:
        reason = self.unsupported(spec)
        if reason:
            raise SpecError("framework", f"ONNX cannot express this spec: {reason}")
        if spec.input_size is None:
            raise SpecError("input_size", "is required to build a real model")
        return spec_graph(spec)

    def measure(self, spec: Spec, *, device: str = "cpu") -> Measured:
        """Build the canonical graph with zero weights, check it with ``onnx.checker`` (full
        check: shape inference too), run it once in onnxruntime and report the initializers'
        names, shapes and total size and the arrays onnxruntime returns."""
        import numpy as np

        from rnncalc.frameworks.adapter import probe_spec

        if device != "cpu":
            raise ValueError(f"onnxruntime runs on the CPU here; device {device!r} is PyTorch only")
        self._require()
        probe = probe_spec(spec)
        plan = self._checked_plan(probe)
        model = build(plan, {})
        outputs = run(model, {"X": np.zeros(self.input_shape(probe), dtype=np.float32)})
        return _measured(model, outputs, probe)

    def measure_model(self, model: Model) -> Measured:
        import numpy as np

        from rnncalc.core.model import override
        from rnncalc.frameworks.adapter import PROBE_BATCH, PROBE_SEQ_LEN

        self._require()
        for index, spec in enumerate(model.layers):
            reason = self.unsupported(spec)
            if reason:
                raise SpecError("framework", f"ONNX cannot express this model: layers[{index}]: {reason}")
        if model.input_size is None:
            raise SpecError("input_size", "is required to build a real model")
        batch = model.batch_size or PROBE_BATCH
        seq_len = model.seq_len or PROBE_SEQ_LEN
        probe = model.layers[0].replace(batch_size=batch, seq_len=seq_len)
        sized = override(model, {"batch_size": batch, "seq_len": seq_len})
        plan = model_graph(sized)
        (graph_input,) = plan.inputs
        built = build(plan, {})
        zeros = np.zeros(_concrete(graph_input), dtype=graph_input.dtype)
        outputs = run(built, {graph_input.name: zeros})
        return _measured(built, outputs, probe)

    def run_model_real(self, model: Model, weights: Mapping[str, Any], x: Any) -> Arrays:
        """onnxruntime's ``output`` of the model's graph (:func:`model_graph`) with these
        initializers, every one of them given."""
        import numpy as np

        self._require()
        reason = self.model_report(model).reason
        if reason:
            raise SpecError("framework", f"ONNX cannot express this model: {reason}")
        plan = model_graph(model)
        names = {tensor.name for tensor in plan.initializers}
        missing = sorted(names - set(weights)) or sorted(set(weights) - names)
        if missing:
            raise KeyError(f"initializer {missing[0]!r} is missing or not in the graph")
        (graph_input,) = plan.inputs
        feed = np.ascontiguousarray(x, dtype=graph_input.dtype)
        return {"output": run(build(plan, weights), {graph_input.name: feed})["output"]}

    def run_real(self, spec: Spec, weights: Mapping[str, Any], x: Any) -> Arrays:
        """onnxruntime's ``Y``, ``Y_h`` (``Y_c``) for ``x`` with these initializers; a batch or
        length the spec leaves unknown is read from ``x``."""
        import numpy as np

        self._require()
        xs = np.asarray(x, dtype=np.float32)
        if xs.ndim == 3:
            batch, seq_len = (xs.shape[0], xs.shape[1]) if spec.batch_first else (xs.shape[1], xs.shape[0])
            spec = spec.replace(batch_size=spec.batch_size or batch, seq_len=spec.seq_len or seq_len)
        return run(build(self._checked_plan(spec), weights), {"X": xs})

    # --- weights -------------------------------------------------------------------------

    def canonical_part(
        self, spec: Spec, weights: Mapping[str, Any], layer: int, direction: int, part: Part
    ) -> Blocks | None:
        """ONNX ``W``/``R`` stack both directions ``[D, gates*H, in]``: a direction's part is
        ``W[d]`` or ``R[d]`` in gate blocks; ``B[d]`` is the input bias ``Wb`` then the
        recurrent bias ``Rb``. No projection."""
        from rnncalc import reference

        tensors = {"w_x": "W", "w_h": "R", "b_x": "B", "b_h": "B"}
        if part not in tensors:
            return None
        rows = {row.name: row.path for row in self.report(spec).layers[layer].weights}
        if tensors[part] not in rows:  # bias=False: no B
            return None
        tensor = reference.lookup(weights, rows[tensors[part]])[direction]
        if part in ("b_x", "b_h"):
            half = tensor.shape[0] // 2
            tensor = tensor[:half] if part == "b_x" else tensor[half:]
        return reference.canonical_blocks(tensor, self, spec.cell)

    def tensor_from_canonical(self, spec: Spec, layer: int, row: WeightRow, part: PartGetter) -> Array:
        """``W``, ``R`` or ``B`` of an operator: every direction's blocks stacked in ONNX's gate
        order, each copied once into the tensor."""
        import numpy as np

        from rnncalc import reference

        parts: dict[str, tuple[Part, ...]] = {"W": ("w_x",), "R": ("w_h",), "B": ("b_x", "b_h")}
        names = parts[row.name]
        first = reference.held(part, 0, names[0])
        rows = GATES[spec.cell] * first[0].shape[0]
        out = np.empty((spec.num_directions, rows * len(names), *first[0].shape[1:]), dtype=reference.DTYPE)
        for direction in range(spec.num_directions):
            for index, name in enumerate(names):
                blocks = reference.held(part, direction, name)
                reference.stacked(
                    blocks, self, spec.cell, out=out[direction, index * rows : (index + 1) * rows]
                )
        return out

    def reference_forward(self, spec: Spec, weights: StackWeights, x: Any) -> Arrays:
        """The numpy reference in ONNX's layout: ``Y`` with the directions on axis 1 of the last
        layer's output, ``Y_h`` (``Y_c``) stacking every layer's directions; batch first with
        ``batch_first``."""
        import numpy as np

        from rnncalc.reference import run_stack

        reason = self.unsupported(spec)
        if reason:
            raise SpecError("framework", f"ONNX cannot express this spec: {reason}")
        xs = np.asarray(x, dtype=np.float32)
        if spec.batch_first:
            xs = xs.transpose(1, 0, 2)
        results = run_stack(spec, weights, xs)
        named = {
            "Y": np.stack([r.sequence for r in results[-1]], axis=1),
            "Y_h": np.stack([r.h for layer in results for r in layer]),
        }
        if spec.cell is Cell.LSTM:
            named["Y_c"] = np.stack([r.c for layer in results for r in layer if r.c is not None])
        if spec.batch_first:
            named["Y"] = named["Y"].transpose(2, 0, 1, 3)
            for state in ("Y_h", "Y_c"):
                if state in named:
                    named[state] = named[state].transpose(1, 0, 2)
        return {name: np.ascontiguousarray(value) for name, value in named.items()}


# --- Building and running (imports onnx / onnxruntime) -------------------------------------------


class TooLargeError(ConversionError, ValueError):
    """Weights past protobuf's 2 GiB for one in-memory model: one line at the command line."""


def build(plan: GraphPlan, weights: Mapping[str, Any]) -> onnx.ModelProto:
    """The checked ``onnx.ModelProto`` of ``plan``; initializers take ``weights[name]`` (zeros
    for a name not given). ``onnx.checker`` runs with ``full_check`` (shape inference too)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    size = sum(math.prod(_concrete(tensor)) for tensor in plan.initializers)
    if size * 4 >= PROTOBUF_LIMIT:
        raise TooLargeError(
            f"{size:,} float32 weights do not fit in one in-memory ONNX model (protobuf's 2 GiB "
            "limit), which building or running them needs; convert writes such a model with "
            "external data (convert --no-verify)"
        )
    types = {"float32": onnx.TensorProto.FLOAT, "int64": onnx.TensorProto.INT64}
    initializers = []
    for tensor in plan.initializers:
        shape = _concrete(tensor)
        value = np.asarray(weights[tensor.name], dtype=np.float32) if tensor.name in weights else None
        if value is None:
            value = np.zeros(shape, dtype=np.float32)
        elif value.shape != shape:
            raise ValueError(f"initializer {tensor.name!r} has shape {value.shape}, the graph needs {shape}")
        initializers.append(numpy_helper.from_array(value, tensor.name))
    graph = helper.make_graph(
        [
            helper.make_node(n.op_type, list(n.inputs), list(n.outputs), n.name, **dict(n.attributes))
            for n in plan.nodes
        ],
        "rnncalc",
        [helper.make_tensor_value_info(t.name, types[t.dtype], list(t.shape)) for t in plan.inputs],
        [helper.make_tensor_value_info(t.name, types[t.dtype], list(t.shape)) for t in plan.outputs],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="rnncalc")
    onnx.checker.check_model(model, full_check=True)
    return model


def run(model: onnx.ModelProto, feeds: Mapping[str, Any]) -> Arrays:
    """Run ``model`` in onnxruntime (CPU) on ``feeds``; outputs by graph output name."""
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    arrays = session.run(None, {name: np.ascontiguousarray(value) for name, value in feeds.items()})
    return {
        output.name: np.asarray(array) for output, array in zip(session.get_outputs(), arrays, strict=True)
    }


def _concrete(tensor: Tensor) -> tuple[int, ...]:
    """``tensor``'s shape, which must hold numbers only (no unknown batch, time or input size)."""
    if not all(isinstance(dim, int) for dim in tensor.shape):
        raise ValueError(f"{tensor.name} has the unknown dimensions of {format_shape(tensor.shape)}")
    return cast(tuple[int, ...], tensor.shape)


def _measured(model: onnx.ModelProto, outputs: Arrays, probe: Spec) -> Measured:
    """The initializers (name, shape, total size) and the arrays onnxruntime returned."""
    from rnncalc.frameworks.adapter import Measured

    weights = tuple((init.name, tuple(int(d) for d in init.dims)) for init in model.graph.initializer)
    total = sum(math.prod(shape) for _, shape in weights)
    shapes = tuple((name, tuple(int(d) for d in array.shape)) for name, array in outputs.items())
    return Measured(FRAMEWORK, total, weights, shapes, probe)


# --- The snippet ---------------------------------------------------------------------------------


def _literal(value: Any) -> str:
    """A Python literal with strings in double quotes (names here never hold quotes)."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    return repr(value)


#: The line length of ruff's and black's defaults: the scripts come out already formatted.
LINE_LENGTH = 88


def _call(name: str, args: list[str], indent: str, after: str = "") -> list[str]:
    """``name(a, b)`` on one line, or one argument per line when that is too long."""
    line = f"{indent}{name}({', '.join(args)}){after}"
    if len(line) <= LINE_LENGTH:
        return [line]
    return [f"{indent}{name}(", *(f"{indent}    {arg}," for arg in args), f"{indent}){after}"]


#: The comment over a spec script's initializers.
_WEIGHTS_NOTE = (
    "# The weights: W [directions, gates*H, in], R [directions, gates*H, H], B [directions, 2*gates*H].",
)
#: The comment over a spec script's nodes, time-major and batch-first.
_NODES_NOTES = {
    False: (
        "# One operator per layer, time-major (layout 0). Outputs: the last layer's Y [T, D, N, H]",
        "# and every layer's final states stacked like PyTorch's h_n: Y_h [layers*D, N, H].",
    ),
    True: (
        "# One operator per layer, time-major (layout 0: onnxruntime runs no other), between",
        "# Transposes: the outputs are layout 1's, the last layer's Y [N, T, D, H] and every",
        "# layer's final states stacked in PyTorch's h_n order, Y_h [N, layers*D, H].",
    ),
}
#: The comments over a whole model's initializers and nodes.
_MODEL_WEIGHTS_NOTE = (
    "# The weights, zeros here: W, R, B of each recurrent operator (W [directions, gates*H, in]),",
    "# then each part's tensors, named by its node.",
)
_MODEL_NODES_NOTE = (
    "# The chain, time-major (layout 0: onnxruntime runs no other): Gather for the embedding, one",
    "# operator per recurrent layer with Transpose and Reshape after it, LayerNormalization,",
    "# Dropout (the identity at inference), MatMul and Add per dense layer and its activation.",
)


def _snippet(
    plan: GraphPlan, head: str, notes: tuple[tuple[str, ...], tuple[str, ...]], first_is_batch: bool
) -> str:
    """A script building ``plan`` with ``onnx.helper``: checker, one onnxruntime run on zeros,
    then initializer names and shapes, output shapes and (last line) the parameter count.
    ``head`` is its docstring line, ``notes`` the comments over the initializers and nodes."""
    lines = [
        head,
        "",
        "import numpy as np",
        "import onnx",
        "import onnxruntime",
        "from onnx import TensorProto, helper, numpy_helper",
        "",
        *notes[0],
        "initializers = [",
    ]
    for tensor in plan.initializers:
        zeros = f"np.zeros({format_shape(tensor.shape)}, np.float32)"
        lines += _call("numpy_helper.from_array", [zeros, _literal(tensor.name)], "    ", ",")
    lines += [
        "]",
        *notes[1],
        "nodes = [",
    ]
    for node in plan.nodes:
        args = [_literal(node.op_type), _literal(node.inputs), _literal(node.outputs)]
        args.append(f"name={_literal(node.name)}")
        args += [f"{key}={_literal(value)}" for key, value in node.attributes]
        lines += _call("helper.make_node", args, "    ", ",")
    lines += ["]"]
    (graph_input,) = plan.inputs
    layout = "(batch, time" if first_is_batch else "(time, batch"
    layout += "): token ids" if graph_input.dtype == "int64" else ", features)"
    elem = "TensorProto.INT64" if graph_input.dtype == "int64" else "TensorProto.FLOAT"
    lines.append(
        f'inputs = [helper.make_tensor_value_info("{graph_input.name}", {elem}, {list(graph_input.shape)})]'
    )
    lines.append("outputs = [")
    for tensor in plan.outputs:
        lines.append(
            f'    helper.make_tensor_value_info("{tensor.name}", TensorProto.FLOAT, {list(tensor.shape)}),'
        )
    lines += [
        "]",
        'graph = helper.make_graph(nodes, "rnncalc", inputs, outputs, initializers)',
        f'model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", {OPSET})])',
        "onnx.checker.check_model(model, full_check=True)",
        "",
        "for initializer in model.graph.initializer:",
        "    print(initializer.name, tuple(initializer.dims))",
        "session = onnxruntime.InferenceSession(",
        '    model.SerializeToString(), providers=["CPUExecutionProvider"]',
        ")",
        f"x = np.zeros({format_shape(graph_input.shape)}, np.{graph_input.dtype})  # {layout}",
        f'results = session.run(None, {{"{graph_input.name}": x}})',
        "for output, result in zip(session.get_outputs(), results):",
        "    print(output.name, result.shape)",
        "print(sum(int(np.prod(initializer.dims)) for initializer in model.graph.initializer))",
    ]
    return "\n".join(lines) + "\n"


CONVENTION = OnnxConvention()
