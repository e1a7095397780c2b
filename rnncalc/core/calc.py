"""Pure analytic calculator: spec → each framework's weights, counts and output shapes.

Imports no framework and no numpy, so ``rnncalc summary`` starts as fast as click.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rnncalc.core.report import (
    Analysis,
    Difference,
    FrameworkReport,
    FrameworkTotals,
    LayerReport,
    ModelAnalysis,
    WeightRow,
)
from rnncalc.core.spec import Cell, Framework, MergeMode, Spec, spec_from_mapping
from rnncalc.core.symbolic import INPUT, Count, Dim, Shape, shape_count
from rnncalc.frameworks.base import (
    CLASS_NAMES,
    DENSE_CLASS,
    EMBEDDING_CLASS,
    KERAS_LAYER_NAMES,
    CellGeometry,
    Role,
    bias_vectors,
    dense_slots,
    embedding_slots,
    keras_slots,
    torch_slots,
)

if TYPE_CHECKING:  # only annotations: the flat-spec path never imports model.py
    from rnncalc.core.model import Model

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
    model = _torch_model_name(spec)
    reason = torch_unsupported(spec)
    if reason:
        return FrameworkReport(Framework.TORCH, model, reason=reason)
    layers = torch_block_layers(spec, _first_input(spec))
    return FrameworkReport(Framework.TORCH, model, layers, _torch_outputs(spec))


def _torch_model_name(spec: Spec) -> str:
    return f"nn.{CLASS_NAMES[(Framework.TORCH, spec.cell)]}"


def torch_block_layers(spec: Spec, input_size: Dim) -> tuple[LayerReport, ...]:
    """One ``nn.RNN``/``LSTM``/``GRU`` module's layers (``num_layers`` of them) on ``input_size``.

    Weight names are the module's own (``weight_ih_l0``); a model prefixes them with the
    module's index.
    """
    class_name = CLASS_NAMES[(Framework.TORCH, spec.cell)]
    out_size = spec.proj_size or spec.hidden_size
    sequence = _torch_sequence_shape(spec, spec.num_directions * out_size)
    layers = []
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
    return tuple(layers)


def torch_block_output_size(spec: Spec) -> int:
    """Features one PyTorch recurrent module hands on: directions × (projection or hidden)."""
    return spec.num_directions * (spec.proj_size or spec.hidden_size)


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
    model = _keras_model_name(spec)
    reason = keras_unsupported(spec)
    if reason:
        return FrameworkReport(Framework.KERAS, model, reason=reason)
    layers = keras_block_layers(spec, _first_input(spec), KerasNames(), spec.return_sequences)
    return FrameworkReport(Framework.KERAS, model, layers, _keras_outputs(spec))


def _keras_model_name(spec: Spec) -> str:
    class_name = CLASS_NAMES[(Framework.KERAS, spec.cell)]
    layer_kind = f"Bidirectional({class_name})" if spec.bidirectional else class_name
    return f"Sequential of {spec.num_layers} × {layer_kind}" if spec.num_layers > 1 else layer_kind


class KerasNames:
    """Keras's automatic layer names in a fresh session: ``lstm``, ``lstm_1``, ``dense``, ..."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def next(self, base: str) -> str:
        count = self._seen.get(base, 0)
        self._seen[base] = count + 1
        return f"{base}_{count}" if count else base


def keras_block_layers(
    spec: Spec, input_size: Dim, names: KerasNames, last_sequences: bool
) -> tuple[LayerReport, ...]:
    """The ``num_layers`` Keras layers of one block; all but the last return sequences.

    ``names`` hands out the layer names, so blocks of a larger model continue its numbering.
    """
    class_name = CLASS_NAMES[(Framework.KERAS, spec.cell)]
    layer_kind = f"Bidirectional({class_name})" if spec.bidirectional else class_name
    layer_name = KERAS_LAYER_NAMES[spec.cell]
    cell_name = f"{layer_name}_cell"
    layers = []
    for index in range(spec.num_layers):
        inner = names.next(layer_name)
        geometry = _geometry(spec, input_size)
        if spec.bidirectional:
            outer = names.next("bidirectional")
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
        sequences = index < spec.num_layers - 1 or last_sequences
        output = _keras_shape(spec, keras_layer_output_size(spec), sequences)
        layers.append(LayerReport(name, layer_kind, output, weights))
        input_size = keras_layer_output_size(spec)
    return tuple(layers)


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


# --- Totals without weight rows (what ``check`` judges) ------------------------------------


def analyze_totals(spec: Spec | Mapping[str, Any]) -> tuple[FrameworkTotals, FrameworkTotals]:
    """PyTorch's and Keras's totals, outputs and model names for ``spec``, without weight rows.

    Equal to the ``total``/``outputs``/``model``/``reason`` of :func:`analyze`'s reports (a test
    keeps it so), at a fraction of the cost: one direction's count is summed from the same slot
    shapes, as a formula in its input size (cached per cell and sizes), and a stack repeats it.
    """
    if not isinstance(spec, Spec):
        spec = spec_from_mapping(spec)
    torch_name, keras_name = _torch_model_name(spec), _keras_model_name(spec)
    reason = torch_unsupported(spec)
    if reason:
        torch = FrameworkTotals(Framework.TORCH, torch_name, reason=reason)
    else:
        size = spec.num_directions * (spec.proj_size or spec.hidden_size)
        count = _stack_count(Framework.TORCH, spec, size)
        torch = FrameworkTotals(Framework.TORCH, torch_name, count, _torch_outputs(spec))
    reason = keras_unsupported(spec)
    if reason:
        keras = FrameworkTotals(Framework.KERAS, keras_name, reason=reason)
    else:
        count = _stack_count(Framework.KERAS, spec, keras_layer_output_size(spec))
        keras = FrameworkTotals(Framework.KERAS, keras_name, count, _keras_outputs(spec))
    return torch, keras


def _stack_count(framework: Framework, spec: Spec, next_input: int) -> Count:
    """``num_layers`` layers × directions: the first on the spec's input, the rest on ``next_input``."""
    per_input, constant = direction_formula(
        framework, spec.cell, spec.hidden_size, spec.proj_size, spec.bias, spec.reset_after
    )
    # One direction's count is linear in its input size: the first layer's is still a formula
    # when the input size is unknown; later layers take ``next_input`` features.
    first = (
        Count(per_input, constant)
        if spec.input_size is None
        else Count(0, per_input * spec.input_size + constant)
    )
    count = first + Count(0, per_input * next_input + constant) * (spec.num_layers - 1)
    return count * spec.num_directions


@lru_cache(maxsize=4096)
def direction_formula(
    framework: Framework, cell: Cell, hidden_size: int, proj_size: int, bias: bool, reset_after: bool
) -> Count:
    """Elements of one direction's weights as a formula ``a*I + b`` in its input size ``I``:
    the sum of the slot shapes (names do not matter) of that direction on an input of ``I``."""
    geometry = CellGeometry(cell, INPUT, hidden_size, proj_size, bias, reset_after)
    slots = torch_slots(geometry, 0, reverse=False) if framework is Framework.TORCH else keras_slots(geometry)
    per_input = constant = 0
    for slot in slots:
        count = shape_count(slot.shape)
        per_input += count.per_input
        constant += count.constant
    return Count(per_input, constant)


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


# --- Heterogeneous models: embedding → recurrent blocks → dense heads ------------------------


def analyze_model(model: Model) -> ModelAnalysis:
    """Both frameworks' reports for a model, built from the same per-block functions as a spec."""
    torch = torch_model_report(model)
    keras = keras_model_report(model)
    return ModelAnalysis(model, (torch, keras), explain_model_difference(model, torch, keras))


def block_inputs(model: Model) -> list[Dim]:
    """The input size of each recurrent block (``I`` when the first one is unknown).

    Both frameworks agree on these except after a PyTorch projection, so this is only used
    where that does not matter (the "why they differ" line); each report threads its own.
    """
    sizes: list[Dim] = []
    size: Dim = model.input_size if model.input_size is not None else INPUT
    for spec in model.layers:
        sizes.append(size)
        size = keras_layer_output_size(spec)
    return sizes


def _model_unsupported(model: Model, check: Any) -> str | None:
    for index, spec in enumerate(model.layers):
        reason = check(spec)
        if reason:
            return f"layers[{index}]: {reason}"
    return None


def _arrow(kinds: list[str]) -> str:
    return " → ".join(kinds)


def torch_model_report(model: Model) -> FrameworkReport:
    """A module list run in order, as the adapter's ``SequenceModel`` does.

    Parameter names are prefixed by the module's index (``0.weight``, ``1.weight_ih_l0``);
    each recurrent module hands its ``output`` (not its states) to the next; ``nn.Linear``
    heads act on the last (feature) dimension at every time step. The model returns the last
    module's output.
    """
    kinds = (["Embedding"] if model.embedding else []) + [
        CLASS_NAMES[(Framework.TORCH, spec.cell)] for spec in model.layers
    ]
    kinds += [DENSE_CLASS[Framework.TORCH]] * len(model.dense)
    title = f"nn.Module: {_arrow(kinds)}"
    reason = _model_unsupported(model, torch_unsupported)
    if reason:
        return FrameworkReport(Framework.TORCH, title, reason=reason)
    first = model.layers[0]
    layers: list[LayerReport] = []
    size: Dim = model.input_size if model.input_size is not None else INPUT

    def module_name() -> str:
        return str(len(layers))

    if model.embedding is not None:
        prefix = module_name()
        emb = model.embedding
        weights = tuple(
            WeightRow(slot.name, f"{prefix}.{slot.name}", slot.shape, slot.role, "")
            for slot in embedding_slots(Framework.TORCH, emb.vocab_size, emb.dim)
        )
        shape = _torch_sequence_shape(first, emb.dim)
        layers.append(LayerReport(prefix, EMBEDDING_CLASS[Framework.TORCH], shape, weights))
    for spec in model.layers:
        prefix = module_name()
        block = torch_block_layers(spec, size)
        weights = tuple(
            WeightRow(w.name, f"{prefix}.{w.path}", w.shape, w.role, w.direction)
            for layer in block
            for w in layer.weights
        )
        kind = block[0].kind + (f" × {spec.num_layers} layers" if spec.num_layers > 1 else "")
        layers.append(LayerReport(prefix, kind, block[-1].output_shape, weights))
        size = torch_block_output_size(spec)
    for head in model.dense:
        prefix = module_name()
        weights = tuple(
            WeightRow(slot.name, f"{prefix}.{slot.name}", slot.shape, slot.role, "")
            for slot in dense_slots(Framework.TORCH, size, head.units, head.bias)
        )
        shape = _torch_sequence_shape(first, head.units)
        layers.append(LayerReport(prefix, DENSE_CLASS[Framework.TORCH], shape, weights))
        size = head.units
    return FrameworkReport(Framework.TORCH, title, tuple(layers), (("output", layers[-1].output_shape),))


#: Keras's name for the first ``Sequential`` of a session; Keras 3 scopes the variable paths
#: of a Sequential's layers under it (``sequential/embedding/embeddings``), unlike a Functional
#: model's.
KERAS_SEQUENTIAL_NAME = "sequential"


def keras_model_report(model: Model) -> FrameworkReport:
    """A ``keras.Sequential``: every recurrent layer but the last returns sequences; ``Dense``
    acts on the last dimension (per time step when the last recurrent layer returns sequences).
    Weight paths carry the Sequential's name as Keras 3 reports them.
    """
    kinds = (["Embedding"] if model.embedding else []) + [
        ("Bidirectional({})" if spec.bidirectional else "{}").format(
            CLASS_NAMES[(Framework.KERAS, spec.cell)]
        )
        for spec in model.layers
    ]
    kinds += [DENSE_CLASS[Framework.KERAS]] * len(model.dense)
    title = f"Sequential: {_arrow(kinds)}"
    reason = _model_unsupported(model, keras_unsupported)
    if reason:
        return FrameworkReport(Framework.KERAS, title, reason=reason)
    names = KerasNames()
    first = model.layers[0]
    layers: list[LayerReport] = []
    size: Dim = model.input_size if model.input_size is not None else INPUT
    if model.embedding is not None:
        name = names.next("embedding")
        emb = model.embedding
        weights = tuple(
            WeightRow(slot.name, f"{name}/{slot.name}", slot.shape, slot.role, "")
            for slot in embedding_slots(Framework.KERAS, emb.vocab_size, emb.dim)
        )
        shape = _keras_shape(first, emb.dim, sequences=True)
        layers.append(LayerReport(name, EMBEDDING_CLASS[Framework.KERAS], shape, weights))
    for index, spec in enumerate(model.layers):
        last = index == len(model.layers) - 1
        layers.extend(keras_block_layers(spec, size, names, model.return_sequences or not last))
        size = keras_layer_output_size(spec)
    for head in model.dense:
        name = names.next("dense")
        weights = tuple(
            WeightRow(slot.name, f"{name}/{slot.name}", slot.shape, slot.role, "")
            for slot in dense_slots(Framework.KERAS, size, head.units, head.bias)
        )
        shape = (*layers[-1].output_shape[:-1], head.units)
        layers.append(LayerReport(name, DENSE_CLASS[Framework.KERAS], shape, weights))
        size = head.units
    scoped = tuple(
        LayerReport(
            layer.name,
            layer.kind,
            layer.output_shape,
            tuple(
                WeightRow(w.name, f"{KERAS_SEQUENTIAL_NAME}/{w.path}", w.shape, w.role, w.direction)
                for w in layer.weights
            ),
        )
        for layer in layers
    )
    return FrameworkReport(Framework.KERAS, title, scoped, (("output", layers[-1].output_shape),))


def explain_model_difference(
    model: Model, torch: FrameworkReport, keras: FrameworkReport
) -> Difference | None:
    """Why the totals differ, block by block (embedding and dense heads count the same)."""
    if not (torch.supported and keras.supported):
        return None
    reasons = []
    for index, (spec, size) in enumerate(zip(model.layers, block_inputs(model), strict=True)):
        block = spec if not isinstance(size, int) else spec.replace(input_size=size)
        difference = explain_difference(block, torch_report(block), keras_report(block))
        if difference is not None and difference.delta != Count():
            reasons.append(f"layers[{index}] ({spec.cell.value}): {difference.reason}")
    if not reasons:
        return Difference(torch.total - keras.total, "same total: every block keeps the same weights")
    return Difference(torch.total - keras.total, "; ".join(reasons))
