"""Pure analytic calculator: spec → each framework's weights, counts and output shapes.

Imports no framework and no numpy, so ``rnncalc summary`` starts as fast as click.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rnncalc.conventions import (
    CLASS_NAMES,
    KERAS_LAYER_NAMES,
    CellGeometry,
    Role,
    bias_vectors,
    keras_slots,
    torch_slots,
)
from rnncalc.report import Analysis, Difference, FrameworkReport, LayerReport, WeightRow
from rnncalc.spec import Cell, Framework, MergeMode, Spec, spec_from_mapping
from rnncalc.symbolic import INPUT, Count, Dim, Shape

DIRECTIONS = ("forward", "backward")

#: Fields that only matter for some configurations; others are left out of "defaults used".
_APPLIES: dict[str, Any] = {
    "proj_size": lambda s: s.cell is Cell.LSTM,
    "reset_after": lambda s: s.cell is Cell.GRU,
    "nonlinearity": lambda s: s.cell is Cell.RNN,
    "merge_mode": lambda s: s.bidirectional,
    "unbatched": lambda s: False,
    "input_size": lambda s: False,
    "batch_size": lambda s: False,
    "seq_len": lambda s: False,
}


def analyze(spec: Spec | Mapping[str, Any]) -> Analysis:
    """Compute both frameworks' reports for ``spec`` (a :class:`Spec` or a plain mapping)."""
    if not isinstance(spec, Spec):
        spec = spec_from_mapping(spec)
    torch = torch_report(spec)
    keras = keras_report(spec)
    defaults = tuple(name for name in spec.defaults_used if _APPLIES.get(name, lambda s: True)(spec))
    return Analysis(spec, (torch, keras), explain_difference(spec, torch, keras), defaults)


def _geometry(spec: Spec, input_size: Dim) -> CellGeometry:
    return CellGeometry(
        cell=spec.cell,
        input_size=input_size,
        hidden_size=spec.hidden_size,
        proj_size=spec.proj_size,
        bias=spec.bias,
        reset_after=spec.reset_after,
    )


def _first_input(spec: Spec) -> Dim:
    return spec.input_size if spec.input_size is not None else INPUT


# --- PyTorch -----------------------------------------------------------------------------


def torch_unsupported(spec: Spec) -> str | None:
    """Why ``torch.nn`` cannot build this spec, or None."""
    if spec.cell is Cell.GRU and not spec.reset_after:
        return (
            "nn.GRU always applies the reset gate after the recurrent product "
            "(Keras reset_after=True); reset_after=False has no PyTorch equivalent"
        )
    if spec.bidirectional and spec.merge_mode is not MergeMode.CONCAT:
        return (
            f"PyTorch always concatenates both directions; merge_mode {spec.merge_mode.value} "
            "has no nn.RNN equivalent"
        )
    return None


def torch_report(spec: Spec) -> FrameworkReport:
    """``nn.RNN``/``nn.LSTM``/``nn.GRU`` with ``num_layers`` and ``bidirectional``."""
    class_name = CLASS_NAMES[(Framework.TORCH, spec.cell)]
    model = f"nn.{class_name}"
    reason = torch_unsupported(spec)
    if reason:
        return FrameworkReport(Framework.TORCH, model, reason=reason)
    out_size = spec.proj_size or spec.hidden_size
    sequence = _torch_sequence_shape(spec, spec.num_directions * out_size)
    layers = []
    input_size = _first_input(spec)
    for index in range(spec.num_layers):
        geometry = _geometry(spec, input_size)
        weights = tuple(
            WeightRow(slot.name, slot.name, slot.shape, slot.role, direction)
            for direction in DIRECTIONS[: spec.num_directions]
            for slot in torch_slots(geometry, index, reverse=direction == "backward")
        )
        kind = f"{class_name} (bidirectional)" if spec.bidirectional else class_name
        layers.append(LayerReport(f"layer {index}", kind, sequence, weights))
        input_size = spec.num_directions * out_size
    return FrameworkReport(Framework.TORCH, model, tuple(layers), _torch_outputs(spec))


def _torch_sequence_shape(spec: Spec, features: int) -> Shape:
    if spec.unbatched:
        return (spec.seq_len, features)
    if spec.batch_first:
        return (spec.batch_size, spec.seq_len, features)
    return (spec.seq_len, spec.batch_size, features)


def _torch_outputs(spec: Spec) -> tuple[tuple[str, Shape], ...]:
    """``output, h_n`` (and ``c_n`` for LSTM); states ignore ``batch_first``."""
    out_size = spec.proj_size or spec.hidden_size
    stacked = spec.num_directions * spec.num_layers
    batch: tuple[Dim, ...] = () if spec.unbatched else (spec.batch_size,)
    outputs: list[tuple[str, Shape]] = [
        ("output", _torch_sequence_shape(spec, spec.num_directions * out_size)),
        ("h_n", (stacked, *batch, out_size)),
    ]
    if spec.cell is Cell.LSTM:
        outputs.append(("c_n", (stacked, *batch, spec.hidden_size)))
    return tuple(outputs)


# --- Keras 3 -----------------------------------------------------------------------------


def keras_unsupported(spec: Spec) -> str | None:
    """Why Keras 3 cannot build this spec, or None."""
    if spec.proj_size:
        return "Keras LSTM has no projection (proj_size is PyTorch only)"
    if spec.unbatched:
        return "Keras layers always take a batch dimension; unbatched input is PyTorch only"
    return None


def keras_layer_output_size(spec: Spec) -> int:
    """Features one Keras layer hands on: doubled by ``merge_mode=concat`` only."""
    if spec.bidirectional and spec.merge_mode is MergeMode.CONCAT:
        return 2 * spec.hidden_size
    return spec.hidden_size


def keras_report(spec: Spec) -> FrameworkReport:
    """A Keras model of ``num_layers`` layers; all but the last return sequences."""
    class_name = CLASS_NAMES[(Framework.KERAS, spec.cell)]
    layer_kind = f"Bidirectional({class_name})" if spec.bidirectional else class_name
    model = f"Sequential of {spec.num_layers} × {layer_kind}" if spec.num_layers > 1 else layer_kind
    reason = keras_unsupported(spec)
    if reason:
        return FrameworkReport(Framework.KERAS, model, reason=reason)
    layer_name = KERAS_LAYER_NAMES[spec.cell]
    cell_name = f"{layer_name}_cell"
    layers = []
    input_size = _first_input(spec)
    for index in range(spec.num_layers):
        suffix = f"_{index}" if index else ""
        inner = f"{layer_name}{suffix}"
        geometry = _geometry(spec, input_size)
        if spec.bidirectional:
            outer = f"bidirectional{suffix}"
            prefixes = [f"{outer}/{direction}_{inner}/{cell_name}" for direction in DIRECTIONS]
            name = outer
        else:
            prefixes = [f"{inner}/{cell_name}"]
            name = inner
        weights = tuple(
            WeightRow(slot.name, f"{prefix}/{slot.name}", slot.shape, slot.role, direction)
            for direction, prefix in zip(DIRECTIONS, prefixes, strict=False)
            for slot in keras_slots(geometry)
        )
        sequences = index < spec.num_layers - 1 or spec.return_sequences
        output = _keras_shape(spec, keras_layer_output_size(spec), sequences)
        layers.append(LayerReport(name, layer_kind, output, weights))
        input_size = keras_layer_output_size(spec)
    return FrameworkReport(Framework.KERAS, model, tuple(layers), _keras_outputs(spec))


def _keras_shape(spec: Spec, features: int, sequences: bool) -> Shape:
    if sequences:
        return (spec.batch_size, spec.seq_len, features)
    return (spec.batch_size, features)


def _keras_outputs(spec: Spec) -> tuple[tuple[str, Shape], ...]:
    """The returned tensors in Keras order: output(s), then each direction's states."""
    hidden = spec.hidden_size
    if spec.bidirectional and spec.merge_mode is MergeMode.NONE:
        single = _keras_shape(spec, hidden, spec.return_sequences)
        outputs: list[tuple[str, Shape]] = [("output_forward", single), ("output_backward", single)]
    else:
        outputs = [("output", _keras_shape(spec, keras_layer_output_size(spec), spec.return_sequences))]
    if spec.return_state:
        states = ["state_h", "state_c"] if spec.cell is Cell.LSTM else ["state_h"]
        prefixes = [f"{d}_" for d in DIRECTIONS] if spec.bidirectional else [""]
        outputs += [(prefix + state, (spec.batch_size, hidden)) for prefix in prefixes for state in states]
    return tuple(outputs)


# --- Why the totals differ -----------------------------------------------------------------


def explain_difference(spec: Spec, torch: FrameworkReport, keras: FrameworkReport) -> Difference | None:
    """One line on why the two totals differ, derived from the weights grouped by role."""
    if not (torch.supported and keras.supported):
        return None
    delta = torch.total - keras.total
    reasons = []
    torch_roles, keras_roles = _role_totals(torch), _role_totals(keras)
    for role in Role:
        role_delta = torch_roles[role] - keras_roles[role]
        if role_delta == Count():
            continue
        if role is Role.BIAS:
            geometry = _geometry(spec, _first_input(spec))
            reasons.append(
                f"PyTorch keeps {_vectors(bias_vectors(Framework.TORCH, geometry))} per layer "
                f"and direction (bias_ih, bias_hh), Keras {_vectors(bias_vectors(Framework.KERAS, geometry))}"
                f": {_signed(role_delta)}"
            )
        else:
            reasons.append(f"{role.value} differ: {_signed(role_delta)}")
    if not reasons:
        if spec.cell is Cell.GRU and spec.bias:
            return Difference(delta, "same total: Keras GRU with reset_after=True keeps two bias vectors too")
        return Difference(delta, "same total: both frameworks keep the same weights")
    return Difference(delta, "; ".join(reasons))


def _role_totals(report: FrameworkReport) -> dict[Role, Count]:
    """Every role's total in one pass over the weights (same as ``report.role_total(role)``)."""
    sums = {role: [0, 0] for role in Role}
    for weight in report.weights:
        entry = sums[weight.role]
        entry[0] += weight.params.per_input
        entry[1] += weight.params.constant
    return {role: Count(per_input, constant) for role, (per_input, constant) in sums.items()}


def _vectors(count: int) -> str:
    return {0: "no bias vector", 1: "one bias vector", 2: "two bias vectors"}[count]


def _signed(count: Count) -> str:
    text = str(count)
    return text if text.startswith("-") else f"+{text}"
