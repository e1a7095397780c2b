"""PyTorch: ``torch.nn.RNN``/``LSTM``/``GRU`` as one
:class:`~rnncalc.frameworks.contract.FrameworkConvention`.

Sources: PyTorch ``torch.nn.RNN``/``LSTM``/``GRU`` and ``RNNCell``/``LSTMCell``/``GRUCell`` docs
("Variables", "Inputs" and "Outputs" sections).
Everything PyTorch-specific lives here: class and weight names, shapes per layer and direction,
output and state shapes, what ``torch.nn`` cannot express, the snippet, the adapter and the
weight conversions. torch and numpy are imported inside the methods that need them, so the
registry stays as cheap to import as the calculator.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from rnncalc.core.errors import SpecError
from rnncalc.core.parts import DenseActivation, PartKind
from rnncalc.core.report import FrameworkReport, FrameworkTotals, LayerReport, Role, WeightRow
from rnncalc.core.spec import Activation, Cell, MergeMode, Spec
from rnncalc.core.symbolic import Dim, Shape
from rnncalc.frameworks.base import (
    DIRECTIONS,
    CellGeometry,
    PartLayout,
    WeightSlot,
    arrow,
    canonical_names,
    first_input,
    geometry,
    model_unsupported,
    no_slots,
    norm_slots,
    rows,
    stack_count,
)
from rnncalc.frameworks.contract import FrameworkConvention
from rnncalc.frameworks.snippet import (
    call,
    header,
    model_header,
    model_unsupported_comment,
    quote,
    unsupported_comment,
)

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from rnncalc.core.model import Dense, Model
    from rnncalc.frameworks.adapter import Measured
    from rnncalc.reference import Blocks, Part, PartGetter, StackWeights

    Array = np.ndarray[Any, Any]
    Arrays = dict[str, Array]

#: Class names in ``torch.nn``.
CLASS_NAMES: dict[Cell, str] = {Cell.RNN: "RNN", Cell.LSTM: "LSTM", Cell.GRU: "GRU"}
#: One time step (``spec.step``): the cell classes in ``torch.nn``.
CELL_CLASS_NAMES: dict[Cell, str] = {Cell.RNN: "RNNCell", Cell.LSTM: "LSTMCell", Cell.GRU: "GRUCell"}


# --- Weight layout (data) ----------------------------------------------------------------------


def slots(geometry: CellGeometry, layer: int, reverse: bool) -> list[WeightSlot]:
    """Parameters in ``named_parameters()`` order: W_ih, W_hh, b_ih, b_hh, W_hr.

    ``weight_ih_l{k}`` is ``(gates*H, in)`` and ``weight_hh_l{k}`` is ``(gates*H, proj or H)``,
    the orientation of ``W x``; PyTorch always keeps two bias vectors, ``bias_ih`` and
    ``bias_hh``; the reverse direction adds the ``_reverse`` suffix.
    """
    return _slots(geometry, f"_l{layer}" + ("_reverse" if reverse else ""))


def cell_slots(geometry: CellGeometry) -> list[WeightSlot]:
    """``nn.RNNCell``/``LSTMCell``/``GRUCell``: the layer's parameters without the ``_l0``
    suffix (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``); a cell has no projection."""
    return _slots(geometry, "")


def _slots(geometry: CellGeometry, suffix: str) -> list[WeightSlot]:
    gate_rows = geometry.gate_rows
    result = [
        WeightSlot(f"weight_ih{suffix}", (gate_rows, geometry.input_size), Role.INPUT_KERNEL),
        WeightSlot(f"weight_hh{suffix}", (gate_rows, geometry.recurrent_size), Role.RECURRENT_KERNEL),
    ]
    if geometry.bias:
        result.append(WeightSlot(f"bias_ih{suffix}", (gate_rows,), Role.BIAS))
        result.append(WeightSlot(f"bias_hh{suffix}", (gate_rows,), Role.BIAS))
    if geometry.proj_size:
        result.append(
            WeightSlot(f"weight_hr{suffix}", (geometry.proj_size, geometry.hidden_size), Role.PROJECTION)
        )
    return result


def _first_direction_slots(geometry: CellGeometry) -> list[WeightSlot]:
    return slots(geometry, 0, reverse=False)


def _linear_slots(part: Dense, size: Dim) -> list[WeightSlot]:
    """``nn.Linear``: weight ``(out, in)``, bias ``(out,)``."""
    bias = [WeightSlot("bias", (part.units,), Role.DENSE)] if part.bias else []
    return [WeightSlot("weight", (part.units, size), Role.DENSE), *bias]


#: The parts of a model other than recurrent blocks, as ``torch.nn`` modules hold them; their
#: tensors are the canonical ones, named and oriented alike.
PARTS: dict[PartKind, PartLayout] = {
    # nn.Embedding.weight is (num_embeddings, embedding_dim).
    PartKind.EMBEDDING: PartLayout(
        lambda part: "Embedding",
        "",
        lambda part, size: [WeightSlot("weight", (part.vocab_size, part.dim), Role.EMBEDDING)],
        canonical=canonical_names(weight="weight"),
    ),
    # nn.LayerNorm(features, eps, elementwise_affine=scale, bias=bias): weight then bias, (F,).
    PartKind.LAYER_NORM: PartLayout(
        lambda part: "LayerNorm",
        "",
        norm_slots("weight", "bias"),
        canonical=canonical_names(weight="weight", bias="bias"),
    ),
    PartKind.DROPOUT: PartLayout(lambda part: "Dropout", "", no_slots),
    # nn.Linear.weight is (out_features, in_features).
    PartKind.DENSE: PartLayout(
        lambda part: "Linear", "", _linear_slots, canonical=canonical_names(weight="weight", bias="bias")
    ),
}


def _part_unsupported(part: Any) -> str | None:
    """What ``torch.nn`` cannot hold among the parts other than recurrent blocks."""
    if part.kind is PartKind.LAYER_NORM and part.bias and not part.scale:
        return (
            "nn.LayerNorm keeps a bias only with its weight (elementwise_affine); "
            "bias without scale has no PyTorch equivalent"
        )
    return None


def block_output_size(spec: Spec) -> int:
    """Features one recurrent module hands on: directions × (projection or hidden)."""
    return spec.num_directions * (spec.proj_size or spec.hidden_size)


def sequence_shape(spec: Spec, features: Dim) -> Shape:
    """A sequence tensor in the module's layout: ``(L, N, F)``, ``(N, L, F)`` or unbatched ``(L, F)``."""
    if spec.unbatched:
        return (spec.seq_len, features)
    if spec.batch_first:
        return (spec.batch_size, spec.seq_len, features)
    return (spec.seq_len, spec.batch_size, features)


def outputs(spec: Spec) -> tuple[tuple[str, Shape], ...]:
    """``output, h_n`` (and ``c_n`` for LSTM); states ignore ``batch_first``. A cell returns
    ``h_1`` (and ``c_1``), ``(N, H)`` or unbatched ``(H,)`` (the ``LSTMCell`` docs' names)."""
    if spec.step:
        batch_axis: tuple[Dim, ...] = () if spec.unbatched else (spec.batch_size,)
        names = ("h_1", "c_1") if spec.cell is Cell.LSTM else ("h_1",)
        return tuple((name, (*batch_axis, spec.hidden_size)) for name in names)
    out_size = spec.proj_size or spec.hidden_size
    stacked = spec.num_directions * spec.num_layers
    batch: tuple[Dim, ...] = () if spec.unbatched else (spec.batch_size,)
    result: list[tuple[str, Shape]] = [
        ("output", sequence_shape(spec, spec.num_directions * out_size)),
        ("h_n", (stacked, *batch, out_size)),
    ]
    if spec.cell is Cell.LSTM:
        result.append(("c_n", (stacked, *batch, spec.hidden_size)))
    return tuple(result)


def block_layers(spec: Spec, input_size: Dim) -> tuple[LayerReport, ...]:
    """One ``nn.RNN``/``LSTM``/``GRU`` module's layers (``num_layers`` of them) on ``input_size``.

    Weight names are the module's own (``weight_ih_l0``); a model prefixes them with the
    module's index.
    """
    class_name = CLASS_NAMES[spec.cell]
    out_size = spec.proj_size or spec.hidden_size
    sequence = sequence_shape(spec, spec.num_directions * out_size)
    kind = f"{class_name} (bidirectional)" if spec.bidirectional else class_name
    layers = []
    for index in range(spec.num_layers):
        shape = geometry(spec, input_size)
        weights = tuple(
            row
            for direction in DIRECTIONS[: spec.num_directions]
            for row in rows(slots(shape, index, reverse=direction == "backward"), direction)
        )
        layers.append(LayerReport(f"layer {index}", kind, sequence, weights))
        input_size = spec.num_directions * out_size
    return tuple(layers)


def _keras_only(spec: Spec) -> str | None:
    """Keras options ``torch.nn`` has no equivalent for; ``unroll`` (no effect on the numbers)
    and ``unit_forget_bias`` (initialization only) are not among them."""
    module = CONVENTION.model_name(spec)
    if spec.cell is Cell.RNN and spec.cell_activation not in (Activation.TANH, Activation.RELU):
        return (
            f"{module}'s nonlinearity is tanh or relu; activation "
            f"{spec.cell_activation.value} has no PyTorch equivalent"
        )
    if spec.cell is not Cell.RNN and (
        spec.cell_activation is not Activation.TANH or spec.gate_activation is not Activation.SIGMOID
    ):
        return (
            f"{module} fixes tanh and sigmoid; activation "
            f"{spec.cell_activation.value} / recurrent_activation {spec.gate_activation.value} "
            "have no PyTorch equivalent"
        )
    if spec.go_backwards:
        return (
            "nn.RNN has no go_backwards: it reads the sequence forward and returns it in input "
            "order (flip input and output along time with torch.flip to get Keras's result)"
        )
    if spec.stateful:
        return "nn.RNN keeps no state between calls (stateful is Keras's); pass h_n back as h_0 yourself"
    return None


#: Each canonical part's tensor in a PyTorch direction: the role, and its place among that
#: role's tensors (``bias_ih`` then ``bias_hh``).
PART_ROLES: dict[Part, tuple[Role, int]] = {
    "w_x": (Role.INPUT_KERNEL, 0),
    "w_h": (Role.RECURRENT_KERNEL, 0),
    "b_x": (Role.BIAS, 0),
    "b_h": (Role.BIAS, 1),
    "w_hr": (Role.PROJECTION, 0),
}


def _part_row(report: FrameworkReport, layer: int, direction: int, part: Part) -> WeightRow | None:
    """The row of ``report`` holding ``part`` of a layer's direction (None: no such tensor)."""
    role, place = PART_ROLES[part]
    rows = [
        row
        for row in report.layers[layer].weights
        if row.role is role and row.direction == DIRECTIONS[direction]
    ]
    return rows[place] if place < len(rows) else None


def _row_part(report: FrameworkReport, layer: int, row: WeightRow) -> Part:
    """The canonical part a ``report`` row holds: the inverse of :func:`_part_row`."""
    same_role = [
        other.path
        for other in report.layers[layer].weights
        if other.role is row.role and other.direction == row.direction
    ]
    place = same_role.index(row.path)
    return next(part for part, found in PART_ROLES.items() if found == (row.role, place))


class TorchConvention(FrameworkConvention):
    """PyTorch 2: ``nn.RNN``/``nn.LSTM``/``nn.GRU`` with ``num_layers`` and ``bidirectional``."""

    name = "torch"
    part_layouts = PARTS
    title = "PyTorch"
    module = "torch"
    install_hint = "pip install 'rnncalc[torch]'"
    files_module = "rnncalc.frameworks.torch_files"
    object_packages = ("torch",)
    objects = "a PyTorch nn.Module"
    live_module = "rnncalc.frameworks.torch_live"
    shown_by_default = True
    meta_device = True
    onednn_lstm = True  # torch.backends.mkldnn: nn.LSTM without proj_size on CPU (measured)
    skips_padding = True  # nn.utils.rnn.pack_padded_sequence: real steps only
    gate_order: ClassVar[Mapping[Cell, tuple[str, ...]]] = {
        Cell.RNN: ("h",),
        Cell.LSTM: ("i", "f", "g", "o"),
        Cell.GRU: ("r", "z", "n"),
    }

    # --- analytic ---------------------------------------------------------------------------

    def unsupported(self, spec: Spec) -> str | None:
        reason = _keras_only(spec)
        if reason:
            return reason
        if spec.step and spec.num_layers > 1:
            return (
                "PyTorch has no stacked cell: nn.RNNCell/LSTMCell/GRUCell are one layer; stack "
                "them in an nn.ModuleList and feed each one's h_1 to the next yourself"
            )
        if spec.step and spec.proj_size:
            return "nn.LSTMCell has no proj_size (only nn.LSTM projects its hidden state)"
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

    def model_name(self, spec: Spec) -> str:
        return f"nn.{(CELL_CLASS_NAMES if spec.step else CLASS_NAMES)[spec.cell]}"

    def report(self, spec: Spec) -> FrameworkReport:
        model = self.model_name(spec)
        reason = self.unsupported(spec)
        if reason:
            return FrameworkReport(self.name, model, reason=reason)
        if spec.step:
            weights = rows(cell_slots(geometry(spec, first_input(spec))), "forward")
            cell = LayerReport("cell", CELL_CLASS_NAMES[spec.cell], outputs(spec)[0][1], weights)
            batch: Shape = () if spec.unbatched else (spec.batch_size,)
            step_input = (*batch, first_input(spec))
            return FrameworkReport(self.name, model, (cell,), outputs(spec), input_shape=step_input)
        layers = block_layers(spec, first_input(spec))
        return FrameworkReport(
            self.name, model, layers, outputs(spec), input_shape=sequence_shape(spec, first_input(spec))
        )

    def totals(self, spec: Spec) -> FrameworkTotals:
        model = self.model_name(spec)
        reason = self.unsupported(spec)
        if reason:
            return FrameworkTotals(self.name, model, reason=reason)
        count = stack_count(_first_direction_slots, spec, block_output_size(spec))
        return FrameworkTotals(self.name, model, count, outputs(spec))

    def model_report(self, model: Model) -> FrameworkReport:
        """A module list run in order, as the adapter's ``SequenceModel`` does.

        Every part of the chain is a module (:data:`PARTS`), its parameters prefixed by its
        index (``0.weight``, ``1.weight_ih_l0``); each recurrent module hands its ``output``
        (not its states) to the next; ``nn.Linear`` acts on the last (feature) dimension at
        every time step, unless a head takes the last step (``per_step: false``). The model
        returns the last module's output.
        """
        kinds = [
            CLASS_NAMES[part.cell] if isinstance(part, Spec) else PARTS[part.kind].kind(part)
            for part in model.parts
        ]
        title = f"nn.Module: {arrow(kinds)}"
        reason = model_unsupported(model, self.unsupported, _part_unsupported)
        if reason:
            return FrameworkReport(self.name, title, reason=reason)
        first = model.layers[0]
        layers: list[LayerReport] = []
        size = first_input(model)
        sequences = True
        for index, part in enumerate(model.parts):
            prefix = str(index)
            if not isinstance(part, Spec):
                layout = PARTS[part.kind]
                weights = rows(layout.slots(part, size), "", f"{prefix}.")
                size = part.features(size)
                shape = sequence_shape(first, size) if sequences else (first.batch_size, size)
                layers.append(LayerReport(prefix, layout.kind(part), shape, weights))
                continue
            block = block_layers(part, size)
            weights = tuple(
                WeightRow(w.name, f"{prefix}.{w.path}", w.shape, w.role, w.direction)
                for layer in block
                for w in layer.weights
            )
            kind = block[0].kind + (f" × {part.num_layers} layers" if part.num_layers > 1 else "")
            size = block_output_size(part)
            # SequenceModel hands the parts after the last block its last step (per_step: false).
            sequences = not (index == model.last_block and model.last_step)
            shape = block[-1].output_shape if sequences else (first.batch_size, size)
            layers.append(LayerReport(prefix, kind, shape, weights))
        return FrameworkReport(self.name, title, tuple(layers), (("output", layers[-1].output_shape),))

    def model_notes(self, model: Model) -> tuple[str, ...]:
        return (
            ("PyTorch applies each Linear head at every time step of the last recurrent output",)
            if model.heads_unplaced
            else ()
        )

    def bias_note(self, spec: Spec) -> str:
        count = "two bias vectors" if spec.bias else "no bias vector"
        names = " (bias_ih, bias_hh)" if spec.bias else ""
        return f"PyTorch keeps {count} per layer and direction{names}"

    def snippet(self, spec: Spec) -> str:
        """``nn.RNN``/``nn.LSTM``/``nn.GRU`` with every keyword spelled out, run once on zeros."""
        from rnncalc.frameworks.adapter import probe_spec

        if spec.input_size is None:
            raise SpecError("input_size", "is required to write code that builds the model")
        reason = self.unsupported(spec)
        if reason:
            return unsupported_comment(self.title, spec, reason)
        if spec.step:
            return self._cell_snippet(spec)
        args = _module_args(spec)
        probe = probe_spec(spec)
        if spec.unbatched:
            shape, layout = f"({probe.seq_len}, {spec.input_size})", "(time, features): unbatched"
        elif spec.batch_first:
            shape = f"({probe.batch_size}, {probe.seq_len}, {spec.input_size})"
            layout = "(batch, time, features)"
        else:
            shape = f"({probe.seq_len}, {probe.batch_size}, {spec.input_size})"
            layout = "(time, batch, features)"
        states = "(h_n, c_n)" if spec.cell is Cell.LSTM else "h_n"
        prints = ['print("output", tuple(output.shape))', 'print("h_n", tuple(h_n.shape))']
        if spec.cell is Cell.LSTM:
            prints.append('print("c_n", tuple(c_n.shape))')
        body = "\n".join(
            [
                call(f"nn.{CLASS_NAMES[spec.cell]}", args, before="model = "),
                "",
                "for name, parameter in model.named_parameters():",
                "    print(name, tuple(parameter.shape))",
                f"x = torch.zeros{shape}  # {layout}",
                "with torch.no_grad():",
                f"    output, {states} = model(x)",
                *prints,
                "print(sum(p.numel() for p in model.parameters()))",
            ]
        )
        return header(self.title, spec) + "import torch\nfrom torch import nn\n\n" + body + "\n"

    def model_snippet(self, model: Model) -> str:
        """The :data:`MODEL_SOURCE` class holding the chain's modules, as :func:`build_model`
        builds it: its ``state_dict()`` names are :meth:`model_report`'s."""
        from rnncalc.frameworks.adapter import probe_model

        report = self.model_report(model)
        if report.reason:
            return model_unsupported_comment(self.title, model, report.model, report.reason)
        if model.input_size is None:
            raise SpecError("input_size", "is required to write code that builds the model")
        modules, activations = _model_modules(model)
        names = {index: ACTIVATIONS[activation] for index, activation in activations.items()}
        sources = {name: ACTIVATION_SOURCES.get(name, f"F.{name}") for name in sorted(set(names.values()))}
        table = [f"    {quote(name)}: {source}," for name, source in sources.items()]
        keywords = []
        if names:
            keywords.append(f"activations={{{', '.join(f'{k}: {quote(v)}' for k, v in names.items())}}}")
        if model.last_step:
            keywords += [f"last_step={model.last_block}", f"directions={model.layers[-1].num_directions}"]
        keywords.append(f"batch_first={model.batch_first}")
        probe = probe_model(model)
        lead = (probe.batch_size, probe.seq_len) if model.batch_first else (probe.seq_len, probe.batch_size)
        layout = "(batch, time" if model.batch_first else "(time, batch"
        if model.embedding is not None:
            zeros = f"x = torch.zeros({lead}, dtype=torch.long)  # {layout}): token ids"
        else:
            zeros = f"x = torch.zeros({(*lead, model.input_size)})  # {layout}, features)"
        body = [
            *(["ACTIVATIONS = {", *table, "}"] if table else ["ACTIVATIONS = {}"]),
            MODEL_SOURCE,
            "model = SequenceModel(",
            "    [",
            *modules,
            "    ],",
            *(f"    {keyword}," for keyword in keywords),
            ").eval()  # dropout is the identity, as at inference",
            "",
            "for name, tensor in model.state_dict().items():",
            "    print(name, tuple(tensor.shape))",
            zeros,
            "with torch.no_grad():",
            "    output = model(x)",
            'print("output", tuple(output.shape))',
            "print(sum(p.numel() for p in model.parameters()))",
        ]
        functional = any("F." in source for source in sources.values())
        imports = "import torch\nfrom torch import nn\n"
        imports += "from torch.nn import functional as F\n\n" if functional else "\n"
        return model_header(self.title, model, report.model) + imports + "\n".join(body) + "\n"

    def _cell_snippet(self, spec: Spec) -> str:
        """``nn.RNNCell``/``LSTMCell``/``GRUCell`` run for one step from zero states."""
        from rnncalc.frameworks.adapter import probe_spec

        args = [f"input_size={spec.input_size}", f"hidden_size={spec.hidden_size}", f"bias={spec.bias}"]
        if spec.cell is Cell.RNN:
            args.append(f"nonlinearity={quote(spec.nonlinearity.value)}")
        probe = probe_spec(spec)
        if spec.unbatched:
            shape, state, layout = f"({spec.input_size},)", f"({spec.hidden_size},)", "(features,): unbatched"
        else:
            shape = f"({probe.batch_size}, {spec.input_size})"
            state, layout = f"({probe.batch_size}, {spec.hidden_size})", "(batch, features): one time step"
        lstm = spec.cell is Cell.LSTM
        states = "h_0, c_0" if lstm else "h_0"
        body = [
            call(f"nn.{CELL_CLASS_NAMES[spec.cell]}", args, before="cell = "),
            "",
            "for name, parameter in cell.named_parameters():",
            "    print(name, tuple(parameter.shape))",
            f"x = torch.zeros{shape}  # {layout}",
            f"h_0 = torch.zeros{state}",
            *([f"c_0 = torch.zeros{state}"] if lstm else []),
            "with torch.no_grad():",
            f"    h_1, c_1 = cell(x, ({states}))" if lstm else f"    h_1 = cell(x, {states})",
            'print("h_1", tuple(h_1.shape))',
            *(['print("c_1", tuple(c_1.shape))'] if lstm else []),
            "print(sum(p.numel() for p in cell.parameters()))",
        ]
        return header(self.title, spec) + "import torch\nfrom torch import nn\n\n" + "\n".join(body) + "\n"

    def explain_notes(self, spec: Spec) -> tuple[str, ...]:
        # Only where the equation has one bias: GRU with reset_after keeps b_hn apart anyway.
        if spec.bias and not (spec.cell is Cell.GRU and spec.reset_after):
            return (
                "PyTorch keeps the bias as two vectors, `bias_ih` (`b_x`) and `bias_hh` (`b_h`); the "
                "equation only ever uses their sum, `b = b_x + b_h`.",
            )
        return ()

    def explain_extra(self, topic: str, spec: Spec) -> tuple[str, ...]:
        if topic == "equations":
            paragraphs = []
            if spec.cell is Cell.GRU and spec.reset_after:
                paragraphs.append(
                    "This is PyTorch's GRU, and Keras's with `reset_after=True` (its default, which "
                    "Keras's docs call cuDNN compatible): the reset gate `r_t` multiplies "
                    "`W_hn h_{t-1} + b_hn` after the matrix product, so the recurrent bias cannot merge "
                    "with the input bias and both are kept."
                )
            if spec.proj_size:
                paragraphs.append(
                    f"With `proj_size={spec.proj_size}` PyTorch multiplies the LSTM output by `W_hr`: "
                    f"`h_t` has {spec.proj_size} features, and `W_h` multiplies this smaller `h_{{t-1}}`. "
                    f"The cell state `c_t` keeps {spec.hidden_size}."
                )
            return tuple(paragraphs)
        if topic == "merge" and spec.merge_mode is MergeMode.CONCAT:
            return ("PyTorch always does",)
        if topic == "step" and self.unsupported(spec) is None:
            layer = {Cell.RNN: "RNN", Cell.LSTM: "LSTM", Cell.GRU: "GRU"}[spec.cell]
            return (
                f"PyTorch: `nn.{layer}Cell` is the cell `nn.{layer}` loops; its parameters drop the "
                "layer's `_l0` suffix (`weight_ih`, `bias_hh`), and it also takes an unbatched `(I,)`.",
            )
        if topic == "outputs" and self.unsupported(spec) is None and not spec.unbatched and not spec.step:
            order = "(batch, time, features)" if spec.batch_first else "(time, batch, features)"
            unless = "" if spec.batch_first else " unless `batch_first=True`"
            return (f"PyTorch's output is {order}{unless}; its `h_n` stacks layers × directions first",)
        if topic == "difference" and spec.bias and not (spec.cell is Cell.GRU and spec.reset_after):
            return (
                "PyTorch adds two bias vectors, `b_x + b_h`, where the equation needs one `b`, as "
                "cuDNN's weight layout does",
            )
        return ()

    # --- adapter (imports torch) -------------------------------------------------------------

    def input_shape(self, spec: Spec) -> tuple[int, ...]:
        return input_shape(spec)

    def step_states(self, spec: Spec) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """``h_0`` (and ``c_0``) as the cell takes them: ``(N, H)``, or ``(H,)`` unbatched."""
        if not spec.step:
            return ()
        shape = (spec.hidden_size,) if spec.unbatched else (_batch(spec), spec.hidden_size)
        return (("h_0", shape), ("c_0", shape)) if spec.cell is Cell.LSTM else (("h_0", shape),)

    def measure(self, spec: Spec, *, device: str = "cpu") -> Measured:
        _require(self)
        return measure(spec, device)

    def measure_model(self, model: Model) -> Measured:
        _require(self)
        return measure_model(model)

    def run_model_real(self, model: Model, weights: Mapping[str, Any], x: Any) -> Arrays:
        """The ``SequenceModel`` with ``weights`` loaded by ``load_state_dict(strict=True)``."""
        _require(self)
        import numpy as np
        import torch

        module = build_model(model)
        module.load_state_dict({name: torch.as_tensor(_numpy(value)) for name, value in weights.items()})
        dtype = np.int64 if model.embedding is not None else np.float32
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = module(torch.from_numpy(np.ascontiguousarray(x, dtype=dtype)))
        return {"output": output.numpy()}

    def run_real(self, spec: Spec, weights: Mapping[str, Any], x: Any) -> Arrays:
        """Load ``weights`` (``state_dict`` names) into the module and run it on ``x``."""
        _require(self)
        import torch

        module = build(spec)
        module.load_state_dict({name: torch.as_tensor(_numpy(value)) for name, value in weights.items()})
        return run(module, spec, x)

    # --- weights (imports numpy) -------------------------------------------------------------

    def canonical_part(
        self, spec: Spec, weights: Mapping[str, Any], layer: int, direction: int, part: Part
    ) -> Blocks | None:
        """PyTorch already stores ``W_ih`` as ``(gates*H, in)`` with two biases per direction:
        each part is one tensor (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...), split into its
        gate row blocks."""
        from rnncalc import reference

        row = _part_row(self.report(spec), layer, direction, part)
        if row is None:
            return None
        tensor = reference.lookup(weights, row.path)
        return (tensor,) if part == "w_hr" else reference.canonical_blocks(tensor, self, spec.cell)

    def tensor_from_canonical(self, spec: Spec, layer: int, row: WeightRow, part: PartGetter) -> Array:
        """A ``state_dict`` tensor: its part's gate blocks stacked in PyTorch's order."""
        import numpy as np

        from rnncalc import reference

        name = _row_part(self.report(spec), layer, row)
        blocks = reference.held(part, DIRECTIONS.index(row.direction), name)
        if name == "w_hr":
            return np.array(blocks[0], dtype=reference.DTYPE)
        return reference.stacked(blocks, self, spec.cell)

    def reference_forward(self, spec: Spec, weights: StackWeights, x: Any) -> Arrays:
        """What the module returns for ``x`` in its layout: output, h_n (, c_n).

        ``x`` is ``(L, N, I)``, ``(N, L, I)`` with ``batch_first``, or ``(L, I)`` unbatched.
        ``h_n`` stacks layer 0 forward, layer 0 backward, layer 1 forward, ... on its first
        axis and is never batch-first.
        """
        import numpy as np

        from rnncalc import reference

        reason = self.unsupported(spec)
        if reason:
            raise SpecError("framework", f"PyTorch cannot express this spec: {reason}")
        if spec.step:
            return _reference_step(spec, weights, x)
        xs = reference.f32(x)
        if spec.unbatched:
            xs = xs[:, None, :]
        elif spec.batch_first:
            xs = xs.transpose(1, 0, 2)
        results = reference.run_stack(spec, weights, xs)
        output = reference.merge_directions(tuple(r.sequence for r in results[-1]), MergeMode.CONCAT)
        named: Arrays = {"output": output, "h_n": np.stack([r.h for layer in results for r in layer])}
        if spec.cell is Cell.LSTM:
            named["c_n"] = np.stack([r.c for layer in results for r in layer if r.c is not None])
        if spec.unbatched:
            # Both the output (L, 1, F) and the states (D*layers, 1, H) lose their batch axis.
            return {name: np.ascontiguousarray(value[:, 0]) for name, value in named.items()}
        if spec.batch_first:
            named["output"] = named["output"].transpose(1, 0, 2)
        return {name: np.ascontiguousarray(value) for name, value in named.items()}


CONVENTION = TorchConvention()


# --- Snippet sources ------------------------------------------------------------------------------


def _module_args(spec: Spec) -> list[str]:
    """``nn.RNN``/``nn.LSTM``/``nn.GRU``'s keywords, every one spelled out."""
    args = [
        f"input_size={spec.input_size}",
        f"hidden_size={spec.hidden_size}",
        f"num_layers={spec.num_layers}",
    ]
    if spec.cell is Cell.RNN:
        args.append(f"nonlinearity={quote(spec.nonlinearity.value)}")
    args += [
        f"bias={spec.bias}",
        f"batch_first={spec.batch_first}",
        f"bidirectional={spec.bidirectional}",
    ]
    if spec.cell is Cell.LSTM:
        args.append(f"proj_size={spec.proj_size}")
    return args


def _model_modules(model: Model) -> tuple[list[str], dict[int, DenseActivation]]:
    """The source of each module :func:`build_model` builds (indented as list items), and the
    dense activations by module index."""
    from rnncalc.core.model import Dropout, Embedding, LayerNorm

    modules: list[str] = []
    activations: dict[int, DenseActivation] = {}
    size = model.input_size
    indent = " " * 8
    for index, part in enumerate(model.parts):
        if isinstance(part, Spec):
            args = _module_args(part.replace(input_size=size))
            modules.append(call(f"nn.{CLASS_NAMES[part.cell]}", args, after=",", indent=indent))
        elif isinstance(part, Embedding):
            modules.append(
                call("nn.Embedding", [str(part.vocab_size), str(part.dim)], after=",", indent=indent)
            )
        elif isinstance(part, LayerNorm):
            args = [
                str(size),
                f"eps={part.epsilon!r}",
                f"elementwise_affine={part.scale or part.bias}",
                f"bias={part.bias}",
            ]
            modules.append(call("nn.LayerNorm", args, after=",", indent=indent))
        elif isinstance(part, Dropout):
            modules.append(call("nn.Dropout", [f"p={part.rate!r}"], after=",", indent=indent))
        else:
            args = [str(size), str(part.units), f"bias={part.bias}"]
            modules.append(call("nn.Linear", args, after=",", indent=indent))
            if part.activation is not None:
                activations[index] = part.activation
        assert size is not None
        size = block_output_size(part) if isinstance(part, Spec) else part.features(size)
    return modules, activations


#: The source of each function :func:`_activation` returns that is not ``F.<name>``
#: (``torch.nn.functional``); a test runs both on the same tensor.
ACTIVATION_SOURCES: dict[str, str] = {
    "identity": "lambda x: x",
    "tanh": "torch.tanh",
    "sigmoid": "torch.sigmoid",
    "exp": "torch.exp",
    "softmax": "lambda x: F.softmax(x, dim=-1)",
    "log_softmax": "lambda x: F.log_softmax(x, dim=-1)",
    "leaky_relu": "lambda x: F.leaky_relu(x, 0.2)",
}

#: ``SequenceModel`` as scripts define it: the class :func:`_sequence_model_class` builds, with
#: the script's ``ACTIVATIONS`` table for :func:`_activation` (a test runs both on one input).
MODEL_SOURCE = '''

class SequenceModel(nn.Module):
    """Modules run in order, like nn.Sequential but passing on only a recurrent module's
    output. activations: a module's index -> the name of the function (ACTIVATIONS) applied
    to its output; last_step: the index of the recurrent module after which only the last
    step goes on (with two directions: the forward half at the last step, the backward half
    at the first)."""

    def __init__(
        self,
        modules,
        activations=None,
        last_step=None,
        directions=1,
        batch_first=False,
    ):
        super().__init__()
        for index, module in enumerate(modules):
            self.add_module(str(index), module)
        names = activations or {}
        self.activations = {index: ACTIVATIONS[name] for index, name in names.items()}
        self.last_step = last_step
        self.directions = directions
        self.time_axis = 1 if batch_first else 0

    def forward(self, x):
        for index, module in enumerate(self.children()):
            x = module(x)
            if isinstance(x, tuple):
                x = x[0]
            if index == self.last_step:
                last = x.select(self.time_axis, -1)
                if self.directions == 2:
                    half = x.shape[-1] // 2
                    first = x.select(self.time_axis, 0)
                    last = torch.cat([last[..., :half], first[..., half:]], dim=-1)
                x = last
            if index in self.activations:
                x = self.activations[index](x)
        return x

'''


def _batch(spec: Spec) -> int:
    assert spec.batch_size is not None
    return spec.batch_size


def _reference_step(spec: Spec, weights: StackWeights, x: Mapping[str, Any]) -> Arrays:
    """The reference's ``h_1`` (and ``c_1``) for one step from ``x["h_0"]`` (and ``c_0``)."""
    import numpy as np

    from rnncalc import reference

    def batched(name: str) -> Any:
        value = reference.f32(x[name])
        return value[None] if spec.unbatched else value

    c_0 = batched("c_0") if spec.cell is Cell.LSTM else None
    (result,) = reference.run_step(spec, weights, batched("x"), ((batched("h_0"), c_0),))
    named: Arrays = {"h_1": result.h}
    if result.c is not None:
        named["c_1"] = result.c
    return {name: np.ascontiguousarray(v[0] if spec.unbatched else v) for name, v in named.items()}


def _require(convention: FrameworkConvention) -> None:
    from rnncalc.frameworks.adapter import require

    require(convention)


def _numpy(value: Any) -> Any:
    import numpy as np

    return np.ascontiguousarray(np.asarray(value, dtype=np.float32))


# --- Adapter: the real modules (each function imports torch) -------------------------------------


def build(spec: Spec, device: str | torch.device = "cpu") -> nn.RNNBase | nn.RNNCellBase:
    """The ``nn`` module for ``spec`` (``input_size`` must be known)."""
    from torch import nn

    reason = CONVENTION.unsupported(spec)
    if reason:
        raise SpecError("framework", f"PyTorch cannot express this spec: {reason}")
    if spec.input_size is None:
        raise SpecError("input_size", "is required to build a real model")
    if spec.step:
        return build_cell(spec, device)
    kwargs: dict[str, Any] = {
        "input_size": spec.input_size,
        "hidden_size": spec.hidden_size,
        "num_layers": spec.num_layers,
        "bias": spec.bias,
        "batch_first": spec.batch_first,
        "bidirectional": spec.bidirectional,
        "device": device,
    }
    if spec.cell is Cell.RNN:
        kwargs["nonlinearity"] = spec.nonlinearity.value
    if spec.cell is Cell.LSTM:
        kwargs["proj_size"] = spec.proj_size
    module_class = {Cell.RNN: nn.RNN, Cell.LSTM: nn.LSTM, Cell.GRU: nn.GRU}[spec.cell]
    return module_class(**kwargs)


def build_cell(spec: Spec, device: str | torch.device = "cpu") -> nn.RNNCellBase:
    """``nn.RNNCell``/``LSTMCell``/``GRUCell`` for a step spec (``input_size`` known)."""
    from torch import nn

    assert spec.input_size is not None
    kwargs: dict[str, Any] = {"bias": spec.bias, "device": device}
    if spec.cell is Cell.RNN:
        kwargs["nonlinearity"] = spec.nonlinearity.value
    cell_class = {Cell.RNN: nn.RNNCell, Cell.LSTM: nn.LSTMCell, Cell.GRU: nn.GRUCell}[spec.cell]
    return cell_class(spec.input_size, spec.hidden_size, **kwargs)


def input_shape(spec: Spec) -> tuple[int, ...]:
    """The input tensor's shape for a spec whose batch and time are known: one step's
    ``(N, I)`` or ``(I,)`` for a cell."""
    if spec.step:
        assert spec.input_size is not None
        return (spec.input_size,) if spec.unbatched else (_batch(spec), spec.input_size)
    assert spec.input_size is not None and spec.seq_len is not None
    if spec.unbatched:
        return (spec.seq_len, spec.input_size)
    assert spec.batch_size is not None
    if spec.batch_first:
        return (spec.batch_size, spec.seq_len, spec.input_size)
    return (spec.seq_len, spec.batch_size, spec.input_size)


def forward_shapes(
    module: nn.RNNBase | nn.RNNCellBase, spec: Spec
) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Run ``module`` on zeros and name its outputs as the docs do: output, h_n, c_n (a cell:
    h_1, c_1, from its default zero states)."""
    import torch

    device = next(module.parameters()).device
    if spec.step:
        with torch.no_grad():
            result = module(torch.zeros(input_shape(spec), device=device))
        tensors = result if isinstance(result, tuple) else (result,)
        return tuple((name, tuple(t.shape)) for name, t in zip(("h_1", "c_1"), tensors, strict=False))
    with torch.no_grad(), warnings.catch_warnings():
        # e.g. "LSTM with projections is not supported with oneDNN": noise, not a result.
        warnings.simplefilter("ignore")
        output, state = module(torch.zeros(input_shape(spec), device=device))
    states = state if isinstance(state, tuple) else (state,)
    named = zip(("h_n", "c_n"), states, strict=False)
    return (("output", tuple(output.shape)), *((name, tuple(t.shape)) for name, t in named))


def measure(spec: Spec, device: str = "cpu") -> Measured:
    """Build, count and run the module once on zeros.

    On ``device="meta"`` no memory is allocated: parameters have shapes but no data, and the
    forward pass still propagates shapes (PyTorch's meta kernels), so a model of hundreds of
    GB checks in well under a second. Should a PyTorch version lack a meta kernel for the
    forward pass, only the parameters are compared and the note says so.
    """
    from rnncalc.frameworks.adapter import Measured, probe_spec

    probe = probe_spec(spec)
    module = build(probe, device=device)
    weights = tuple((name, tuple(p.shape)) for name, p in module.named_parameters())
    total = sum(p.numel() for p in module.parameters())
    try:
        shapes = forward_shapes(module, probe)
    except (NotImplementedError, RuntimeError) as error:
        if device != "meta":
            raise
        note = f"output shapes not checked: the forward pass failed on the meta device ({error})"
        return Measured(CONVENTION.name, total, weights, (), probe, device, False, note)
    return Measured(CONVENTION.name, total, weights, shapes, probe, device)


#: ``torch.nn.functional`` for each dense activation, with Keras 3's defaults (softmax on the
#: last axis, leaky_relu's slope 0.2, exact gelu); applied in ``forward``, so they add no module
#: and the parameter names stay those of the modules alone.
ACTIVATIONS: dict[DenseActivation, str] = {
    DenseActivation.LINEAR: "identity",
    DenseActivation.RELU: "relu",
    DenseActivation.TANH: "tanh",
    DenseActivation.SIGMOID: "sigmoid",
    DenseActivation.SOFTMAX: "softmax",
    DenseActivation.LOG_SOFTMAX: "log_softmax",
    DenseActivation.GELU: "gelu",
    DenseActivation.ELU: "elu",
    DenseActivation.SELU: "selu",
    DenseActivation.SILU: "silu",
    DenseActivation.SOFTPLUS: "softplus",
    DenseActivation.SOFTSIGN: "softsign",
    DenseActivation.LEAKY_RELU: "leaky_relu",
    DenseActivation.HARD_SIGMOID: "hardsigmoid",
    DenseActivation.HARD_SILU: "hardswish",
    DenseActivation.HARD_TANH: "hardtanh",
    DenseActivation.RELU6: "relu6",
    DenseActivation.CELU: "celu",
    DenseActivation.EXPONENTIAL: "exp",
}


def _activation(name: str) -> Any:
    """The function ``ACTIVATIONS`` names: :data:`ACTIVATION_SOURCES`' where it has one, else
    ``torch.nn.functional``'s."""
    import torch
    from torch.nn import functional

    source = ACTIVATION_SOURCES.get(name)
    return eval(source, {"torch": torch, "F": functional}) if source else getattr(functional, name)


@cache
def _sequence_model_class() -> type[nn.Module]:
    """The ``SequenceModel`` of :data:`MODEL_SOURCE`, defined from that source, so the class
    the adapter runs is the one scripts print: modules run in order, like ``nn.Sequential`` but
    passing on only a recurrent module's ``output``; parameters named by module index
    (``1.weight_ih_l0``); ``activations`` by module index, ``last_step`` as the source says."""
    import torch
    from torch import nn
    from torch.nn import functional

    activations = {name: _activation(name) for name in ACTIVATIONS.values()}
    namespace: dict[str, Any] = {"__name__": __name__, "torch": torch, "nn": nn, "F": functional}
    namespace["ACTIVATIONS"] = activations
    exec(MODEL_SOURCE, namespace)
    model_class: type[nn.Module] = namespace["SequenceModel"]
    return model_class


def __getattr__(name: str) -> Any:
    """``SequenceModel`` is defined at first use, so importing this module never imports torch."""
    if name == "SequenceModel":
        return _sequence_model_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_model(model: Model, device: str | torch.device = "cpu") -> nn.Module:
    """The ``SequenceModel`` for ``model`` (its input size must be known)."""
    from torch import nn

    from rnncalc.core.model import Dropout, Embedding, LayerNorm

    reason = model_unsupported(model, CONVENTION.unsupported, _part_unsupported)
    if reason:
        raise SpecError("framework", f"PyTorch cannot express this model: {reason}")
    if model.input_size is None:
        raise SpecError("input_size", "is required to build a real model")
    modules: list[nn.Module] = []
    activations: dict[int, str] = {}
    size = model.input_size
    for index, part in enumerate(model.parts):
        if isinstance(part, Spec):
            modules.append(build(part.replace(input_size=size), device))
        elif isinstance(part, Embedding):
            modules.append(nn.Embedding(part.vocab_size, part.dim, device=device))
        elif isinstance(part, LayerNorm):
            affine = part.scale or part.bias
            norm = nn.LayerNorm(size, part.epsilon, elementwise_affine=affine, bias=part.bias, device=device)
            modules.append(norm)
        elif isinstance(part, Dropout):
            modules.append(nn.Dropout(part.rate))
        else:
            modules.append(nn.Linear(size, part.units, bias=part.bias, device=device))
            if part.activation is not None:
                activations[index] = ACTIVATIONS[part.activation]
        size = block_output_size(part) if isinstance(part, Spec) else part.features(size)
    last = model.layers[-1]
    built = _sequence_model_class()(
        modules,
        activations,
        model.last_block if model.last_step else None,
        last.num_directions,
        model.batch_first,
    )
    return built.eval()  # dropout is the identity, as at inference


def model_input(model: Model, batch: int, seq_len: int) -> torch.Tensor:
    """Zeros of the model's input: token ids after an embedding, else features."""
    import torch

    lead = (batch, seq_len) if model.batch_first else (seq_len, batch)
    if model.embedding is not None:
        return torch.zeros(lead, dtype=torch.long)
    assert model.input_size is not None
    return torch.zeros((*lead, model.input_size))


def measure_model(model: Model) -> Measured:
    """Build, count and run the real PyTorch model once (unknown batch/time → small probes)."""
    import torch

    from rnncalc.frameworks.adapter import PROBE_BATCH, PROBE_SEQ_LEN, Measured

    batch = model.batch_size or PROBE_BATCH
    seq_len = model.seq_len or PROBE_SEQ_LEN
    module = build_model(model)
    weights = tuple((name, tuple(p.shape)) for name, p in module.named_parameters())
    total = sum(p.numel() for p in module.parameters())
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        output = module(model_input(model, batch, seq_len))
    probe = model.layers[0].replace(batch_size=batch, seq_len=seq_len)
    return Measured(CONVENTION.name, total, weights, (("output", tuple(output.shape)),), probe)


def build_seeded(spec: Spec, seed: int) -> nn.RNNBase | nn.RNNCellBase:
    """The module for ``spec`` with weights initialised after ``torch.manual_seed(seed)``."""
    import torch

    torch.manual_seed(seed)
    return build(spec)


def weights_numpy(module: nn.RNNBase | nn.RNNCellBase) -> Arrays:
    """The module's ``state_dict`` as float32 numpy arrays, keyed by parameter name."""
    import numpy as np

    return {name: t.detach().cpu().numpy().astype(np.float32) for name, t in module.state_dict().items()}


def run(module: nn.RNNBase | nn.RNNCellBase, spec: Spec, x: Any) -> Arrays:
    """Forward ``x`` (in the spec's input layout) and name the results: output, h_n (, c_n).
    For a cell ``x`` maps ``"x"``, ``"h_0"`` (, ``"c_0"``) and the results are h_1 (, c_1)."""
    import numpy as np
    import torch

    def tensor(value: Any) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))

    if spec.step:
        h_0 = tensor(x["h_0"])
        with torch.no_grad():
            if spec.cell is Cell.LSTM:
                h_1, c_1 = module(tensor(x["x"]), (h_0, tensor(x["c_0"])))
                return {"h_1": h_1.numpy(), "c_1": c_1.numpy()}
            return {"h_1": module(tensor(x["x"]), h_0).numpy()}

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        output, state = module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    states = state if isinstance(state, tuple) else (state,)
    named = {"output": output, **dict(zip(("h_n", "c_n"), states, strict=False))}
    return {name: t.detach().cpu().numpy() for name, t in named.items()}
