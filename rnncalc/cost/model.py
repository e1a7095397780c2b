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
from rnncalc.core.report import FrameworkReport, Role, WeightRow
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

#: What backpropagation through time keeps per step besides the layer input, h_{t-1} and the
#: gate activations, in units of H: LSTM c_t and tanh(c_t); GRU the candidate's recurrent term
#: (W_hn·h + b_hn, or r⊙h). An LSTM projection adds o⊙tanh(c_t), the projection's input.
TRAINING_EXTRA_PER_UNIT: dict[Cell, int] = {Cell.RNN: 0, Cell.LSTM: 2, Cell.GRU: 1}

CONVENTION = (
    "MAC = one multiply-accumulate; each weight matrix (out, in) costs out·in MACs per step and "
    "sample. FLOPs = 2 × MACs + bias adds + elementwise ops, where elementwise ops are the sums "
    "joining input and recurrent products (one per gate row), activations (sigmoid/tanh/relu: 1 op "
    "per element) and gating (hadamards, adds, 1 - z). Not counted: data movement, concatenation, "
    "Keras merge_mode arithmetic, dropout, masking. Memory assumes padded tensors "
    "(batch × longest sequence)."
)


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
    #: Training activations kept for backpropagation through time, per layer and direction, for
    #: every step: the layer input x_t, the hidden state h_t, the gate activations, and the
    #: cell-specific extras of :data:`TRAINING_EXTRA_PER_UNIT`.
    training: tuple[tuple[str, int], ...]

    @property
    def inference_elements(self) -> int:
        return sum(count for _, count in self.inference)

    @property
    def training_elements(self) -> int:
        return sum(count for _, count in self.training)

    def param_bytes(self, dtype: DType) -> int:
        return self.params * DTYPE_BYTES[dtype]

    def inference_bytes(self, dtype: DType) -> int:
        """Parameters plus inference activations."""
        return (self.params + self.inference_elements) * DTYPE_BYTES[dtype]

    def training_bytes(self, dtype: DType) -> int:
        """Parameters, their gradients and the BPTT activations (no optimizer state)."""
        return (2 * self.params + self.training_elements) * DTYPE_BYTES[dtype]

    def to_dict(self, dtype: DType) -> dict[str, Any]:
        size = DTYPE_BYTES[dtype]
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
                "total_bytes": self.training_bytes(dtype),
            },
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

    @property
    def supported(self) -> bool:
        return self.reason is None

    @property
    def step(self) -> StepCost:
        """One time step of every layer and direction, one sample."""
        return sum_steps(d.step for d in self.directions)

    @property
    def per_sequence(self) -> StepCost:
        """One sample of length ``seq_len`` through every layer and direction."""
        return self.step.times(self.workload.seq_len)

    @property
    def total(self) -> StepCost:
        """The whole batch: real steps only when lengths are given."""
        return self.step.times(self.workload.steps)

    def to_dict(self, dtype: DType) -> dict[str, Any]:
        if not self.supported or self.memory is None:
            return {"supported": False, "reason": self.reason, "model": self.model}
        wl = self.workload
        return {
            "supported": True,
            "reason": None,
            "model": self.model,
            "params": self.params,
            "layers": [d.to_dict(wl.seq_len, wl.steps) for d in self.directions],
            "per_step": self.step.to_dict(),
            "per_sequence": self.per_sequence.to_dict(),
            "total": self.total.to_dict(),
            "memory": self.memory.to_dict(dtype),
        }


@dataclass(frozen=True)
class CostReport:
    """The chosen frameworks' costs for one spec, workload and dtype."""

    spec: Spec
    workload: Workload
    dtype: DType
    frameworks: tuple[FrameworkCost, ...]

    def framework(self, name: str) -> FrameworkCost:
        return next(cost for cost in self.frameworks if cost.framework == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": COST_SCHEMA_VERSION,
            "convention": CONVENTION,
            "spec": self.spec.to_dict(),
            "workload": self.workload.to_dict(),
            "dtype": self.dtype.value,
            "frameworks": {c.framework: c.to_dict(self.dtype) for c in self.frameworks},
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
    spec: Spec | Mapping[str, Any],
    lengths: tuple[int, ...] | None = None,
    dtype: DType = DType.FLOAT32,
    names: Iterable[str] | None = None,
) -> CostReport:
    """Compute and memory cost of ``spec`` in each chosen framework (registry names; None: every
    registered one) for its batch and sequence length."""
    if not isinstance(spec, Spec):
        spec = spec_from_mapping(spec)
    if spec.input_size is None:
        raise SpecError("input_size", "is required for costs: the first layer's products depend on it")
    wl = workload(spec, lengths)
    concrete = concrete_spec(spec, wl)
    costs = tuple(
        framework_cost(convention.report(concrete), spec, wl) for convention in frameworks.select(names)
    )
    return CostReport(spec, wl, dtype, costs)


def framework_cost(report: FrameworkReport, spec: Spec, wl: Workload) -> FrameworkCost:
    """Costs of one framework's report of ``spec`` (with concrete batch and time)."""
    if not report.supported:
        return FrameworkCost(report.framework, report.model, wl, reason=report.reason)
    directions: list[DirectionCost] = []
    for layer in report.layers:
        for direction in dict.fromkeys(w.direction for w in layer.weights):
            rows = [w for w in layer.weights if w.direction == direction]
            directions.append(direction_cost(layer.name, direction, rows, spec.cell, spec.hidden_size))
    params = report.total.value
    return FrameworkCost(
        report.framework,
        report.model,
        wl,
        tuple(directions),
        params,
        _memory(report, tuple(directions), spec.cell, wl, params),
    )


def direction_cost(
    layer: str, direction: str, weights: list[WeightRow], cell: Cell, hidden: int
) -> DirectionCost:
    """Per-step cost of one direction, derived from its weight shapes (either framework's)."""
    by_role: dict[Role, list[WeightRow]] = {}
    for weight in weights:
        by_role.setdefault(weight.role, []).append(weight)
    gate_rows = GATES[cell] * hidden
    # Sizes follow from the kernels' element counts, whichever way round the framework stores them.
    input_size = by_role[Role.INPUT_KERNEL][0].params.value // gate_rows
    recurrent_size = by_role[Role.RECURRENT_KERNEL][0].params.value // gate_rows
    matmuls = tuple(
        MatMul(w.name, w.shape, w.params.value)
        for w in weights
        if w.role in (Role.INPUT_KERNEL, Role.RECURRENT_KERNEL, Role.PROJECTION)
    )
    step = StepCost(
        macs=sum(m.macs for m in matmuls),
        bias_adds=sum(w.params.value for w in by_role.get(Role.BIAS, [])),
        product_sums=gate_rows,
        activations=ACTIVATIONS_PER_UNIT[cell] * hidden,
        gating=GATING_PER_UNIT[cell] * hidden,
    )
    projection_input = hidden if Role.PROJECTION in by_role else 0
    return DirectionCost(
        layer, direction, input_size, recurrent_size, hidden, gate_rows, matmuls, step, projection_input
    )


def _memory(
    report: FrameworkReport, directions: tuple[DirectionCost, ...], cell: Cell, wl: Workload, params: int
) -> Memory:
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
    layer_inputs = {d.layer: d.input_size for d in directions}
    training = (
        ("layer_inputs", rows * sum(layer_inputs.values())),
        ("hidden_states", rows * sum(d.recurrent_size for d in directions)),
        ("gate_activations", rows * sum(d.gate_rows for d in directions)),
        (
            "cell_extras",
            rows
            * sum(TRAINING_EXTRA_PER_UNIT[cell] * d.hidden_size + d.projection_input for d in directions),
        ),
    )
    return Memory(params, inference, training)
