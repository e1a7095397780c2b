"""Keras 3: ``SimpleRNN``/``LSTM``/``GRU`` (and ``Bidirectional``) as one
:class:`~rnncalc.frameworks.contract.FrameworkConvention`.

Sources: Keras 3 ``keras/src/layers/rnn/{simple_rnn,lstm,gru,bidirectional,rnn}.py`` (``build``
of each cell, ``call`` of the wrappers and of ``RNN``). Everything Keras-specific lives here: class, layer and
variable names, shapes, output and state shapes, what Keras cannot express, the snippet, the
adapter (TensorFlow backend) and the weight conversions. keras and numpy are imported inside
the methods that need them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from rnncalc.core.calc import merged_features
from rnncalc.core.errors import SpecError
from rnncalc.core.parts import PartKind
from rnncalc.core.report import FrameworkReport, FrameworkTotals, LayerReport, Role, WeightRow
from rnncalc.core.spec import Activation, Cell, MergeMode, Spec
from rnncalc.core.symbolic import INPUT, Dim, Shape
from rnncalc.frameworks.base import (
    DIRECTIONS,
    CellGeometry,
    LayerNames,
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
    LINE_LENGTH,
    call,
    header,
    model_header,
    model_unsupported_comment,
    quote,
    unsupported_comment,
)

if TYPE_CHECKING:
    import keras
    import numpy as np

    from rnncalc.core.model import Dense, Model
    from rnncalc.frameworks.adapter import Measured
    from rnncalc.reference import Blocks, Part, PartGetter, StackWeights

    Array = np.ndarray[Any, Any]
    Arrays = dict[str, Array]

#: Class names in ``keras.layers``.
CLASS_NAMES: dict[Cell, str] = {Cell.RNN: "SimpleRNN", Cell.LSTM: "LSTM", Cell.GRU: "GRU"}
#: Keras's automatic layer names (``SimpleRNN`` → ``simple_rnn``); its cells add ``_cell``.
LAYER_NAMES: dict[Cell, str] = {Cell.RNN: "simple_rnn", Cell.LSTM: "lstm", Cell.GRU: "gru"}
#: One time step (``spec.step``): the bare cell classes, called as ``cell(x, states)``.
CELL_CLASS_NAMES: dict[Cell, str] = {Cell.RNN: "SimpleRNNCell", Cell.LSTM: "LSTMCell", Cell.GRU: "GRUCell"}
#: Keras's name for the first ``Sequential`` of a session; Keras 3 scopes the variable paths
#: of a Sequential's layers under it (``sequential/embedding/embeddings``), unlike a Functional
#: model's.
SEQUENTIAL_NAME = "sequential"


# --- Weight layout (data) ----------------------------------------------------------------------


def bias_vectors(geometry: CellGeometry) -> int:
    """How many bias vectors of ``gates*units`` one direction keeps: one, except GRU with
    ``reset_after=True`` (the default), whose bias is ``(2, 3*units)`` because the recurrent
    bias is applied inside the reset gate's product."""
    if not geometry.bias:
        return 0
    return 2 if geometry.cell is Cell.GRU and geometry.reset_after else 1


def slots(geometry: CellGeometry) -> list[WeightSlot]:
    """Cell weights in ``layer.weights`` order: kernel, recurrent_kernel, bias.

    Keras stores matrices transposed relative to PyTorch: ``kernel`` is ``(in, gates*units)``.
    """
    cols = geometry.gate_rows
    result = [
        WeightSlot("kernel", (geometry.input_size, cols), Role.INPUT_KERNEL),
        WeightSlot("recurrent_kernel", (geometry.hidden_size, cols), Role.RECURRENT_KERNEL),
    ]
    vectors = bias_vectors(geometry)
    if vectors == 1:
        result.append(WeightSlot("bias", (cols,), Role.BIAS))
    elif vectors == 2:
        result.append(WeightSlot("bias", (2, cols), Role.BIAS))
    return result


def _shape(spec: Spec, features: Dim, sequences: bool) -> Shape:
    if sequences:
        return (spec.batch_size, spec.seq_len, features)
    return (spec.batch_size, features)


def _dense_slots(part: Dense, size: Dim) -> list[WeightSlot]:
    """``Dense``: kernel ``(in, units)``, bias ``(units,)``."""
    bias = [WeightSlot("bias", (part.units,), Role.DENSE)] if part.bias else []
    return [WeightSlot("kernel", (size, part.units), Role.DENSE), *bias]


#: The parts of a model other than recurrent blocks, as Keras layers hold them: the class, the
#: name a fresh session numbers it under, the variables in creation order.
PARTS: dict[PartKind, PartLayout] = {
    # Embedding.embeddings is (input_dim, output_dim), as nn.Embedding's weight.
    PartKind.EMBEDDING: PartLayout(
        lambda part: "Embedding",
        "embedding",
        lambda part, size: [WeightSlot("embeddings", (part.vocab_size, part.dim), Role.EMBEDDING)],
        canonical=canonical_names(embeddings="weight"),
    ),
    # LayerNormalization(epsilon, scale, center): gamma, then beta (keras/src/layers/normalization).
    PartKind.LAYER_NORM: PartLayout(
        lambda part: "LayerNormalization",
        "layer_normalization",
        norm_slots("gamma", "beta"),
        canonical=canonical_names(gamma="weight", beta="bias"),
    ),
    # Dropout and SpatialDropout1D hold no variables; the chain keeps them.
    PartKind.DROPOUT: PartLayout(lambda part: "Dropout", "dropout", no_slots),
    # A Dense on a sequence acts on the last axis at every step: TimeDistributed(Dense)'s weights.
    # Its kernel is (in, units): nn.Linear's weight transposed.
    PartKind.DENSE: PartLayout(
        lambda part: "Dense",
        "dense",
        _dense_slots,
        canonical=canonical_names(kernel=("weight", True), bias="bias"),
    ),
}


def layer_kind(spec: Spec) -> str:
    class_name = CLASS_NAMES[spec.cell]
    return f"Bidirectional({class_name})" if spec.bidirectional else class_name


def block_layers(
    spec: Spec, input_size: Dim, names: LayerNames, last_sequences: bool
) -> tuple[LayerReport, ...]:
    """The ``num_layers`` Keras layers of one block; all but the last return sequences.

    ``names`` hands out the layer names, so blocks of a larger model continue its numbering.
    """
    layer_name = LAYER_NAMES[spec.cell]
    cell_name = f"{layer_name}_cell"
    layers = []
    for index in range(spec.num_layers):
        inner = names.next(layer_name)
        if spec.bidirectional:
            outer = names.next("bidirectional")
            prefixes = [f"{outer}/{direction}_{inner}/{cell_name}/" for direction in DIRECTIONS]
            name = outer
        else:
            prefixes = [f"{inner}/{cell_name}/"]
            name = inner
        direction_slots = slots(geometry(spec, input_size))
        weights = tuple(
            row
            for direction, prefix in zip(DIRECTIONS, prefixes, strict=False)
            for row in rows(direction_slots, direction, prefix)
        )
        sequences = index < spec.num_layers - 1 or last_sequences
        output = _shape(spec, merged_features(spec), sequences)
        layers.append(LayerReport(name, layer_kind(spec), output, weights))
        input_size = merged_features(spec)
    return tuple(layers)


#: What ``StackedRNNCells`` is called in a fresh session; its cells' paths are scoped under it.
STACKED_NAME = "stacked_rnn_cells"


def cell_names(spec: Spec) -> list[str]:
    """A step's cell names in a fresh session: ``lstm_cell``, ``lstm_cell_1``, ..."""
    names = LayerNames()
    return [names.next(f"{LAYER_NAMES[spec.cell]}_cell") for _ in range(spec.num_layers)]


def _state_names(spec: Spec, prefix: str) -> list[str]:
    """``{prefix}h`` (, ``{prefix}c``) per cell; with several cells (``StackedRNNCells``) each
    name ends in ``_l{k}``, as PyTorch suffixes its layers."""
    letters = ("h", "c") if spec.cell is Cell.LSTM else ("h",)
    suffixes = [f"_l{k}" for k in range(spec.num_layers)] if spec.num_layers > 1 else [""]
    return [f"{prefix.format(letter)}{suffix}" for suffix in suffixes for letter in letters]


def outputs(spec: Spec) -> tuple[tuple[str, Shape], ...]:
    """The returned tensors in Keras order: output(s), then each direction's states. A cell
    returns ``(output, new_states)``: ``output`` (its new ``h``), then ``state_h`` (, ``state_c``),
    for each cell of a ``StackedRNNCells`` in turn."""
    hidden = spec.hidden_size
    if spec.step:
        names = ["output", *_state_names(spec, "state_{}")]
        return tuple((name, (spec.batch_size, hidden)) for name in names)
    if spec.bidirectional and spec.merge_mode is MergeMode.NONE:
        single = _shape(spec, hidden, spec.return_sequences)
        result: list[tuple[str, Shape]] = [("output_forward", single), ("output_backward", single)]
    else:
        result = [("output", _shape(spec, merged_features(spec), spec.return_sequences))]
    if spec.return_state:
        states = ["state_h", "state_c"] if spec.cell is Cell.LSTM else ["state_h"]
        prefixes = [f"{d}_" for d in DIRECTIONS] if spec.bidirectional else [""]
        result += [(prefix + state, (spec.batch_size, hidden)) for prefix in prefixes for state in states]
    return tuple(result)


def cell_options(spec: Spec) -> dict[str, Any]:
    """Keyword arguments of the cell's equations (and of the layer wrapping it) where they differ
    from Keras's defaults; a SimpleRNN always names its activation (the nonlinearity)."""
    kwargs: dict[str, Any] = {}
    if spec.cell is Cell.RNN or spec.cell_activation is not Activation.TANH:
        kwargs["activation"] = spec.cell_activation.value
    if spec.cell is not Cell.RNN and spec.gate_activation is not Activation.SIGMOID:
        kwargs["recurrent_activation"] = spec.gate_activation.value
    if spec.cell is Cell.LSTM and not spec.unit_forget_bias:
        kwargs["unit_forget_bias"] = False
    return kwargs


def layer_options(spec: Spec) -> dict[str, Any]:
    """:func:`cell_options` plus the layer-over-time flags that are set (go_backwards,
    stateful, unroll)."""
    flags = {name: True for name in ("go_backwards", "stateful", "unroll") if getattr(spec, name)}
    return {**cell_options(spec), **flags}


class KerasConvention(FrameworkConvention):
    """Keras 3: a model of ``num_layers`` recurrent layers; all but the last return sequences."""

    name = "keras"
    part_layouts = PARTS
    title = "Keras 3"
    module = "keras"
    install_hint = "pip install 'rnncalc[tensorflow]'"
    files_module = "rnncalc.frameworks.keras_files"
    object_packages = ("keras",)  # tf.keras is Keras 3's classes too
    objects = "a Keras Model or layer"
    live_module = "rnncalc.frameworks.keras_live"
    shown_by_default = True
    kernels_transposed = True
    gate_order: ClassVar[Mapping[Cell, tuple[str, ...]]] = {
        Cell.RNN: ("h",),
        Cell.LSTM: ("i", "f", "c", "o"),
        Cell.GRU: ("z", "r", "h"),
    }
    #: Keras calls the LSTM cell candidate ``c`` (PyTorch ``g``) and the GRU candidate ``h``
    #: (PyTorch ``n``).
    gate_aliases: ClassVar[Mapping[Cell, Mapping[str, str]]] = {Cell.LSTM: {"c": "g"}, Cell.GRU: {"h": "n"}}

    @property
    def short_title(self) -> str:
        return "Keras"

    # --- analytic ---------------------------------------------------------------------------

    def unsupported(self, spec: Spec) -> str | None:
        if spec.proj_size:
            return "Keras LSTM has no projection (proj_size is PyTorch only)"
        if spec.unbatched:
            return "Keras layers always take a batch dimension; unbatched input is PyTorch only"
        return None

    def model_name(self, spec: Spec) -> str:
        if spec.step:
            cell = CELL_CLASS_NAMES[spec.cell]
            return f"StackedRNNCells of {spec.num_layers} × {cell}" if spec.num_layers > 1 else cell
        kind = layer_kind(spec)
        return f"Sequential of {spec.num_layers} × {kind}" if spec.num_layers > 1 else kind

    def report(self, spec: Spec) -> FrameworkReport:
        model = self.model_name(spec)
        reason = self.unsupported(spec)
        if reason:
            return FrameworkReport(self.name, model, reason=reason)
        if spec.step:
            # One cell: "lstm_cell/kernel"; StackedRNNCells: "stacked_rnn_cells/lstm_cell_1/kernel".
            scope = f"{STACKED_NAME}/" if spec.num_layers > 1 else ""
            cells = []
            size = first_input(spec)
            for name in cell_names(spec):
                weights = rows(slots(geometry(spec, size)), "forward", f"{scope}{name}/")
                kind = CELL_CLASS_NAMES[spec.cell]
                cells.append(LayerReport(name, kind, (spec.batch_size, spec.hidden_size), weights))
                size = spec.hidden_size
            step_input = _shape(spec, first_input(spec), sequences=False)
            return FrameworkReport(self.name, model, tuple(cells), outputs(spec), input_shape=step_input)
        layers = block_layers(spec, first_input(spec), LayerNames(), spec.return_sequences)
        sequence = _shape(spec, first_input(spec), sequences=True)
        return FrameworkReport(self.name, model, layers, outputs(spec), input_shape=sequence)

    def totals(self, spec: Spec) -> FrameworkTotals:
        model = self.model_name(spec)
        reason = self.unsupported(spec)
        if reason:
            return FrameworkTotals(self.name, model, reason=reason)
        count = stack_count(slots, spec, merged_features(spec))
        return FrameworkTotals(self.name, model, count, outputs(spec))

    def model_report(self, model: Model) -> FrameworkReport:
        """A ``keras.Sequential`` of the chain (:data:`PARTS`): every recurrent layer but the
        last returns sequences, the last when :attr:`Model.tail_sequences`; ``Dense`` acts on the
        last dimension (per time step on a sequence). Weight paths carry the Sequential's name as
        Keras 3 reports them.
        """
        kinds = [
            layer_kind(part) if isinstance(part, Spec) else PARTS[part.kind].kind(part)
            for part in model.parts
        ]
        title = f"Sequential: {arrow(kinds)}"
        reason = model_unsupported(model, self.unsupported)
        if reason:
            return FrameworkReport(self.name, title, reason=reason)
        names = LayerNames()
        first = model.layers[0]
        layers: list[LayerReport] = []
        size = first_input(model)
        sequences = True
        for index, part in enumerate(model.parts):
            if isinstance(part, Spec):
                last = index == model.last_block
                sequences = model.tail_sequences or not last
                layers.extend(block_layers(part, size, names, sequences))
                size = merged_features(part)
                continue
            layout = PARTS[part.kind]
            name = names.next(layout.base)
            weights = rows(layout.slots(part, size), "", f"{name}/")
            size = part.features(size)
            layers.append(LayerReport(name, layout.kind(part), _shape(first, size, sequences), weights))
        scoped = tuple(
            LayerReport(
                layer.name,
                layer.kind,
                layer.output_shape,
                tuple(
                    WeightRow(w.name, f"{SEQUENTIAL_NAME}/{w.path}", w.shape, w.role, w.direction)
                    for w in layer.weights
                ),
            )
            for layer in layers
        )
        return FrameworkReport(self.name, title, scoped, (("output", layers[-1].output_shape),))

    def model_notes(self, model: Model) -> tuple[str, ...]:
        return ("Keras Dense sees the last step unless return_sequences",) if model.heads_unplaced else ()

    def bias_note(self, spec: Spec) -> str:
        if spec.bias and spec.cell is Cell.GRU and spec.reset_after:
            return "Keras GRU with reset_after=True keeps two bias vectors"
        count = "one bias vector" if spec.bias else "no bias vector"
        return f"Keras keeps {count} per layer and direction"

    def snippet(self, spec: Spec) -> str:
        """A functional Keras model built as :func:`build` does."""
        from rnncalc.frameworks.adapter import probe_spec

        if spec.input_size is None:
            raise SpecError("input_size", "is required to write code that builds the model")
        reason = self.unsupported(spec)
        if reason:
            return unsupported_comment(self.title, spec, reason)
        if spec.step:
            return self._cell_snippet(spec)
        seq_len = "None" if spec.seq_len is None else str(spec.seq_len)
        if spec.batch_size is not None:
            input_line = (
                f"inputs = keras.Input(batch_shape=({spec.batch_size}, {seq_len}, {spec.input_size}))"
            )
        else:
            input_line = (
                f"inputs = keras.Input(shape=({seq_len}, {spec.input_size}))  # (time steps, features)"
            )
        class_name = CLASS_NAMES[spec.cell]
        lines = [input_line, "x = inputs"]
        report = self.report(spec)
        for index, layer in enumerate(report.layers):
            last = index == spec.num_layers - 1
            inner_name = layer.name
            if spec.bidirectional:
                inner_name = layer.name.replace("bidirectional", LAYER_NAMES[spec.cell])
            args = _layer_args(spec, spec.return_sequences or not last, inner_name)
            if spec.return_state and last:
                args.insert(-1, "return_state=True")
            if spec.bidirectional:
                # Bidirectional copies the layer it wraps for the backward direction.
                merge = "None" if spec.merge_mode is MergeMode.NONE else quote(spec.merge_mode.value)
                lines.append(call(f"keras.layers.{class_name}", args, before="rnn = "))
                wrapper = ["rnn", f"merge_mode={merge}", f"name={quote(layer.name)}"]
                lines.append(call("keras.layers.Bidirectional", wrapper, before="x = ", after="(x)"))
            else:
                lines.append(call(f"keras.layers.{class_name}", args, before="x = ", after="(x)"))
        lines.append("model = keras.Model(inputs, x)")
        probe = probe_spec(spec)
        names = [name for name, _ in report.outputs]
        run_lines = [
            f"zeros = keras.ops.zeros(({probe.batch_size}, {probe.seq_len}, {spec.input_size}))"
            "  # (batch, time steps, features)",
        ]
        unpack = f"{', '.join(names)} = model(zeros)"
        if len(unpack) > LINE_LENGTH:
            unpack = "(\n" + "".join(f"    {name},\n" for name in names) + ") = model(zeros)"
        run_lines.append(unpack)
        return _snippet_text(
            header(self.title, spec),
            [
                *lines,
                "",
                "for weight in model.weights:",
                "    print(weight.path, tuple(weight.shape))",
                *run_lines,
                *(f"print({quote(name)}, tuple({name}.shape))" for name in names),
                "print(model.count_params())",
            ],
        )

    def model_snippet(self, model: Model) -> str:
        """A ``keras.Sequential`` built as :func:`build_model` builds it: its variables' paths
        are :meth:`model_report`'s."""
        from rnncalc.frameworks.adapter import probe_model

        report = self.model_report(model)
        if report.reason:
            return model_unsupported_comment(self.title, model, report.model, report.reason)
        if model.input_size is None:
            raise SpecError("input_size", "is required to write code that builds the model")
        batch = "None" if model.batch_size is None else str(model.batch_size)
        seq_len = "None" if model.seq_len is None else str(model.seq_len)
        probe = probe_model(model)
        if model.embedding is not None:
            graph_input = f'keras.Input(batch_shape=({batch}, {seq_len}), dtype="int32"),'
            zeros = f'x = keras.ops.zeros(({probe.batch_size}, {probe.seq_len}), dtype="int32")  # token ids'
        else:
            graph_input = f"keras.Input(batch_shape=({batch}, {seq_len}, {model.input_size})),"
            zeros = f"x = keras.ops.zeros(({probe.batch_size}, {probe.seq_len}, {model.input_size}))"
        lines = [
            "model = keras.Sequential(",
            "    [",
            f"        {graph_input}",
            *_model_layers(model),
            "    ],",
            f"    name={quote(SEQUENTIAL_NAME)},",
            ")",
            "",
            "for weight in model.weights:",
            "    print(weight.path, tuple(weight.shape))",
            zeros,
            "output = model(x)",
            'print("output", tuple(output.shape))',
            "print(model.count_params())",
        ]
        return _snippet_text(model_header(self.title, model, report.model), lines)

    def _cell_snippet(self, spec: Spec) -> str:
        """A bare cell called once, ``cell(x, states)``, from zero states."""
        from rnncalc.frameworks.adapter import probe_spec

        args = [str(spec.hidden_size)]
        if spec.cell is Cell.GRU:
            args.append(f"reset_after={spec.reset_after}")
        args += [f"{key}={quote(v) if isinstance(v, str) else v}" for key, v in cell_options(spec).items()]
        if not spec.bias:
            args.append("use_bias=False")
        probe = probe_spec(spec)
        states = [name for name, _ in self.step_states(probe)]
        new_states = _state_names(spec, "state_{}")
        per_cell = len(states) // spec.num_layers
        if spec.num_layers == 1:
            (name,) = cell_names(spec)
            build = [
                call(
                    f"keras.layers.{CELL_CLASS_NAMES[spec.cell]}",
                    [*args, f"name={quote(name)}"],
                    before="cell = ",
                )
            ]
            called = f"output, [{', '.join(new_states)}] = cell(x, [{', '.join(states)}])"
        else:
            # StackedRNNCells takes and returns one list of states per cell.
            build = [
                call(
                    f"keras.layers.{CELL_CLASS_NAMES[spec.cell]}",
                    [*args, f"name={quote(name)}"],
                    before=f"{name} = ",
                )
                for name in cell_names(spec)
            ]
            build.append(
                call(
                    "keras.layers.StackedRNNCells",
                    [f"[{', '.join(cell_names(spec))}]", f"name={quote(STACKED_NAME)}"],
                    before="cell = ",
                )
            )

            def nested(names: list[str]) -> str:
                groups = [names[k : k + per_cell] for k in range(0, len(names), per_cell)]
                return "[" + ", ".join(f"[{', '.join(group)}]" for group in groups) + "]"

            called = f"output, {nested(new_states)} = cell(x, {nested(states)})"
        return _snippet_text(
            header(self.title, spec),
            [
                *build,
                f"x = keras.ops.zeros(({probe.batch_size}, {spec.input_size}))  # (batch, features)",
                *(f"{state} = keras.ops.zeros(({probe.batch_size}, {spec.hidden_size}))" for state in states),
                called,
                "",
                "for weight in cell.weights:",
                "    print(weight.path, tuple(weight.shape))",
                *(f"print({quote(n)}, tuple({n}.shape))" for n in ["output", *new_states]),
                "print(cell.count_params())",
            ],
        )

    def explain_notes(self, spec: Spec) -> tuple[str, ...]:
        """What the layer options change (``keras/src/layers/rnn/rnn.py`` and ``lstm.py``); its
        single bias is the equation's ``b`` and the ``(2, 3*units)`` GRU bias is explained by
        the symbols of the table (``b_x; b_h``), so neither needs a note."""
        notes = []
        if spec.go_backwards:
            notes.append(
                "`go_backwards=True`: each layer reads its input from the last step to the first "
                "and returns its sequence in that order, reversed in time (`output[:, 0]` belongs "
                "to the last input step); the returned state is the one after the first input step."
            )
        if spec.stateful:
            notes.append(
                "`stateful=True`: the last states of each batch row become the initial states of the "
                "same row in the next call, so the batch size is fixed; the first call starts from "
                "zeros and returns what a stateless layer returns."
            )
        if spec.unroll:
            notes.append(
                "`unroll=True`: the loop over time is unrolled into the graph (a fixed number of "
                "steps); the weights, shapes and results are the same."
            )
        if spec.cell is Cell.LSTM and spec.bias and "unit_forget_bias" in spec.given:
            forget = "ones" if spec.unit_forget_bias else "zeros"
            notes.append(
                f"`unit_forget_bias={spec.unit_forget_bias}` only initializes the forget gate's "
                f"bias block with {forget}; it changes no shape, count or equation."
            )
        return tuple(notes)

    def explain_extra(self, topic: str, spec: Spec) -> tuple[str, ...]:
        if topic == "step" and self.unsupported(spec) is None:
            layer = CLASS_NAMES[spec.cell]
            cell = f"{layer}Cell"
            path = LAYER_NAMES[spec.cell]
            return (
                f"Keras: `keras.layers.{cell}`, which `keras.layers.RNN({cell}(...))` (the same as "
                f"`{layer}`) loops; a bare cell's variable paths lack the layer's name "
                f"(`{path}_cell/kernel`, not `{path}/{path}_cell/kernel`).",
            )
        if topic == "equations" and spec.cell is Cell.GRU and not spec.reset_after:
            return (
                "This is Keras's GRU with `reset_after=False` (\"before\" in Keras's docs): the reset "
                "gate multiplies `h_{t-1}` before the matrix product `W_hn (r_t * h_{t-1})`, so one bias "
                "per gate is enough. PyTorch's GRU always applies `r_t` after the product and has no "
                "such variant.",
            )
        if topic == "merge":
            if spec.merge_mode is MergeMode.CONCAT:
                return ("Keras with `merge_mode='concat'`, its default",)
            if spec.merge_mode is MergeMode.NONE:
                return ("Keras `merge_mode=None`",)
            return (f"Keras `merge_mode='{spec.merge_mode.value}'`",)
        if topic == "stacking" and self.unsupported(spec) is None:
            return (
                "In Keras every layer but the last needs `return_sequences=True` to hand on the whole "
                "sequence; PyTorch's `num_layers` does that inside one module.",
            )
        if topic == "difference" and spec.bias and spec.cell is Cell.GRU and spec.reset_after:
            return ("Keras stores the pair as one `(2, 3*units)` bias",)
        return ()

    def explain_sections(self, spec: Spec) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Keras 2 spellings of the input shape, which course notebooks still use and Keras 3
        rejects (a layer's, so not for a bare cell)."""
        if self.unsupported(spec) is not None or spec.step:
            return ()
        layer = CLASS_NAMES[spec.cell]
        units = spec.hidden_size
        features = str(spec.input_size) if spec.input_size is not None else INPUT
        steps = str(spec.seq_len) if spec.seq_len is not None else "T"
        batch = str(spec.batch_size) if spec.batch_size is not None else "N"
        keras3_shape = str(spec.seq_len) if spec.seq_len is not None else "None"
        letters = [
            f"`{letter}` = {meaning}"
            for letter, meaning, known in (
                ("T", "time steps", spec.seq_len is not None),
                ("N", "batch size", spec.batch_size is not None),
                (INPUT, "input features", spec.input_size is not None),
            )
            if not known
        ]
        length = str(spec.seq_len) if spec.seq_len is not None else "T"
        return (
            (
                "Keras 2 spelling",
                (
                    "Course notebooks written for Keras 2 often give the input shape to the layer itself: "
                    f"`{layer}({units}, input_length={steps}, input_dim={features})` or "
                    f"`{layer}({units}, batch_input_shape=({batch}, {steps}, {features}))`. Keras 3 rejects "
                    f"both: `ValueError: Unrecognized keyword arguments passed to {layer}: "
                    f"{{'input_length': {length}}}` (or `{{'batch_input_shape': ...}}`); a lone `input_dim` "
                    "only earns a warning to use an input instead.",
                    "In Keras 3 the shape goes into an input: "
                    f"`keras.Input(shape=({keras3_shape}, {features}))`, or "
                    f"`keras.Input(batch_shape=({batch}, {keras3_shape}, {features}))` to fix the batch size "
                    f"too, and the layer is just `{layer}({units})`."
                    + (" `None` lets the number of time steps vary." if spec.seq_len is None else "")
                    + (f" (Here {', '.join(letters)}.)" if letters else ""),
                ),
            ),
        )

    # --- adapter (imports keras) -------------------------------------------------------------

    def input_shape(self, spec: Spec) -> tuple[int, ...]:
        """Keras is always batch-major: ``(N, L, I)``; a cell's one step is ``(N, I)``."""
        assert spec.batch_size is not None and spec.input_size is not None
        if spec.step:
            return (spec.batch_size, spec.input_size)
        assert spec.seq_len is not None
        return (spec.batch_size, spec.seq_len, spec.input_size)

    def step_states(self, spec: Spec) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """The states list a cell is called with: ``[h_0]`` or ``[h_0, c_0]``, each ``(N, H)``;
        ``StackedRNNCells`` takes one such list per cell (``h_0_l0``, ``h_0_l1``, ...)."""
        if not spec.step:
            return ()
        assert spec.batch_size is not None
        return tuple((name, (spec.batch_size, spec.hidden_size)) for name in _state_names(spec, "{}_0"))

    def measure(self, spec: Spec, *, device: str = "cpu") -> Measured:
        if device != "cpu":
            raise ValueError(f"Keras runs on the CPU here; device {device!r} is PyTorch only")
        _require(self)
        return measure(spec)

    def measure_model(self, model: Model) -> Measured:
        _require(self)
        return measure_model(model)

    def model_batch_first(self, model: Model) -> bool:
        """The ``Sequential`` takes ``(batch, time, ...)`` whatever the model's layout."""
        return True

    def model_last_step(self, model: Model) -> bool:
        """The last recurrent layer returns its last step unless :attr:`Model.tail_sequences`
        (a ``Bidirectional`` one each direction's final state, as PyTorch's model takes it)."""
        return not model.tail_sequences

    def run_model_real(self, model: Model, weights: Mapping[str, Any], x: Any) -> Arrays:
        """The ``Sequential`` with every variable assigned from ``weights`` by its path."""
        _require(self)
        import numpy as np

        keras = _keras()
        built = build_model(model)
        paths = [variable.path for variable in built.weights]
        unexpected = sorted(set(weights) - set(paths))
        if unexpected:
            raise KeyError(f"weight {unexpected[0]!r} is not in the model")
        for variable in built.weights:
            if variable.path not in weights:
                raise KeyError(f"weight {variable.path!r} is missing (have: {', '.join(weights)})")
            variable.assign(np.asarray(weights[variable.path], dtype=np.float32))
        dtype = np.int32 if model.embedding is not None else np.float32
        output = built(np.ascontiguousarray(x, dtype=dtype))
        return {"output": np.asarray(keras.ops.convert_to_numpy(output))}

    def run_real(self, spec: Spec, weights: Mapping[str, Any], x: Any) -> Arrays:
        """Build the model, assign ``weights`` by variable path and run it on ``x``."""
        _require(self)
        model = build(spec)
        for variable in model.weights:
            variable.assign(weights[variable.path])
        return run_cell(model, spec, x) if spec.step else run(model, spec, x)

    # --- weights (imports numpy) -------------------------------------------------------------

    def canonical_part(
        self, spec: Spec, weights: Mapping[str, Any], layer: int, direction: int, part: Part
    ) -> Blocks | None:
        """Keras kernels are ``(in, gates*units)``, transposed relative to PyTorch: a gate's
        block is a column block, viewed transposed. Its single bias is the input bias; GRU with
        ``reset_after=True`` keeps ``(2, 3*units)``: input bias, then the recurrent bias applied
        inside the reset gate's product."""
        from rnncalc import reference

        role = {"w_x": Role.INPUT_KERNEL, "w_h": Role.RECURRENT_KERNEL, "b_x": Role.BIAS, "b_h": Role.BIAS}
        if part not in role:  # no projection
            return None
        row = next(
            (
                row
                for row in self.report(spec).layers[layer].weights
                if row.role is role[part] and row.direction == DIRECTIONS[direction]
            ),
            None,
        )
        if row is None:  # use_bias=False
            return None
        tensor = reference.lookup(weights, row.path)
        if row.role is Role.BIAS:
            if tensor.ndim == 1 and part == "b_h":
                return None
            tensor = tensor[int(part == "b_h")] if tensor.ndim == 2 else tensor
        else:
            tensor = tensor.T
        return reference.canonical_blocks(tensor, self, spec.cell)

    def tensor_from_canonical(self, spec: Spec, layer: int, row: WeightRow, part: PartGetter) -> Array:
        """Kernels transposed and reordered; with one bias vector the two canonical biases are
        summed, which is exact wherever both are added before any product (RNN, LSTM, and GRU's
        gates with ``reset_after=False``, whose ``b_hn`` is added after ``W_hn (r*h)``)."""
        import numpy as np

        from rnncalc import reference

        blocks = partial(reference.held, part, DIRECTIONS.index(row.direction))

        if row.role is Role.INPUT_KERNEL:
            return reference.stacked_transposed(blocks("w_x"), self, spec.cell)
        if row.role is Role.RECURRENT_KERNEL:
            return reference.stacked_transposed(blocks("w_h"), self, spec.cell)
        b_x, b_h = (reference.stacked(blocks(name), self, spec.cell) for name in ("b_x", "b_h"))
        if len(row.shape) == 2:  # GRU reset_after=True: (2, 3*units)
            return np.stack([b_x, b_h])
        return b_x + b_h

    def reference_forward(self, spec: Spec, weights: StackWeights, x: Any) -> Arrays:
        """What the Keras model returns for ``x`` ``(N, L, I)``, named as :meth:`report` names
        it: ``output`` (or ``output_forward``/``output_backward`` for merge mode none), then with
        ``return_state`` each direction's ``state_h`` (and ``state_c``).

        All layers but the last return sequences; ``Bidirectional`` runs the backward layer with
        ``go_backwards`` and flips its sequence back before merging.
        """
        import numpy as np

        from rnncalc import reference

        reason = self.unsupported(spec)
        if reason:
            raise SpecError("framework", f"Keras cannot express this spec: {reason}")
        if spec.step:
            names = iter(_state_names(spec, "{}_0"))
            lstm = spec.cell is Cell.LSTM
            initial = tuple(
                (x[next(names)], x[next(names)] if lstm else None) for _ in range(spec.num_layers)
            )
            results = reference.run_step(spec, weights, x["x"], initial)
            states = [state for r in results for state in ((r.h, r.c) if r.c is not None else (r.h,))]
            return dict(zip(output_names(spec), (results[-1].h, *states), strict=True))
        xs = reference.f32(x).transpose(1, 0, 2)
        last = reference.run_stack(spec, weights, xs, spec.merge_mode)[-1]
        if spec.return_sequences:
            parts = tuple(r.sequence.transpose(1, 0, 2) for r in last)
        else:
            parts = tuple(r.h for r in last)
        named: Arrays = {}
        if spec.bidirectional and spec.merge_mode is MergeMode.NONE:
            named["output_forward"], named["output_backward"] = parts
        else:
            named["output"] = reference.merge_directions(parts, spec.merge_mode)
        if spec.return_state:
            prefixes = ("forward_", "backward_") if spec.bidirectional else ("",)
            for prefix, result in zip(prefixes, last, strict=True):
                named[f"{prefix}state_h"] = result.h
                if result.c is not None:
                    named[f"{prefix}state_c"] = result.c
        return {name: np.ascontiguousarray(value) for name, value in named.items()}


CONVENTION = KerasConvention()


def _layer_args(spec: Spec, sequences: bool, name: str) -> list[str]:
    """A recurrent layer's arguments where they differ from Keras's defaults (a GRU always
    names ``reset_after``), as :func:`build` and :func:`build_model` pass them."""
    args = [str(spec.hidden_size)]
    options = layer_options(spec)
    if "activation" in options:
        args.append(f"activation={quote(options.pop('activation'))}")
    if spec.cell is Cell.GRU:
        args.append(f"reset_after={spec.reset_after}")
    args += [f"{option}={quote(v) if isinstance(v, str) else v}" for option, v in options.items()]
    if not spec.bias:
        args.append("use_bias=False")
    if sequences:
        args.append("return_sequences=True")
    args.append(f"name={quote(name)}")
    return args


def _model_layers(model: Model) -> list[str]:
    """The source of each layer :func:`build_model` builds, named as :meth:`model_report`
    names them (indented as items of the ``Sequential``'s list)."""
    from rnncalc.core.model import Dropout, Embedding, LayerNorm

    reports = iter(CONVENTION.model_report(model).layers)
    indent = " " * 8
    layers: list[str] = []
    for part_index, part in enumerate(model.parts):
        if isinstance(part, Spec):
            sequences = model.tail_sequences or part_index != model.last_block
            for index in range(part.num_layers):
                report = next(reports)
                returns = sequences or index < part.num_layers - 1
                if not part.bidirectional:
                    layers.append(
                        call(
                            f"keras.layers.{CLASS_NAMES[part.cell]}",
                            _layer_args(part, returns, report.name),
                            after=",",
                            indent=indent,
                        )
                    )
                    continue
                inner = report.weights[0].path.split("/")[2].removeprefix("forward_")
                rnn = call(
                    f"keras.layers.{CLASS_NAMES[part.cell]}",
                    _layer_args(part, returns, inner),
                    after=",",
                    indent=indent + "    ",
                )
                wrapper = [f"merge_mode={quote(part.merge_mode.value)}", f"name={quote(report.name)}"]
                layers += [
                    f"{indent}keras.layers.Bidirectional(",
                    rnn,
                    *(f"{indent}    {arg}," for arg in wrapper),
                    f"{indent}),",
                ]
            continue
        name = quote(next(reports).name)
        if isinstance(part, Embedding):
            args = [str(part.vocab_size), str(part.dim), f"name={name}"]
            layers.append(call("keras.layers.Embedding", args, after=",", indent=indent))
        elif isinstance(part, LayerNorm):
            args = [f"epsilon={part.epsilon!r}", f"center={part.bias}", f"scale={part.scale}", f"name={name}"]
            layers.append(call("keras.layers.LayerNormalization", args, after=",", indent=indent))
        elif isinstance(part, Dropout):
            layers.append(
                call("keras.layers.Dropout", [repr(part.rate), f"name={name}"], after=",", indent=indent)
            )
        else:
            activation = quote(part.activation.value) if part.activation else "None"
            args = [str(part.units), f"use_bias={part.bias}", f"activation={activation}", f"name={name}"]
            layers.append(call("keras.layers.Dense", args, after=",", indent=indent))
    return layers


def _snippet_text(head: str, lines: list[str]) -> str:
    """A Keras snippet: the header ``head``, TensorFlow silenced, ``import keras`` and ``lines``."""
    return (
        head
        + "import os\n\n"
        + "# Silence TensorFlow's start-up logs; both must be set before keras is imported.\n"
        + 'os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"\n'
        + 'os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"\n'
        + 'os.environ.setdefault("KERAS_BACKEND", "tensorflow")\n\n'
        + "import keras\n\n"
        + "\n".join(lines)
        + "\n"
    )


def _require(convention: FrameworkConvention) -> None:
    from rnncalc.frameworks.adapter import require

    require(convention)


# --- Adapter: the real models (each function imports keras) --------------------------------------


def _keras() -> Any:
    """keras, imported with TensorFlow silenced (both variables must be set before its import)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    return keras


def __getattr__(name: str) -> Any:
    """``keras`` itself, imported at first use so that importing this module stays cheap."""
    if name == "keras":
        return _keras()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _layer_class(cell: Cell) -> Any:
    return getattr(_keras().layers, CLASS_NAMES[cell])


def build(spec: Spec) -> keras.Model:
    """A functional model: ``keras.Input(batch_shape=...)`` then ``num_layers`` recurrent layers.

    Layer names are the ones the calculator predicts, so weight paths compare exactly.
    """
    keras = _keras()
    reason = CONVENTION.unsupported(spec)
    if reason:
        raise SpecError("framework", f"Keras cannot express this spec: {reason}")
    if spec.input_size is None:
        raise SpecError("input_size", "is required to build a real model")
    if spec.step:
        return build_cell(spec)
    names = [layer.name for layer in CONVENTION.report(spec).layers]
    inputs = keras.Input(batch_shape=(spec.batch_size, spec.seq_len, spec.input_size))
    x: Any = inputs
    for index, name in enumerate(names):
        last = index == spec.num_layers - 1
        inner_name = name.replace("bidirectional", LAYER_NAMES[spec.cell]) if spec.bidirectional else name
        kwargs: dict[str, Any] = {
            "return_sequences": spec.return_sequences or not last,
            "return_state": spec.return_state and last,
            "use_bias": spec.bias,
            "name": inner_name,
        }
        kwargs.update(layer_options(spec))
        if spec.cell is Cell.GRU:
            kwargs["reset_after"] = spec.reset_after
        layer = _layer_class(spec.cell)(spec.hidden_size, **kwargs)
        if spec.bidirectional:
            merge = None if spec.merge_mode is MergeMode.NONE else spec.merge_mode.value
            layer = keras.layers.Bidirectional(layer, merge_mode=merge, name=name)
        x = layer(x)
    return keras.Model(inputs, x)


def build_cell(spec: Spec) -> Any:
    """The bare cell of a step spec, built for ``(N, I)`` input; its weight paths are
    ``lstm_cell/kernel``."""
    keras = _keras()
    kwargs: dict[str, Any] = {"use_bias": spec.bias, **cell_options(spec)}
    if spec.cell is Cell.GRU:
        kwargs["reset_after"] = spec.reset_after
    cell_class = getattr(keras.layers, CELL_CLASS_NAMES[spec.cell])
    cells = [cell_class(spec.hidden_size, name=name, **kwargs) for name in cell_names(spec)]
    cell = cells[0] if len(cells) == 1 else keras.layers.StackedRNNCells(cells, name=STACKED_NAME)
    cell.build((spec.batch_size, spec.input_size))
    return cell


def run_cell(cell: Any, spec: Spec, x: Mapping[str, Any]) -> Arrays:
    """``cell(x, states)`` once; ``x`` maps ``"x"`` ``(N, I)``, ``"h_0"`` (, ``"c_0"``)."""
    import numpy as np

    keras = _keras()
    states = [np.ascontiguousarray(x[name], dtype=np.float32) for name, _ in CONVENTION.step_states(spec)]
    if spec.num_layers > 1:  # StackedRNNCells: one list of states per cell, in and out
        per_cell = len(states) // spec.num_layers
        states = [states[k : k + per_cell] for k in range(0, len(states), per_cell)]  # type: ignore[misc]
    output, new_states = cell(np.ascontiguousarray(x["x"], dtype=np.float32), states)
    if spec.num_layers > 1:
        new_states = [state for group in new_states for state in group]
    tensors = [output, *new_states]
    return {
        name: np.asarray(keras.ops.convert_to_numpy(t))
        for name, t in zip(output_names(spec), tensors, strict=True)
    }


def output_names(spec: Spec) -> list[str]:
    return [name for name, _ in outputs(spec)]


def measure(spec: Spec) -> Measured:
    import numpy as np

    from rnncalc.frameworks.adapter import Measured, probe_spec

    probe = probe_spec(spec)
    model = build(probe)
    weights = tuple((w.path, tuple(w.shape)) for w in model.weights)
    if probe.step:
        zeros = {name: np.zeros(shape, dtype="float32") for name, shape in CONVENTION.step_states(probe)}
        zeros["x"] = np.zeros(CONVENTION.input_shape(probe), dtype="float32")
        shapes = tuple((name, tuple(t.shape)) for name, t in run_cell(model, probe, zeros).items())
        return Measured(CONVENTION.name, model.count_params(), weights, shapes, probe)
    assert probe.batch_size is not None and probe.seq_len is not None and probe.input_size is not None
    result = model(np.zeros((probe.batch_size, probe.seq_len, probe.input_size), dtype="float32"))
    tensors = result if isinstance(result, (list, tuple)) else [result]
    shapes = tuple((name, tuple(t.shape)) for name, t in zip(output_names(probe), tensors, strict=True))
    return Measured(CONVENTION.name, model.count_params(), weights, shapes, probe)


def build_model(model: Model) -> keras.Sequential:
    """A ``keras.Sequential``: ``Input``, then the chain: ``Embedding``, recurrent layers (all
    but the last return sequences, the last :attr:`Model.tail_sequences`), ``LayerNormalization``,
    ``Dropout``, ``Dense``.

    Layer names are the calculator's (Keras's own in a fresh session), so paths compare exactly.
    """
    keras = _keras()
    reason = model_unsupported(model, CONVENTION.unsupported)
    if reason:
        raise SpecError("framework", f"Keras cannot express this model: {reason}")
    if model.input_size is None:
        raise SpecError("input_size", "is required to build a real model")
    from rnncalc.core.model import Dropout, Embedding, LayerNorm

    reports = iter(CONVENTION.model_report(model).layers)
    if model.embedding is not None:
        stack: list[Any] = [keras.Input(batch_shape=(model.batch_size, model.seq_len), dtype="int32")]
    else:
        stack = [keras.Input(batch_shape=(model.batch_size, model.seq_len, model.input_size))]
    for part_index, part in enumerate(model.parts):
        if isinstance(part, Embedding):
            stack.append(keras.layers.Embedding(part.vocab_size, part.dim, name=next(reports).name))
        elif isinstance(part, LayerNorm):
            norm = keras.layers.LayerNormalization(
                epsilon=part.epsilon, center=part.bias, scale=part.scale, name=next(reports).name
            )
            stack.append(norm)
        elif isinstance(part, Dropout):
            stack.append(keras.layers.Dropout(part.rate, name=next(reports).name))
        elif isinstance(part, Spec):
            last_block = part_index == model.last_block
            stack += _block(keras, part, reports, model.tail_sequences or not last_block)
        else:
            activation = part.activation.value if part.activation else None
            dense = keras.layers.Dense(
                part.units, use_bias=part.bias, activation=activation, name=next(reports).name
            )
            stack.append(dense)
    return keras.Sequential(stack, name=SEQUENTIAL_NAME)


def _block(keras: Any, spec: Spec, reports: Iterator[LayerReport], sequences: bool) -> list[Any]:
    """The ``num_layers`` Keras layers of one recurrent block, named as ``reports`` say; all
    but the last return sequences, the last when ``sequences``."""
    layers = []
    for index in range(spec.num_layers):
        report = next(reports)
        kwargs: dict[str, Any] = {
            "return_sequences": sequences or index < spec.num_layers - 1,
            "use_bias": spec.bias,
        }
        kwargs.update(layer_options(spec))
        if spec.cell is Cell.GRU:
            kwargs["reset_after"] = spec.reset_after
        if spec.bidirectional:
            # The weight path is "sequential/bidirectional/forward_<inner>/<cell>/kernel".
            inner = report.weights[0].path.split("/")[2].removeprefix("forward_")
            layer = _layer_class(spec.cell)(spec.hidden_size, name=inner, **kwargs)
            layers.append(
                keras.layers.Bidirectional(layer, merge_mode=spec.merge_mode.value, name=report.name)
            )
        else:
            layers.append(_layer_class(spec.cell)(spec.hidden_size, name=report.name, **kwargs))
    return layers


def measure_model(model: Model) -> Measured:
    """Build, count and run the real Keras model once (unknown batch/time → small probes)."""
    import numpy as np

    from rnncalc.frameworks.adapter import PROBE_BATCH, PROBE_SEQ_LEN, Measured

    batch = model.batch_size or PROBE_BATCH
    seq_len = model.seq_len or PROBE_SEQ_LEN
    built = build_model(model)
    weights = tuple((w.path, tuple(w.shape)) for w in built.weights)
    if model.embedding is not None:
        data = np.zeros((batch, seq_len), dtype="int32")
    else:
        assert model.input_size is not None
        data = np.zeros((batch, seq_len, model.input_size), dtype="float32")
    output = built(data)
    probe = model.layers[0].replace(batch_size=batch, seq_len=seq_len)
    return Measured(CONVENTION.name, built.count_params(), weights, (("output", tuple(output.shape)),), probe)


def build_seeded(spec: Spec, seed: int) -> keras.Model:
    """The model for ``spec`` with weights initialised after ``keras.utils.set_random_seed``."""
    _keras().utils.set_random_seed(seed)
    return build(spec)


def weights_numpy(model: keras.Model) -> Arrays:
    """Every variable as a float32 numpy array, keyed by its path (``lstm/lstm_cell/kernel``)."""
    import numpy as np

    keras = _keras()
    return {w.path: np.asarray(keras.ops.convert_to_numpy(w), dtype=np.float32) for w in model.weights}


def run(model: keras.Model, spec: Spec, x: Any) -> Arrays:
    """Forward ``x`` ``(N, L, I)`` and name the results as the calculator does."""
    import numpy as np

    keras = _keras()
    result = model(np.ascontiguousarray(x, dtype=np.float32))
    tensors = result if isinstance(result, (list, tuple)) else [result]
    return {
        name: np.asarray(keras.ops.convert_to_numpy(t))
        for name, t in zip(output_names(spec), tensors, strict=True)
    }
