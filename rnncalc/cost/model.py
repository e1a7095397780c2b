"""Compute and memory cost of a recurrent stack, derived from the weight shapes the calculator gives.

Pure: imports no framework and no numpy. Conventions (stated in :data:`CONVENTION` and
docs/cost.md):

* A MAC is one multiply-accumulate. Each weight matrix of shape ``(out, in)`` (Keras stores it
  transposed, ``(in, out)``: same count) costs ``out·in`` MACs per time step and sample.
* FLOPs = 2 × MACs + bias adds + elementwise ops.
* Bias adds: one add per bias element per step (PyTorch keeps two bias vectors, Keras one,
  Keras GRU with ``reset_after=True`` two).
* Elementwise ops, one op per element: the sums joining the input and recurrent products (one per
  gate row), gate activations (sigmoid, tanh, relu each count 1), and the gating/state update
  (hadamard products, adds, the ``1 - z`` of GRU).
* Not counted: data movement, concatenation of directions, Keras ``merge_mode`` arithmetic,
  dropout, masking, initial-state creation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from rnncalc import frameworks
from rnncalc.core.calc import GATES
from rnncalc.core.errors import SpecError
from rnncalc.core.model import Dense, Model, override
from rnncalc.core.report import FrameworkReport, LayerReport, Role, WeightRow
from rnncalc.core.spec import Cell, Spec, spec_from_mapping
from rnncalc.core.symbolic import Shape, shape_count

COST_SCHEMA_VERSION = 1


class DType(str, Enum):
    FLOAT32 = "float32"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"
    INT8 = "int8"


#: Bytes per element. int8 counts the values only (no quantization scales or zero points).
DTYPE_BYTES: dict[DType, int] = {DType.FLOAT32: 4, DType.FLOAT16: 2, DType.BFLOAT16: 2, DType.INT8: 1}

#: Activation evaluations per step, in units of the hidden size H (1 op per element):
#: RNN tanh/relu(h); LSTM sigmoid(i, f, o) + tanh(g) + tanh(c); GRU sigmoid(r, z) + tanh(n).
ACTIVATIONS_PER_UNIT: dict[Cell, int] = {Cell.RNN: 1, Cell.LSTM: 5, Cell.GRU: 3}

#: Gating and state-update ops per step, in units of H (hadamards, adds, subtractions):
#: LSTM c' = f⊙c + i⊙g (3), h' = o⊙tanh(c') (1);
#: GRU r⊙(W_hn·h + b_hn) (or r⊙h before the product, Keras reset_after=False) (1),
#: h' = (1 - z)⊙n + z⊙h (4).
GATING_PER_UNIT: dict[Cell, int] = {Cell.RNN: 0, Cell.LSTM: 4, Cell.GRU: 5}

#: Extra state carried between steps besides h, in units of H: the LSTM cell state c.
EXTRA_STATE_PER_UNIT: dict[Cell, int] = {Cell.RNN: 0, Cell.LSTM: 1, Cell.GRU: 0}

#: What PyTorch saves for backward per time step, direction and sample besides the layer input,
#: in units of H: (gate activations, cell-specific extras). Measured with
#: ``torch.autograd.graph.saved_tensors_hooks`` (unique storages, parameters excluded, oneDNN off;
#: tests/test_cost_training.py measures it again for every cell):
#: RNN: nothing but ``h_{t-1}`` (the activation's output is ``h_t``, the next step's ``h_{t-1}``);
#: LSTM: σ(i), σ(f), tanh(g), σ(o) (4H), ``c_{t-1}`` and ``tanh(c_t)`` (2H);
#: GRU: r and z in one 3H block, ``W_hn·h + b_hn``, n and ``h_{t-1} − n`` (3H).
#: Every cell also keeps ``h_{t-1}`` (R wide: P with an LSTM projection, which adds its input
#: ``o⊙tanh(c_t)``, H).
#: The training-memory model is measured on PyTorch and applied to every registered convention
#: (Keras, Flax and ONNX get the same figures; none of them is measured): what a cell must keep
#: for its backward pass depends on the cell's equations, not on how a framework names weights.
SAVED_GATES_PER_UNIT: dict[Cell, int] = {Cell.RNN: 0, Cell.LSTM: 4, Cell.GRU: 3}
SAVED_EXTRAS_PER_UNIT: dict[Cell, int] = {Cell.RNN: 0, Cell.LSTM: 2, Cell.GRU: 3}
#: RNN's activation output is saved for every step, so the last state ``h_T`` is kept too: one more
#: state per sample and direction (measured as above).
SAVES_LAST_STATE: dict[Cell, bool] = {Cell.RNN: True, Cell.LSTM: False, Cell.GRU: False}

#: PyTorch's default CPU path runs ``nn.LSTM`` without projection through oneDNN
#: (``torch.backends.mkldnn``; RNN, GRU and projected LSTM run aten's kernels either way, measured);
#: a convention says so with :attr:`~rnncalc.core.convention.Convention.onednn_lstm`.
#: Per layer and direction it saves the layer input, the output sequence, ``h_0, c_0, h_n, c_n``
#: and one workspace instead of the per-step tensors above. The workspace follows oneDNN's
#: ``set_workspace_sizes`` (src/cpu/rnn/rnn_utils.hpp): seven float32 buffers, each rounded up to a
#: 4 KiB page, leading dimensions padded to 16 floats; in elements, for batch N, T steps, input I:
#: gates ``T·N·4H``, three of ``2(T+1)·N·max(I, H)``, two of ``2(T+1)·N·H`` and one of
#: ``(T+1)·N·H``. Fitted to measured sizes: within 6 % over 40 random shapes (tests re-measure).
#: Without bias PyTorch also saves a copy of both weight matrices (``4H·(I + H)``).
ONEDNN_PAGE_ELEMENTS = 4096 // 4
ONEDNN_LD_ELEMENTS = 64 // 4


def onednn_workspace(batch: int, steps: int, input_size: int, hidden: int) -> int:
    """Elements (float32) of the oneDNN LSTM workspace of one layer and direction (model above)."""

    def padded(width: int) -> int:
        return -(-width // ONEDNN_LD_ELEMENTS) * ONEDNN_LD_ELEMENTS

    def page(elements: int) -> int:
        return -(-elements // ONEDNN_PAGE_ELEMENTS) * ONEDNN_PAGE_ELEMENTS

    states = 2 * (steps + 1) * batch
    widest = padded(max(input_size, hidden))
    buffers = [steps * batch * padded(4 * hidden)]
    buffers += [states * widest] * 3 + [states * padded(hidden)] * 2 + [states // 2 * padded(hidden)]
    return sum(page(b) for b in buffers)


class Optimizer(str, Enum):
    """Optimizer state kept per parameter during training."""

    NONE = "none"
    SGD = "sgd"  # SGD with momentum: one buffer (plain SGD keeps nothing: use none)
    ADAM = "adam"  # exp_avg and exp_avg_sq


#: Optimizer state per parameter, in parameters (torch.optim.SGD momentum_buffer; Adam's two moments).
#: Not counted: the scalar step counter (PyTorch: one float32 per tensor; Keras: one per optimizer).
OPTIMIZER_STATE_PER_PARAM: dict[Optimizer, int] = {Optimizer.NONE: 0, Optimizer.SGD: 1, Optimizer.ADAM: 2}

CONVENTION = (
    "MAC = one multiply-accumulate; each weight matrix (out, in) costs out·in MACs per step and "
    "sample. FLOPs = 2 × MACs + bias adds + elementwise ops, where elementwise ops are the sums "
    "joining input and recurrent products (one per gate row), activations (sigmoid/tanh/relu: 1 op "
    "per element) and gating (hadamards, adds, 1 - z). Not counted: data movement, concatenation, "
    "Keras merge_mode arithmetic, dropout, masking. Training FLOPs = 3 × FLOPs: backward = 2 × "
    "forward (each product's input and weight gradients are products of the forward's size; "
    "elementwise ops taken at the same ratio). Memory assumes padded tensors "
    "(batch × longest sequence)."
)

#: Training FLOPs = forward + backward, backward = 2 × forward: a product ``Y = W·X`` needs
#: ``dX = Wᵀ·dY`` and ``dW = dY·Xᵀ``, each as large as the forward product (exact for the matmuls
#: when the layer input and initial states need gradients; PyTorch skips layer 0's input gradient
#: for data and the zero initial state's); elementwise work is taken at the same ratio.
TRAINING_FLOPS_FACTOR = 3


@dataclass(frozen=True)
class StepCost:
    """Operations for one time step of one sample (or a sum/multiple of such steps)."""

    macs: int = 0
    bias_adds: int = 0
    product_sums: int = 0
    activations: int = 0
    gating: int = 0

    @property
    def elementwise(self) -> int:
        return self.product_sums + self.activations + self.gating

    @property
    def flops(self) -> int:
        return 2 * self.macs + self.bias_adds + self.elementwise

    def __add__(self, other: StepCost) -> StepCost:
        return StepCost(
            self.macs + other.macs,
            self.bias_adds + other.bias_adds,
            self.product_sums + other.product_sums,
            self.activations + other.activations,
            self.gating + other.gating,
        )

    def times(self, factor: int) -> StepCost:
        return StepCost(
            self.macs * factor,
            self.bias_adds * factor,
            self.product_sums * factor,
            self.activations * factor,
            self.gating * factor,
        )

    @property
    def training_flops(self) -> int:
        """Forward plus backward: backward = 2 × forward (see :data:`CONVENTION`)."""
        return TRAINING_FLOPS_FACTOR * self.flops

    def to_dict(self) -> dict[str, int]:
        return {
            "macs": self.macs,
            "matmul_flops": 2 * self.macs,
            "bias_adds": self.bias_adds,
            "product_sums": self.product_sums,
            "activations": self.activations,
            "gating": self.gating,
            "elementwise": self.elementwise,
            "flops": self.flops,
            "training_matmul_flops": TRAINING_FLOPS_FACTOR * 2 * self.macs,
            "training_flops": self.training_flops,
        }


def sum_steps(costs: Any) -> StepCost:
    result = StepCost()
    for cost in costs:
        result = result + cost
    return result


@dataclass(frozen=True)
class MatMul:
    """One weight matrix's product per step and sample: ``out·in`` MACs."""

    weight: str
    shape: Shape
    macs: int


@dataclass(frozen=True)
class DirectionCost:
    """One direction of one layer: its matrix products and its per-step cost."""

    layer: str
    direction: str
    input_size: int
    recurrent_size: int
    hidden_size: int
    gate_rows: int
    matmuls: tuple[MatMul, ...]
    step: StepCost
    projection_input: int  # H when an LSTM projection follows the cell, else 0

    def to_dict(self, seq_len: int, steps: int) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "direction": self.direction,
            "input_size": self.input_size,
            "matmuls": [{"weight": m.weight, "shape": list(m.shape), "macs": m.macs} for m in self.matmuls],
            "per_step": self.step.to_dict(),
            "per_sequence": self.step.times(seq_len).to_dict(),
            "total": self.step.times(steps).to_dict(),
        }


@dataclass(frozen=True)
class Workload:
    """How much data the stack runs on: batch, (longest) sequence length, real lengths."""

    batch: int
    seq_len: int
    lengths: tuple[int, ...] | None = None
    assumed: tuple[str, ...] = ()  # spec fields that were unknown and set to 1

    @property
    def steps(self) -> int:
        """Time steps each direction of each layer runs, summed over the batch."""
        return sum(self.lengths) if self.lengths else self.batch * self.seq_len

    @property
    def padded_steps(self) -> int:
        return self.batch * self.seq_len

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "seq_len": self.seq_len,
            "lengths": list(self.lengths) if self.lengths else None,
            "steps_per_direction": self.steps,
            "padded_steps": self.padded_steps,
            "assumed": list(self.assumed),
        }


def workload(spec: Spec, lengths: tuple[int, ...] | None = None) -> Workload:
    """The batch and lengths a cost refers to; unknown batch or time default to 1 (and say so)."""
    assumed: list[str] = []
    if lengths and spec.step:
        raise SpecError("lengths", "does not apply with step: a cell runs exactly one time step")
    if lengths:
        if spec.unbatched and len(lengths) != 1:
            raise SpecError("lengths", f"unbatched input is one sequence, got {len(lengths)} lengths")
        if spec.batch_size is not None and spec.batch_size != len(lengths):
            raise SpecError("lengths", f"{len(lengths)} lengths given but batch_size is {spec.batch_size}")
        longest = max(lengths)
        if spec.seq_len is not None and spec.seq_len < longest:
            raise SpecError("lengths", f"length {longest} exceeds seq_len {spec.seq_len}")
        return Workload(len(lengths), spec.seq_len or longest, tuple(lengths))
    batch = 1 if spec.unbatched else spec.batch_size
    if batch is None:
        batch = 1
        assumed.append("batch_size")
    seq_len = spec.seq_len
    if seq_len is None:
        seq_len = 1
        if not spec.step:  # a cell's one step is exactly one time step, not an assumption
            assumed.append("seq_len")
    return Workload(batch, seq_len, None, tuple(assumed))


@dataclass(frozen=True)
class Memory:
    """Element counts of what a forward pass (and backpropagation through time) keeps alive."""

    params: int
    #: Inference (no gradients): returned tensors, carried states, the output sequences of all
    #: layers but the last (materialized between layers), and one step's gate pre-activations.
    inference: tuple[tuple[str, int], ...]
    #: What the forward pass saves for backward (PyTorch's aten kernels, oneDNN off): the layer
    #: inputs, ``h_{t-1}`` of every step, the gate activations and the cell-specific extras of
    #: :data:`SAVED_GATES_PER_UNIT` and :data:`SAVED_EXTRAS_PER_UNIT`.
    training: tuple[tuple[str, int], ...]
    #: The same on PyTorch's default CPU path when it runs oneDNN (LSTM without projection), else
    #: empty: layer inputs, output sequences, states and the oneDNN workspace.
    onednn: tuple[tuple[str, int], ...] = ()

    @property
    def inference_elements(self) -> int:
        return sum(count for _, count in self.inference)

    @property
    def training_elements(self) -> int:
        return sum(count for _, count in self.training)

    @property
    def onednn_elements(self) -> int:
        return sum(count for _, count in self.onednn)

    def param_bytes(self, dtype: DType) -> int:
        return self.params * DTYPE_BYTES[dtype]

    def optimizer_bytes(self, dtype: DType, optimizer: Optimizer) -> int:
        return OPTIMIZER_STATE_PER_PARAM[optimizer] * self.param_bytes(dtype)

    def inference_bytes(self, dtype: DType) -> int:
        """Parameters plus inference activations."""
        return (self.params + self.inference_elements) * DTYPE_BYTES[dtype]

    def training_bytes(self, dtype: DType, optimizer: Optimizer = Optimizer.NONE) -> int:
        """Parameters, their gradients, the optimizer state and the saved activations."""
        size = DTYPE_BYTES[dtype]
        return (2 * self.params + self.training_elements) * size + self.optimizer_bytes(dtype, optimizer)

    def onednn_training_bytes(self, dtype: DType, optimizer: Optimizer = Optimizer.NONE) -> int | None:
        """:meth:`training_bytes` on PyTorch's default CPU path (oneDNN); None when it does not apply."""
        if not self.onednn:
            return None
        size = DTYPE_BYTES[dtype]
        return (2 * self.params + self.onednn_elements) * size + self.optimizer_bytes(dtype, optimizer)

    def to_dict(self, dtype: DType, optimizer: Optimizer = Optimizer.NONE) -> dict[str, Any]:
        size = DTYPE_BYTES[dtype]
        onednn: dict[str, Any] | None = None
        if self.onednn:
            onednn = {
                "activations": {name: count * size for name, count in self.onednn},
                "activation_bytes": self.onednn_elements * size,
                "total_bytes": self.onednn_training_bytes(dtype, optimizer),
            }
        return {
            "dtype": dtype.value,
            "param_bytes": {d.value: self.param_bytes(d) for d in DType},
            "inference": {
                "activations": {name: count * size for name, count in self.inference},
                "activation_bytes": self.inference_elements * size,
                "total_bytes": self.inference_bytes(dtype),
            },
            "training": {
                "activations": {name: count * size for name, count in self.training},
                "activation_bytes": self.training_elements * size,
                "gradient_bytes": self.param_bytes(dtype),
                "optimizer": optimizer.value,
                "optimizer_bytes": self.optimizer_bytes(dtype, optimizer),
                "total_bytes": self.training_bytes(dtype, optimizer),
                "onednn": onednn,
            },
        }


@dataclass(frozen=True)
class HeadCost:
    """A dense head of a model: its product per application and how often it runs per sample."""

    layer: str
    units: int
    step: StepCost  # one application: units·in MACs, units bias adds
    per_sample: int  # applications per sample: seq_len (every time step) or 1 (last output)

    @property
    def input_size(self) -> int:
        return self.step.macs // self.units

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "units": self.units,
            "per_application": self.step.to_dict(),
            "per_sample": self.per_sample,
        }


@dataclass(frozen=True)
class FrameworkCost:
    """One framework's cost for a spec and workload, or why the framework cannot build it."""

    framework: str  # registry name
    model: str
    workload: Workload
    directions: tuple[DirectionCost, ...] = ()
    params: int = 0
    memory: Memory | None = None
    reason: str | None = None
    heads: tuple[HeadCost, ...] = ()  # dense heads of a model; an embedding lookup costs no MACs

    @property
    def supported(self) -> bool:
        return self.reason is None

    @property
    def step(self) -> StepCost:
        """One time step of every layer and direction, one sample."""
        return sum_steps(d.step for d in self.directions)

    @property
    def per_sample_heads(self) -> StepCost:
        """Every dense head's work for one sample (they run on the padded output)."""
        return sum_steps(head.step.times(head.per_sample) for head in self.heads)

    @property
    def per_sequence(self) -> StepCost:
        """One sample of length ``seq_len`` through every layer and direction (and head)."""
        return self.step.times(self.workload.seq_len) + self.per_sample_heads

    @property
    def steps(self) -> int:
        """Steps each layer and direction runs over the batch: with lengths, the real ones where
        the framework skips the padding (PyTorch's packed sequences), else the padded batch."""
        wl = self.workload
        return wl.steps if frameworks.get(self.framework).skips_padding else wl.padded_steps

    @property
    def total(self) -> StepCost:
        """The whole batch (see :attr:`steps`)."""
        return self.step.times(self.steps) + self.per_sample_heads.times(self.workload.batch)

    def to_dict(self, dtype: DType, optimizer: Optimizer = Optimizer.NONE) -> dict[str, Any]:
        if not self.supported or self.memory is None:
            return {"supported": False, "reason": self.reason, "model": self.model}
        wl = self.workload
        return {
            "supported": True,
            "reason": None,
            "model": self.model,
            "params": self.params,
            "layers": [d.to_dict(wl.seq_len, self.steps) for d in self.directions],
            "heads": [head.to_dict() for head in self.heads],
            "per_step": self.step.to_dict(),
            "per_sequence": self.per_sequence.to_dict(),
            "total": self.total.to_dict(),
            "memory": self.memory.to_dict(dtype, optimizer),
        }


@dataclass(frozen=True)
class CostReport:
    """The chosen frameworks' costs for one spec (or model), workload and dtype."""

    spec: Spec | Model
    workload: Workload
    dtype: DType
    frameworks: tuple[FrameworkCost, ...]
    optimizer: Optimizer = Optimizer.NONE

    def framework(self, name: str) -> FrameworkCost:
        return next(cost for cost in self.frameworks if cost.framework == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": COST_SCHEMA_VERSION,
            "convention": CONVENTION,
            "model" if isinstance(self.spec, Model) else "spec": self.spec.to_dict(),
            "workload": self.workload.to_dict(),
            "dtype": self.dtype.value,
            "optimizer": self.optimizer.value,
            "frameworks": {c.framework: c.to_dict(self.dtype, self.optimizer) for c in self.frameworks},
        }


# --- computing ---------------------------------------------------------------------------


def concrete_spec(spec: Spec, wl: Workload) -> Spec:
    """``spec`` with the workload's batch and (longest) length filled in, so shapes are numbers."""
    changes: dict[str, Any] = {}
    if spec.seq_len != wl.seq_len and not spec.step:
        changes["seq_len"] = wl.seq_len
    if not spec.unbatched and spec.batch_size != wl.batch:
        changes["batch_size"] = wl.batch
    return spec.replace(**changes) if changes else spec


def cost(
    spec: Spec | Model | Mapping[str, Any],
    lengths: tuple[int, ...] | None = None,
    dtype: DType = DType.FLOAT32,
    optimizer: Optimizer = Optimizer.NONE,
    names: Iterable[str] | None = None,
) -> CostReport:
    """Compute and memory cost of ``spec`` in each chosen framework (registry names; None: every
    registered one) for its batch and sequence length."""
    if isinstance(spec, Model):
        return model_cost(spec, lengths, dtype, optimizer, names)
    if not isinstance(spec, Spec):
        spec = spec_from_mapping(spec)
    if spec.input_size is None:
        raise SpecError("input_size", "is required for costs: the first layer's products depend on it")
    wl = workload(spec, lengths)
    concrete = concrete_spec(spec, wl)
    costs = tuple(
        framework_cost(convention.report(concrete), spec, wl) for convention in frameworks.select(names)
    )
    return CostReport(spec, wl, dtype, costs, optimizer)


def framework_cost(report: FrameworkReport, spec: Spec, wl: Workload) -> FrameworkCost:
    """Costs of one framework's report of ``spec`` (with concrete batch and time)."""
    if not report.supported:
        return FrameworkCost(report.framework, report.model, wl, reason=report.reason)
    directions: list[DirectionCost] = []
    for layer in report.layers:
        for direction in dict.fromkeys(w.direction for w in layer.weights):
            rows = [w for w in layer.weights if w.direction == direction]
            directions += direction_costs(layer.name, direction, rows, spec)
    params = report.total.value
    return FrameworkCost(
        report.framework,
        report.model,
        wl,
        tuple(directions),
        params,
        _memory(report, tuple(directions), spec, wl, params),
    )


def directions_held(weights: list[WeightRow], spec: Spec) -> int:
    """How many layer-directions the recurrent kernels among ``weights`` hold: each holds
    ``gates·H × R`` of them (R = P with a projection), however a framework splits or stacks them
    (Flax: one kernel per gate; ONNX: both directions in one tensor)."""
    recurrent = sum(w.params.value for w in weights if w.role is Role.RECURRENT_KERNEL)
    return recurrent // (GATES[spec.cell] * spec.hidden_size * (spec.proj_size or spec.hidden_size))


def direction_costs(layer: str, direction: str, weights: list[WeightRow], spec: Spec) -> list[DirectionCost]:
    """Per-step cost of one direction, derived from its weight shapes (any framework's); two,
    forward and backward, when its tensors hold both directions (ONNX), each taking half."""
    cell, hidden = spec.cell, spec.hidden_size
    held = directions_held(weights, spec)
    by_role: dict[Role, list[WeightRow]] = {}
    for weight in weights:
        by_role.setdefault(weight.role, []).append(weight)
    gate_rows = GATES[cell] * hidden
    # Sizes follow from the kernels' element counts, whichever way round the framework stores them.
    input_size = sum(w.params.value for w in by_role[Role.INPUT_KERNEL]) // (gate_rows * held)
    recurrent_size = sum(w.params.value for w in by_role[Role.RECURRENT_KERNEL]) // (gate_rows * held)
    matmuls = tuple(
        MatMul(w.name, w.shape, w.params.value // held)
        for w in weights
        if w.role in (Role.INPUT_KERNEL, Role.RECURRENT_KERNEL, Role.PROJECTION)
    )
    step = StepCost(
        macs=sum(m.macs for m in matmuls),
        bias_adds=sum(w.params.value for w in by_role.get(Role.BIAS, [])) // held,
        product_sums=gate_rows,
        activations=ACTIVATIONS_PER_UNIT[cell] * hidden,
        gating=GATING_PER_UNIT[cell] * hidden,
    )
    projection_input = hidden if Role.PROJECTION in by_role else 0
    names = (direction,) if held == 1 else ("forward", "backward")
    return [
        DirectionCost(
            layer, name, input_size, recurrent_size, hidden, gate_rows, matmuls, step, projection_input
        )
        for name in names
    ]


def _memory(
    report: FrameworkReport, directions: tuple[DirectionCost, ...], spec: Spec, wl: Workload, params: int
) -> Memory:
    cell = spec.cell
    rows = wl.padded_steps  # batch × longest sequence
    outputs = sum(shape_count(shape).value for _, shape in report.outputs)
    states = sum(
        wl.batch * (d.recurrent_size + EXTRA_STATE_PER_UNIT[cell] * d.hidden_size) for d in directions
    )
    between = sum(shape_count(layer.output_shape).value for layer in report.layers[:-1])
    first_layer = [d for d in directions if d.layer == report.layers[0].name]
    gates = wl.batch * sum(d.gate_rows for d in first_layer)
    inference = (
        ("outputs", outputs),
        ("states", states),
        ("layer_sequences", between),
        ("gate_buffer", gates),
    )
    # Both directions of a layer read the same input tensor: saved once.
    layer_inputs = rows * sum({d.layer: d.input_size for d in directions}.values())
    last_states = wl.batch * sum(d.recurrent_size for d in directions) if SAVES_LAST_STATE[cell] else 0
    training = (
        ("layer_inputs", layer_inputs),
        ("hidden_states", rows * sum(d.recurrent_size for d in directions) + last_states),
        ("gate_activations", rows * sum(SAVED_GATES_PER_UNIT[cell] * d.hidden_size for d in directions)),
        (
            "cell_extras",
            rows * sum(SAVED_EXTRAS_PER_UNIT[cell] * d.hidden_size + d.projection_input for d in directions),
        ),
    )
    return Memory(params, inference, training, _onednn_training(report, directions, spec, wl))


def _onednn_training(
    report: FrameworkReport, directions: tuple[DirectionCost, ...], spec: Spec, wl: Workload
) -> tuple[tuple[str, int], ...]:
    """What the framework's default CPU path saves for an LSTM without projection when it runs
    oneDNN (PyTorch; see :func:`onednn_workspace`), else nothing."""
    if not frameworks.get(report.framework).onednn_lstm or spec.cell is not Cell.LSTM or spec.proj_size:
        return ()
    rows = wl.padded_steps
    # A unidirectional layer's output is the next layer's input (one tensor); a bidirectional
    # stack concatenates the two directions into a new input tensor.
    deeper_inputs = sum({d.layer: d.input_size for d in directions}.values()) - directions[0].input_size
    inputs = rows * (directions[0].input_size + (deeper_inputs if spec.bidirectional else 0))
    items = [
        ("layer_inputs", inputs),
        ("output_sequences", rows * sum(d.hidden_size for d in directions)),
        ("states", 4 * wl.batch * sum(d.hidden_size for d in directions)),  # h_0, c_0, h_n, c_n
        (
            "workspace",
            sum(onednn_workspace(wl.batch, wl.seq_len, d.input_size, d.hidden_size) for d in directions),
        ),
    ]
    if not spec.bias:
        items.append(("weight_copies", sum(d.gate_rows * (d.input_size + d.hidden_size) for d in directions)))
    return tuple(items)


# --- models: embedding → recurrent blocks → dense heads ----------------------------------


def model_cost(
    model: Model,
    lengths: tuple[int, ...] | None = None,
    dtype: DType = DType.FLOAT32,
    optimizer: Optimizer = Optimizer.NONE,
    names: Iterable[str] | None = None,
) -> CostReport:
    """Costs of a config file's model: each recurrent block as the flat spec it is (with the input
    size its framework hands it), the dense heads from their weight shapes; an embedding is a
    lookup (parameters and memory, no MACs)."""
    if model.is_flat:
        return cost(model.layers[0], lengths, dtype, optimizer, names)
    if model.input_size is None:
        raise SpecError("input_size", "is required for costs: the first layer's products depend on it")
    wl = workload(model.layers[0], lengths)
    concrete = override(model, {"batch_size": wl.batch, "seq_len": wl.seq_len})
    costs = tuple(
        _model_framework_cost(convention.model_report(concrete), concrete, wl)
        for convention in frameworks.select(names)
    )
    return CostReport(model, wl, dtype, costs, optimizer)


def _model_framework_cost(report: FrameworkReport, model: Model, wl: Workload) -> FrameworkCost:
    if not report.supported:
        return FrameworkCost(report.framework, report.model, wl, reason=report.reason)
    recurrent = [layer for layer in report.layers if any(w.role is Role.INPUT_KERNEL for w in layer.weights)]
    head_layers = [
        layer for layer in report.layers if layer.weights and all(w.role is Role.DENSE for w in layer.weights)
    ]
    directions: list[DirectionCost] = []
    memories: list[Memory] = []
    for index, spec in enumerate(model.layers):
        # A block is one report layer (PyTorch) or one per stacked layer (Keras, Flax, ONNX):
        # either way its recurrent kernels hold num_layers × directions layer-directions.
        block = recurrent[0]
        held = 0
        while held < spec.num_layers * (2 if spec.bidirectional else 1):
            held += directions_held(list(recurrent.pop(0).weights), spec)
        input_size = _first_input_size(block.weights, spec)
        flat = cost(spec.replace(input_size=input_size), wl.lengths, names=(report.framework,)).frameworks[0]
        if flat.memory is None:
            return FrameworkCost(report.framework, report.model, wl, reason=flat.reason)
        directions += [_renamed(d, f"block {index}: {d.layer}") for d in flat.directions]
        memories.append(flat.memory)
    heads = tuple(_head_cost(layer, head, wl) for layer, head in zip(head_layers, model.dense, strict=True))
    params = report.total.value
    memory = _model_memory(memories, heads, params, wl)
    return FrameworkCost(report.framework, report.model, wl, tuple(directions), params, memory, None, heads)


def _first_input_size(weights: tuple[WeightRow, ...], spec: Spec) -> int:
    """The input size of a block's first layer: its first input kernels over the layer-directions
    held by the recurrent kernels right after them (every framework lists a layer's input
    kernels before its recurrent ones)."""
    first: list[WeightRow] = []
    for weight in weights:
        if weight.role is Role.INPUT_KERNEL and any(w.role is Role.RECURRENT_KERNEL for w in first):
            break
        first.append(weight)
    inputs = sum(w.params.value for w in first if w.role is Role.INPUT_KERNEL)
    return inputs // (GATES[spec.cell] * spec.hidden_size * directions_held(first, spec))


def _renamed(direction: DirectionCost, layer: str) -> DirectionCost:
    return DirectionCost(
        layer,
        direction.direction,
        direction.input_size,
        direction.recurrent_size,
        direction.hidden_size,
        direction.gate_rows,
        direction.matmuls,
        direction.step,
        direction.projection_input,
    )


def _head_cost(layer: LayerReport, head: Dense, wl: Workload) -> HeadCost:
    """A dense head from its weights: kernel ``units·in`` MACs and ``units`` bias adds per
    application, and ``units`` activations when it has one (1 op per element, as for cells)."""
    kernel = next(w for w in layer.weights if len(w.shape) == 2)
    units = layer.output_shape[-1]  # a dense head's width: the last dimension of what it returns
    assert isinstance(units, int)
    bias = sum(w.params.value for w in layer.weights if len(w.shape) == 1)
    applications = shape_count(layer.output_shape).value // units // wl.batch
    activations = units if head.activation not in (None, "linear") else 0
    step = StepCost(macs=kernel.params.value, bias_adds=bias, activations=activations)
    return HeadCost(layer.name, units, step, applications)


def _model_memory(blocks: list[Memory], heads: tuple[HeadCost, ...], params: int, wl: Workload) -> Memory:
    """The blocks' items added up, plus what the heads return (inference) and read (training).

    On PyTorch's default CPU path only LSTM blocks change (oneDNN); the others keep their items.
    The embedding's output is the first block's layer input, already counted there."""

    def summed(items: list[tuple[tuple[str, int], ...]]) -> tuple[tuple[str, int], ...]:
        totals: dict[str, int] = {}
        for group in items:
            for name, count in group:
                totals[name] = totals.get(name, 0) + count
        return tuple(totals.items())

    head_outputs = sum(wl.batch * head.per_sample * head.units for head in heads)
    head_inputs = sum(wl.batch * head.per_sample * head.input_size for head in heads)
    inference = (*summed([m.inference for m in blocks]), ("dense_outputs", head_outputs))
    training = (*summed([m.training for m in blocks]), ("dense_inputs", head_inputs))
    onednn: tuple[tuple[str, int], ...] = ()
    if any(m.onednn for m in blocks):
        default_path = summed([m.onednn or m.training for m in blocks])
        onednn = (*default_path, ("dense_inputs", head_inputs))
    return Memory(params, inference, training, onednn)
