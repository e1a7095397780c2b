"""Flax NNX's conventions for recurrent layers, and the adapter that builds the real model.

Sources: ``flax/nnx/nn/recurrent.py`` (flax 0.12.8), every fact below measured against it:

* ``nnx.SimpleCell(I, H)``: ``dense_i`` kernel ``(I, H)`` with bias ``(H,)``, ``dense_h``
  kernel ``(H, H)`` without bias; ``h = act(x @ W_i + b + h @ W_h)``, ``activation_fn``
  (tanh by default, any function, e.g. ``nnx.relu``).
* ``nnx.LSTMCell(I, H)``: one ``nnx.Linear`` per gate and side, ``ii``, ``if_``, ``ig``, ``io``
  ``(I, H)`` without bias and ``hi``, ``hf``, ``hg``, ``ho`` ``(H, H)`` with bias; carry
  ``(c, h)``. ``nnx.OptimizedLSTMCell`` stacks the same weights (``dense_i`` ``(I, 4H)``,
  ``dense_h`` ``(H, 4H)`` + bias ``(4H,)``, gates i, f, g, o): the same count.
* ``nnx.GRUCell(I, H)``: ``dense_i`` ``(I, 3H)`` with bias ``(3H,)``, ``dense_h`` ``(H, 3H)``
  without bias, blocks r, z, n; ``n = tanh(x W_in + b_in + r * (h W_hn))``: PyTorch's
  equation with no recurrent bias.
* ``nnx.RNN(cell)`` scans batch-major ``(N, T, F)`` input (``time_major=False``) and returns
  the whole sequence, with ``return_carry=True`` ``(carry, outputs)``; a 2-D ``(T, F)`` input
  runs unbatched. ``nnx.Bidirectional(fwd, bwd, merge_fn=...)`` runs ``bwd`` with
  ``reverse=True, keep_order=True``, merges the outputs with ``merge_fn`` (concatenation by
  default) and returns the carry ``(forward, backward)``.

The model rnncalc builds: one ``nnx.RNN`` (or ``nnx.Bidirectional``) for one layer; for more,
a :data:`STACK_CLASS` holding them in ``layers`` (an ``nnx.List``), whose weight paths are
``layers.{k}.…``. It always returns the final carry with the outputs, as ``nn.LSTM`` returns
``h_n``: outputs are named ``outputs`` and ``carry`` followed by the carry's pytree path
(``carry[0][1]``: layer 0's ``h`` of an LSTM stack).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache, lru_cache, partial
from typing import TYPE_CHECKING, Any, ClassVar

from rnncalc.core.calc import GATES, merged_features
from rnncalc.core.errors import FrameworkMissingError, SpecError
from rnncalc.core.parts import DenseActivation, PartKind
from rnncalc.core.report import FrameworkReport, FrameworkTotals, LayerReport, Role, WeightRow
from rnncalc.core.spec import Cell, MergeMode, Nonlinearity, Spec
from rnncalc.core.symbolic import INPUT, Count, Dim, Shape, shape_count
from rnncalc.frameworks.base import (
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

    from rnncalc.core.model import Dense, Model
    from rnncalc.frameworks.adapter import Measured
    from rnncalc.reference import Blocks, Part, PartGetter, StackWeights

    Array = np.ndarray[Any, Any]
    Arrays = dict[str, Array]


#: The registry name reports and :class:`~rnncalc.frameworks.adapter.Measured` carry.
FLAX = "flax"

#: The cell class for each cell (``nnx.LSTMCell``, not the optimized one: its per-gate
#: ``Linear`` layers are the ones the docs describe).
CELL_CLASSES: dict[Cell, str] = {Cell.RNN: "SimpleCell", Cell.LSTM: "LSTMCell", Cell.GRU: "GRUCell"}
#: Name of the ``nnx.Module`` that holds a stack of recurrent layers (defined in snippets too).
STACK_CLASS = "RecurrentStack"
#: Name of the ``nnx.Module`` that runs a heterogeneous model's modules in order.
MODEL_CLASS = "SequenceModel"
DIRECTIONS = ("forward", "backward")
#: ``nnx.Bidirectional``'s attributes for its two RNNs.
DIRECTION_ATTRIBUTES = {"forward": "forward_rnn", "backward": "backward_rnn"}
#: ``merge_fn`` for each merge mode Flax can express (the Keras merge, written in jax.numpy).
MERGE_FUNCTIONS: dict[MergeMode, str] = {
    MergeMode.SUM: "jnp.add",
    MergeMode.MUL: "jnp.multiply",
    MergeMode.AVE: "lambda forward, backward: (forward + backward) / 2",
}
#: LSTMCell's per-gate ``Linear`` names, input side and hidden side, in gate order i, f, g, o.
LSTM_INPUT_GATES = ("ii", "if_", "ig", "io")
LSTM_HIDDEN_GATES = ("hi", "hf", "hg", "ho")


def cell_slots(cell: Cell, input_size: Dim, hidden: int) -> list[WeightSlot]:
    """One cell's parameters as paths under the cell: the input-side ``Linear`` layers first,
    then the hidden-side ones, each kernel ``(in, out)`` before its bias."""
    if cell is Cell.LSTM:
        slots = [WeightSlot(f"{g}.kernel", (input_size, hidden), Role.INPUT_KERNEL) for g in LSTM_INPUT_GATES]
        for gate in LSTM_HIDDEN_GATES:
            slots.append(WeightSlot(f"{gate}.kernel", (hidden, hidden), Role.RECURRENT_KERNEL))
            slots.append(WeightSlot(f"{gate}.bias", (hidden,), Role.BIAS))
        return slots
    columns = GATES[cell] * hidden  # SimpleCell: H; GRUCell: 3H (blocks r, z, n)
    return [
        WeightSlot("dense_i.kernel", (input_size, columns), Role.INPUT_KERNEL),
        WeightSlot("dense_i.bias", (columns,), Role.BIAS),
        WeightSlot("dense_h.kernel", (hidden, columns), Role.RECURRENT_KERNEL),
    ]


@lru_cache(maxsize=1024)
def _linear_slots(part: Dense, size: Dim) -> list[WeightSlot]:
    """``nnx.Linear``: kernel ``(in, out)``, bias ``(out,)``."""
    bias = [WeightSlot("bias", (part.units,), Role.DENSE)] if part.bias else []
    return [WeightSlot("kernel", (size, part.units), Role.DENSE), *bias]


#: The parts of a model other than recurrent blocks, as Flax NNX modules hold them.
PARTS: dict[PartKind, PartLayout] = {
    # nnx.Embed.embedding is (num_embeddings, features), as nn.Embedding's weight.
    PartKind.EMBEDDING: PartLayout(
        lambda part: "Embed",
        "",
        lambda part, size: [WeightSlot("embedding", (part.vocab_size, part.dim), Role.EMBEDDING)],
        canonical=canonical_names(embedding="weight"),
    ),
    # nnx.LayerNorm(features, epsilon, use_scale, use_bias): scale and bias, (F,).
    PartKind.LAYER_NORM: PartLayout(
        lambda part: "LayerNorm",
        "",
        norm_slots("scale", "bias"),
        canonical=canonical_names(scale="weight", bias="bias"),
    ),
    PartKind.DROPOUT: PartLayout(lambda part: "Dropout", "", no_slots),
    # nnx.Linear.kernel is (in_features, out_features): nn.Linear's weight transposed.
    PartKind.DENSE: PartLayout(
        lambda part: "Linear",
        "",
        _linear_slots,
        canonical=canonical_names(kernel=("weight", True), bias="bias"),
    ),
}


def _last_step_unsupported(model: Model) -> str | None:
    """The last step of a bidirectional block whose directions are merged other than by
    concatenation cannot be taken from Flax's merged outputs (each direction's last step is at
    a different time)."""
    last = model.layers[-1]
    if model.last_step and last.bidirectional and last.merge_mode is not MergeMode.CONCAT:
        return (
            f"layers[{len(model.layers) - 1}]: a head with per_step: false after merge_mode "
            f"{last.merge_mode.value}: the merged outputs no longer hold each direction's last step"
        )
    return None


def direction_count(cell: Cell, hidden: int) -> Count:
    """One direction's parameters as ``a*I + b`` in its input size: the slot shapes summed."""
    per_input = constant = 0
    for slot in cell_slots(cell, INPUT, hidden):
        count = shape_count(slot.shape)
        per_input += count.per_input
        constant += count.constant
    return Count(per_input, constant)


def layer_prefixes(spec: Spec) -> list[str]:
    """The path prefix of each layer: none for a lone module, ``layers.{k}.`` in a stack."""
    if spec.num_layers == 1:
        return [""]
    return [f"layers.{index}." for index in range(spec.num_layers)]


def direction_prefixes(spec: Spec) -> list[tuple[str, str]]:
    """``(direction, path prefix)`` of each direction inside a layer."""
    if not spec.bidirectional:
        return [("forward", "")]
    return [(direction, f"{DIRECTION_ATTRIBUTES[direction]}.") for direction in DIRECTIONS]


def carry_names(spec: Spec) -> list[str]:
    """The carry's leaves named by their pytree path, in ``jax.tree_util`` flattening order.

    A layer's carry is ``h`` (SimpleCell, GRUCell) or ``(c, h)`` (LSTMCell); a bidirectional
    layer's is ``(forward, backward)``; a stack's is the tuple of its layers' carries.
    """
    leaves = ["[0]", "[1]"] if spec.cell is Cell.LSTM else [""]
    if spec.bidirectional:
        leaves = [f"[{d}]{leaf}" for d in range(2) for leaf in leaves]
    if spec.num_layers > 1:
        leaves = [f"[{k}]{leaf}" for k in range(spec.num_layers) for leaf in leaves]
    return [f"carry{leaf}" for leaf in leaves]


class FlaxConvention(FrameworkConvention):
    """Flax NNX: ``nnx.RNN`` over ``nnx.SimpleCell``/``LSTMCell``/``GRUCell``."""

    name = "flax"
    part_layouts = PARTS
    title = "Flax NNX"
    module = "flax"
    install_hint = "pip install 'rnncalc[flax]'"
    files_module = "rnncalc.frameworks.flax_files"
    object_packages = ("flax",)
    objects = "a Flax nnx.Module"
    live_module = "rnncalc.frameworks.flax_live"
    #: Kernels are ``(in, out)``, as in Keras (``nnx.Linear``).
    kernels_transposed = True
    gate_order: ClassVar[Mapping[Cell, tuple[str, ...]]] = {
        Cell.RNN: ("h",),
        Cell.LSTM: ("i", "f", "g", "o"),
        Cell.GRU: ("r", "z", "n"),
    }

    # --- analytic -------------------------------------------------------------------------

    def unsupported(self, spec: Spec) -> str | None:
        if spec.proj_size:
            return "nnx.LSTMCell has no projection (proj_size is PyTorch only)"
        if spec.step:
            return (
                "rnncalc describes Flax NNX's recurrent layers only; its cells (nnx.LSTMCell ...) "
                "called one step at a time are not modelled yet"
            )
        if custom_activations(spec):
            return (
                "rnncalc models Flax NNX's cells with their default activations (tanh, sigmoid "
                "gates; relu for SimpleCell); other activation_fn/gate_fn are not modelled"
            )
        if spec.go_backwards or spec.stateful:
            option = "go_backwards" if spec.go_backwards else "stateful"
            return f"{option} is a Keras layer option; rnncalc does not model a Flax NNX equivalent"
        if spec.cell is Cell.GRU and not spec.reset_after:
            return (
                "nnx.GRUCell applies the reset gate to the recurrent product, r * (h @ W_hn), "
                "like PyTorch; reset_after=False has no Flax equivalent"
            )
        if not spec.bias:
            return (
                "Flax NNX cells fix use_bias on their nnx.Linear layers (SimpleCell and GRUCell "
                "on the input side, LSTMCell on the hidden side); bias=False has no Flax equivalent"
            )
        if spec.bidirectional and spec.merge_mode is MergeMode.NONE:
            return (
                "nnx.Bidirectional always merges both directions into one array with merge_fn; "
                "merge_mode none has no Flax equivalent"
            )
        return None

    def model_name(self, spec: Spec) -> str:
        """``nnx.RNN(nnx.LSTMCell)``, ``nnx.Bidirectional(...)`` or a stack of them."""
        rnn = f"nnx.RNN(nnx.{CELL_CLASSES[spec.cell]})"
        layer = f"nnx.Bidirectional({rnn}, {rnn})" if spec.bidirectional else rnn
        return f"{STACK_CLASS} of {spec.num_layers} × {layer}" if spec.num_layers > 1 else layer

    def _layer_kind(self, spec: Spec) -> str:
        rnn = f"RNN({CELL_CLASSES[spec.cell]})"
        return f"Bidirectional({rnn})" if spec.bidirectional else rnn

    def _sequence_shape(self, spec: Spec, features: Dim) -> Shape:
        """Batch-major ``(N, T, F)``, or ``(T, F)`` unbatched: ``nnx.RNN``'s default layout."""
        if spec.unbatched:
            return (spec.seq_len, features)
        return (spec.batch_size, spec.seq_len, features)

    def outputs(self, spec: Spec) -> tuple[tuple[str, Shape], ...]:
        """``outputs`` (the last layer's merged sequence), then every carry leaf ``(N, H)``."""
        batch: tuple[Dim, ...] = () if spec.unbatched else (spec.batch_size,)
        carries = tuple((name, (*batch, spec.hidden_size)) for name in carry_names(spec))
        return (("outputs", self._sequence_shape(spec, merged_features(spec))), *carries)

    def block_layers(
        self, spec: Spec, input_size: Dim, prefixes: list[str] | None = None
    ) -> tuple[LayerReport, ...]:
        """The ``num_layers`` layers of one recurrent block; ``prefixes`` (one per layer, default
        :func:`layer_prefixes`) place them in a larger model. A layer is named by its path
        (``layers.1``), a lone module ``model``."""
        kind = self._layer_kind(spec)
        output = self._sequence_shape(spec, merged_features(spec))
        layers = []
        for layer_prefix in prefixes or layer_prefixes(spec):
            weights = tuple(
                WeightRow(
                    slot.name,
                    f"{layer_prefix}{direction_prefix}cell.{slot.name}",
                    slot.shape,
                    slot.role,
                    direction,
                )
                for direction, direction_prefix in direction_prefixes(spec)
                for slot in cell_slots(spec.cell, input_size, spec.hidden_size)
            )
            layers.append(LayerReport(layer_prefix.rstrip(".") or "model", kind, output, weights))
            input_size = merged_features(spec)
        return tuple(layers)

    def report(self, spec: Spec) -> FrameworkReport:
        model = self.model_name(spec)
        reason = self.unsupported(spec)
        if reason:
            return FrameworkReport(FLAX, model, reason=reason)
        first = first_input(spec)
        layers = self.block_layers(spec, first)
        sequence = self._sequence_shape(spec, first)
        return FrameworkReport(FLAX, model, layers, self.outputs(spec), input_shape=sequence)

    def totals(self, spec: Spec) -> FrameworkTotals:
        model = self.model_name(spec)
        reason = self.unsupported(spec)
        if reason:
            return FrameworkTotals(FLAX, model, reason=reason)
        formula = direction_count(spec.cell, spec.hidden_size)
        first = (
            formula
            if spec.input_size is None
            else Count(0, formula.per_input * spec.input_size + formula.constant)
        )
        later = Count(0, formula.per_input * merged_features(spec) + formula.constant)
        count = (first + later * (spec.num_layers - 1)) * spec.num_directions
        return FrameworkTotals(FLAX, model, count, self.outputs(spec))

    def model_report(self, model: Model) -> FrameworkReport:
        """A :data:`MODEL_CLASS` holding the chain in one ``nnx.List`` called ``layers``, run in
        order: ``nnx.Embed``, one module per recurrent layer, ``nnx.LayerNorm``, ``nnx.Dropout``,
        ``nnx.Linear`` (:data:`PARTS`). Recurrent layers hand on their outputs only; dense
        layers act on every time step (Flax has no ``return_sequences``) unless a head takes the
        last step; the model returns the last module's output."""
        kinds = [
            self._layer_kind(part) + (f" × {part.num_layers}" if part.num_layers > 1 else "")
            if isinstance(part, Spec)
            else PARTS[part.kind].kind(part)
            for part in model.parts
        ]
        title = f"{MODEL_CLASS}: " + " → ".join(kinds)
        reason = model_unsupported(model, self.unsupported) or _last_step_unsupported(model)
        if reason:
            return FrameworkReport(FLAX, title, reason=reason)
        first = model.layers[0]
        layers: list[LayerReport] = []
        index = 0
        size = first_input(model)
        sequences = True
        for position, part in enumerate(model.parts):
            if isinstance(part, Spec):
                prefixes = [f"layers.{index + k}." for k in range(part.num_layers)]
                block = self.block_layers(part, size, prefixes)
                size = merged_features(part)
                # SequenceModel hands the parts after the last block its last step (per_step: false).
                sequences = not (position == model.last_block and model.last_step)
                if not sequences:
                    last = block[-1]
                    block = (
                        *block[:-1],
                        LayerReport(last.name, last.kind, (first.batch_size, size), last.weights),
                    )
                layers.extend(block)
                index += part.num_layers
                continue
            layout = PARTS[part.kind]
            prefix = f"layers.{index}"
            weights = rows(layout.slots(part, size), "", f"{prefix}.")
            size = part.features(size)
            shape = self._sequence_shape(first, size) if sequences else (first.batch_size, size)
            layers.append(LayerReport(prefix, layout.kind(part), shape, weights))
            index += 1
        return FrameworkReport(FLAX, title, tuple(layers), (("output", layers[-1].output_shape),))

    def snippet(self, spec: Spec) -> str:
        return flax_snippet(self, spec)

    def model_snippet(self, model: Model) -> str:
        return flax_model_snippet(self, model)

    def tensor_gate(self, spec: Spec, row: WeightRow) -> str | None:
        """LSTMCell keeps one ``Linear`` per gate (``ii`` … ``ho``), in canonical gate order."""
        module = row.name.split(".")[0]
        for gates in (LSTM_INPUT_GATES, LSTM_HIDDEN_GATES):
            if spec.cell is Cell.LSTM and module in gates:
                return self.gate_order[Cell.LSTM][gates.index(module)]
        return None

    def explain_notes(self, spec: Spec) -> tuple[str, ...]:
        notes = [
            "Flax NNX stores every kernel as `(in, out)` and computes `x @ kernel`, like Keras: "
            "the transpose of PyTorch's `(out, in)`. Paths are `nnx.state(model, nnx.Param)`'s.",
        ]
        if spec.cell is Cell.RNN:
            notes.append(
                "`nnx.SimpleCell` has `dense_i` (kernel `(I, H)` with a bias) and `dense_h` "
                "(kernel `(H, H)`, no bias): one bias vector, since the two products are summed. "
                "Its `activation_fn` is tanh unless given (e.g. `nnx.relu`)."
            )
        elif spec.cell is Cell.LSTM:
            notes.append(
                "`nnx.LSTMCell` keeps one `nnx.Linear` per gate and side: `ii`, `if_`, `ig`, `io` "
                "on the input (`(I, H)`, no bias) and `hi`, `hf`, `hg`, `ho` on the hidden state "
                "(`(H, H)` with a bias): one bias vector per gate, on the recurrent side. "
                "`nnx.OptimizedLSTMCell` stacks the same weights as `dense_i` `(I, 4H)` and "
                "`dense_h` `(H, 4H)` with a `(4H,)` bias, gates i, f, g, o: the same count. "
                "The carry is `(c, h)`."
            )
        else:
            notes.append(
                "`nnx.GRUCell` has `dense_i` (kernel `(I, 3H)` with a `(3H,)` bias) and `dense_h` "
                "(kernel `(H, 3H)`, no bias), blocks r, z, n. Its candidate is "
                "`tanh(x W_in + b_in + r * (h W_hn))`: PyTorch's equation without any recurrent "
                "bias, so it counts `3(I·H + H·H) + 3H`, like Keras's `reset_after=False` GRU. "
                "PyTorch's `b_hr` and `b_hz` fold into the input bias; a nonzero `b_hn` cannot, "
                "since it sits inside `r * (...)`. (`flax.linen`'s GRUCell keeps a bias on `hn`: "
                "`3(I·H + H·H) + 4H`.)"
            )
        layout = (
            "`nnx.RNN` takes batch-major input `(batch, time, features)` (`time_major=False`; "
            "`batch_first` is PyTorch's flag) and always returns the whole sequence, here with "
            "the final carry (`return_carry=True`)."
        )
        if spec.bidirectional:
            layout += (
                " `nnx.Bidirectional` runs `backward_rnn` with `reverse=True, keep_order=True`, "
                "merges the two sequences with `merge_fn` and returns the carry `(forward, backward)`."
            )
        if spec.num_layers > 1:
            layout += (
                f" Flax has no `num_layers`: the {spec.num_layers} layers sit in an `nnx.List` "
                f"called `layers` of a small `{STACK_CLASS}` module, which returns every layer's carry."
            )
        notes.append(layout)
        return tuple(notes)

    # --- adapter ------------------------------------------------------------------------------

    def _require(self) -> None:
        if not self.is_installed():
            raise FrameworkMissingError(f"flax is not installed; install it with: {self.install_hint}")

    def input_shape(self, spec: Spec) -> tuple[int, ...]:
        assert spec.input_size is not None and spec.seq_len is not None
        if spec.unbatched:
            return (spec.seq_len, spec.input_size)
        assert spec.batch_size is not None
        return (spec.batch_size, spec.seq_len, spec.input_size)

    def build(self, spec: Spec, seed: int = 0) -> Any:
        """The real model for ``spec`` (``input_size`` must be known), initialised from ``seed``."""
        reason = self.unsupported(spec)
        if reason:
            raise SpecError("framework", f"Flax NNX cannot express this spec: {reason}")
        if spec.input_size is None:
            raise SpecError("input_size", "is required to build a real model")
        self._require()
        from flax import nnx

        rngs = nnx.Rngs(seed)
        layers = []
        size = spec.input_size
        for _ in range(spec.num_layers):
            layers.append(_build_layer(spec, size, rngs))
            size = merged_features(spec)
        return layers[0] if spec.num_layers == 1 else _stack_class()(layers)

    def measure(self, spec: Spec, *, device: str = "cpu") -> Measured:
        """Build, count and run once on zeros. ``device="meta"`` traces both with
        ``jax.eval_shape`` instead: the same Flax code, no weights allocated, nothing compiled."""
        from rnncalc.frameworks.adapter import Measured, probe_spec

        if device not in ("cpu", "meta"):
            raise ValueError(f"Flax runs on the CPU here; device {device!r} is not available")
        self._require()
        import jax
        import jax.numpy as jnp
        from flax import nnx

        probe = probe_spec(spec)
        x_shape = self.input_shape(probe)

        def build_and_run(x: Any) -> tuple[Any, Any]:
            model = self.build(probe)
            return nnx.state(model, nnx.Param), _call(model, x)

        if device == "meta":
            params, (carry, outputs) = jax.eval_shape(
                build_and_run, jax.ShapeDtypeStruct(x_shape, jnp.float32)
            )
        else:
            params, (carry, outputs) = build_and_run(jnp.zeros(x_shape, jnp.float32))
        weights = tuple((".".join(map(str, path)), tuple(p.shape)) for path, p in nnx.to_flat_state(params))
        total = sum(_size(shape) for _, shape in weights)
        named = [("outputs", tuple(outputs.shape))]
        for path, leaf in jax.tree_util.tree_flatten_with_path(carry)[0]:
            named.append(("carry" + jax.tree_util.keystr(path), tuple(leaf.shape)))
        return Measured(FLAX, total, weights, tuple(named), probe, device)

    def model_batch_first(self, model: Model) -> bool:
        """``nnx.RNN`` runs batch-major (``time_major=False``) whatever the model's layout."""
        return True

    def build_model(self, model: Model, seed: int = 0) -> Any:
        """The real :data:`MODEL_CLASS` for ``model`` (its input size known), initialised from
        ``seed``: ``nnx.Embed``, the recurrent layers, ``nnx.LayerNorm``, ``nnx.Dropout``
        (deterministic), ``nnx.Linear``."""
        reason = self.model_report(model).reason
        if reason:
            raise SpecError("framework", f"Flax NNX cannot express this model: {reason}")
        if model.input_size is None:
            raise SpecError("input_size", "is required to build a real model")
        self._require()
        from flax import nnx

        from rnncalc.core.model import Dropout, Embedding, LayerNorm

        rngs = nnx.Rngs(seed)
        modules: list[Any] = []
        activations: dict[int, str] = {}
        last_step: int | None = None
        size = model.input_size
        for position, part in enumerate(model.parts):
            if isinstance(part, Spec):
                for _ in range(part.num_layers):
                    modules.append(_build_layer(part, size, rngs))
                    size = merged_features(part)
                if position == model.last_block and model.last_step:
                    last_step = len(modules) - 1
                continue
            if isinstance(part, Embedding):
                modules.append(nnx.Embed(part.vocab_size, part.dim, rngs=rngs))
            elif isinstance(part, LayerNorm):
                norm = nnx.LayerNorm(
                    size, epsilon=part.epsilon, use_scale=part.scale, use_bias=part.bias, rngs=rngs
                )
                modules.append(norm)
            elif isinstance(part, Dropout):
                modules.append(nnx.Dropout(part.rate, deterministic=True))
            else:
                modules.append(nnx.Linear(size, part.units, use_bias=part.bias, rngs=rngs))
                if part.activation is not None:
                    activations[len(modules) - 1] = ACTIVATIONS[part.activation]
            size = part.features(size)
        return _model_class()(modules, activations, last_step, model.layers[-1].num_directions)

    def measure_model(self, model: Model) -> Measured:
        """Build the real :data:`MODEL_CLASS`, count it and run it once on zeros (token ids
        after an embedding); unknown batch and time take the small probe sizes."""
        from rnncalc.frameworks.adapter import PROBE_BATCH, PROBE_SEQ_LEN, Measured

        built = self.build_model(model)
        import jax
        import jax.numpy as jnp
        from flax import nnx

        batch = model.batch_size or PROBE_BATCH
        seq_len = model.seq_len or PROBE_SEQ_LEN
        if model.embedding is not None:
            x = jnp.zeros((batch, seq_len), dtype=jnp.int32)
        else:
            x = jnp.zeros((batch, seq_len, model.input_size), dtype=jnp.float32)
        output = built(x)
        params = nnx.to_flat_state(nnx.state(built, nnx.Param))
        weights = tuple((".".join(map(str, path)), tuple(p.shape)) for path, p in params)
        total = sum(leaf.size for leaf in jax.tree.leaves(nnx.state(built, nnx.Param)))
        probe = model.layers[0].replace(batch_size=batch, seq_len=seq_len)
        return Measured(FLAX, total, weights, (("output", tuple(output.shape)),), probe)

    def run_model_real(self, model: Model, weights: Mapping[str, Any], x: Any) -> Arrays:
        """The real :data:`MODEL_CLASS` with every parameter set from ``weights`` by its path."""
        import jax.numpy as jnp
        import numpy as np

        built = self.build_model(model)
        _load(built, weights)
        dtype = jnp.int32 if model.embedding is not None else jnp.float32
        return {"output": np.asarray(built(jnp.asarray(x, dtype=dtype)))}

    def run_real(self, spec: Spec, weights: Mapping[str, Any], x: Any) -> Arrays:
        """The real model with ``weights`` (paths as :meth:`report` names them) run on ``x``."""
        import jax
        import jax.numpy as jnp
        import numpy as np

        model = self.build(spec)
        _load(model, weights)
        carry, outputs = _call(model, jnp.asarray(x, dtype=jnp.float32))
        named = {"outputs": np.asarray(outputs)}
        for path, leaf in jax.tree_util.tree_flatten_with_path(carry)[0]:
            named["carry" + jax.tree_util.keystr(path)] = np.asarray(leaf)
        return named

    # --- weights ------------------------------------------------------------------------------

    def _direction_paths(self, spec: Spec) -> list[list[str]]:
        """Each layer's direction prefixes (``layers.1.backward_rnn.cell.``)."""
        return [
            [f"{layer}{direction}cell." for _, direction in direction_prefixes(spec)]
            for layer in layer_prefixes(spec)
        ]

    def canonical_part(
        self, spec: Spec, weights: Mapping[str, Any], layer: int, direction: int, part: Part
    ) -> Blocks | None:
        """Kernels are ``(in, out)``: blocks are viewed transposed. LSTMCell keeps one kernel
        per gate and its biases on the hidden side (canonical ``b_h``); SimpleCell's and
        GRUCell's bias sits on ``dense_i`` (canonical ``b_x``); the other bias is zero."""
        from rnncalc import reference

        prefix = self._direction_paths(spec)[layer][direction]
        if spec.cell is Cell.LSTM:
            gates = {"w_x": (LSTM_INPUT_GATES, "kernel"), "w_h": (LSTM_HIDDEN_GATES, "kernel"),
                     "b_h": (LSTM_HIDDEN_GATES, "bias")}  # fmt: skip
            if part not in gates:
                return None
            names, kind = gates[part]
            # One tensor per gate, named in canonical order (i, f, g, o).
            return tuple(_oriented(reference.lookup(weights, f"{prefix}{name}.{kind}")) for name in names)
        tensors = {"w_x": "dense_i.kernel", "w_h": "dense_h.kernel", "b_x": "dense_i.bias"}
        if part not in tensors:
            return None
        tensor = _oriented(reference.lookup(weights, f"{prefix}{tensors[part]}"))
        return reference.canonical_blocks(tensor, self, spec.cell)

    def tensor_from_canonical(self, spec: Spec, layer: int, row: WeightRow, part: PartGetter) -> Array:
        """Kernels transposed; both biases summed into Flax's one (:meth:`canonical_refusal`
        has checked that a GRU's ``b_hn``, which only PyTorch's equation holds, is zero)."""
        import numpy as np

        from rnncalc import reference

        blocks = partial(reference.held, part, DIRECTIONS.index(row.direction))

        module, kind = row.name.split(".")
        if spec.cell is Cell.LSTM:
            gates = LSTM_INPUT_GATES if module in LSTM_INPUT_GATES else LSTM_HIDDEN_GATES
            gate = gates.index(module)
            if kind == "bias":
                return np.asarray(blocks("b_x")[gate] + blocks("b_h")[gate], dtype=reference.DTYPE)
            block = blocks("w_x" if gates is LSTM_INPUT_GATES else "w_h")[gate]
            return reference.transposed(block)
        if kind == "bias":
            return reference.stacked(blocks("b_x"), self, spec.cell) + reference.stacked(
                blocks("b_h"), self, spec.cell
            )
        return reference.stacked_transposed(blocks("w_x" if module == "dense_i" else "w_h"), self, spec.cell)

    def canonical_refusal(self, spec: Spec, layer: int, part: PartGetter) -> str | None:
        """Beside what no Flax cell holds: a GRU's ``b_hn`` sits inside ``r * (W_hn h +
        b_hn)`` and cannot be folded into the input bias."""
        import numpy as np

        from rnncalc.reference import held

        reason = self.unsupported(spec)
        if reason:
            return f"Flax NNX cannot express this spec: {reason}"
        refusal = super().canonical_refusal(spec, layer, part)
        if refusal or spec.cell is not Cell.GRU:
            return refusal
        for direction in range(spec.num_directions):
            b_hn = held(part, direction, "b_h")[2]
            if np.any(b_hn != 0):
                largest = float(np.max(np.abs(b_hn)))
                return (
                    f"layer {layer}: nnx.GRUCell has no recurrent bias; b_hn (largest |value| "
                    f"{largest:.3g}) sits inside r * (W_hn h + b_hn) and cannot be folded into "
                    "the input bias"
                )
        return None

    def reference_forward(self, spec: Spec, weights: StackWeights, x: Any) -> Arrays:
        """The numpy reference run as the Flax model runs: batch-major (or unbatched) input,
        every layer merged with the spec's merge mode, every layer's final carry."""
        import numpy as np

        from rnncalc.reference import merge_directions, run_stack

        reason = self.unsupported(spec)
        if reason:
            raise SpecError("framework", f"Flax NNX cannot express this spec: {reason}")
        xs = np.asarray(x, dtype=np.float32)
        xs = xs[:, None, :] if spec.unbatched else xs.transpose(1, 0, 2)
        results = run_stack(spec, weights, xs, spec.merge_mode)
        outputs = merge_directions(tuple(r.sequence for r in results[-1]), spec.merge_mode).transpose(1, 0, 2)
        leaves = []
        for layer in results:
            for result in layer:
                leaves += [result.c, result.h] if result.c is not None else [result.h]
        named = {"outputs": outputs, **dict(zip(carry_names(spec), leaves, strict=True))}
        if spec.unbatched:
            named = {name: value[0] for name, value in named.items()}
        return {name: np.ascontiguousarray(value) for name, value in named.items()}


# --- Snippet ------------------------------------------------------------------------------------

#: The stack module as snippets define it (the same class as :func:`_stack_class` builds).
STACK_SOURCE = f'''
class {STACK_CLASS}(nnx.Module):
    """Recurrent layers run in order; returns every layer's final carry and the outputs."""

    def __init__(self, layers):
        self.layers = nnx.List(layers)

    def __call__(self, x, *, return_carry=False):
        carries = []
        for layer in self.layers:
            carry, x = layer(x, return_carry=True)
            carries.append(carry)
        return (tuple(carries), x) if return_carry else x

'''


def flax_snippet(convention: FlaxConvention, spec: Spec) -> str:
    """A script building the model :meth:`FlaxConvention.build` builds, printing every
    parameter path and shape, the shapes returned for zeros and, last, the parameter count."""
    from rnncalc.core.spec import describe_spec
    from rnncalc.frameworks.adapter import probe_spec

    if spec.input_size is None:
        raise SpecError("input_size", "is required to write code that builds the model")
    reason = convention.unsupported(spec)
    if reason:
        return f"# Flax NNX cannot build this model ({describe_spec(spec)}):\n# {reason}.\n"
    layers = []
    size = spec.input_size
    for _ in range(spec.num_layers):
        layers.append(_layer_source(spec, size))
        size = merged_features(spec)
    if spec.num_layers == 1:
        model = [f"model = {layers[0][0]}", *layers[0][1:]]
    else:
        model = [f"model = {STACK_CLASS}(", "    ["]
        for layer in layers:
            model += [f"        {line}" for line in layer[:-1]] + [f"        {layer[-1]},"]
        model += ["    ]", ")"]
    probe = probe_spec(spec)
    if spec.unbatched:
        zeros = f"x = jnp.zeros(({probe.seq_len}, {spec.input_size}))  # (time, features): unbatched"
    else:
        shape = f"({probe.batch_size}, {probe.seq_len}, {spec.input_size})"
        zeros = f"x = jnp.zeros({shape})  # (batch, time, features)"
    body = [
        "rngs = nnx.Rngs(0)",
        *model,
        "",
        "for path, param in nnx.to_flat_state(nnx.state(model, nnx.Param)):",
        '    print(".".join(map(str, path)), tuple(param.shape))',
        zeros,
        "carry, outputs = model(x, return_carry=True)",
        'print("outputs", tuple(outputs.shape))',
        "for path, leaf in jax.tree_util.tree_flatten_with_path(carry)[0]:",
        '    print("carry" + jax.tree_util.keystr(path), tuple(leaf.shape))',
        "print(sum(p.size for p in jax.tree.leaves(nnx.state(model, nnx.Param))))",
    ]
    header = f'"""Flax NNX: {describe_spec(spec)}. Written by rnncalc."""\n\n'
    imports = "import jax\nimport jax.numpy as jnp\nfrom flax import nnx\n\n"
    stack = STACK_SOURCE + "\n" if spec.num_layers > 1 else ""
    return header + imports + stack + "\n".join(body) + "\n"


#: :data:`MODEL_CLASS` as scripts define it: the class :func:`_model_class` builds, with the
#: script's ``ACTIVATIONS`` table for :func:`_activation` (a test runs both on one input).
MODEL_SOURCE = f'''

class {MODEL_CLASS}(nnx.Module):
    """Modules run in order. activations: a module's index -> the name of the function
    (ACTIVATIONS) applied to its output; last_step: the index of a recurrent layer after
    which only the last step goes on (with two directions: the forward half at the last
    step, the backward half at the first, where nnx.Bidirectional keeps the backward's last)."""

    def __init__(self, layers, activations=None, last_step=None, directions=1):
        self.layers = nnx.List(layers)
        self.activations = dict(activations or {{}})
        self.last_step = last_step
        self.directions = directions

    def __call__(self, x):
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index == self.last_step:
                last = x[..., -1, :]
                if self.directions == 2:
                    half = x.shape[-1] // 2
                    first = x[..., 0, half:]
                    last = jnp.concatenate([last[..., :half], first], axis=-1)
                x = last
            if index in self.activations:
                x = ACTIVATIONS[self.activations[index]](x)
        return x

'''

#: The source of each function :func:`_activation` returns that is not ``jax.nn.<name>``; a
#: test runs both on the same array.
ACTIVATION_SOURCES: dict[str, str] = {
    "identity": "lambda x: x",
    "exp": "jnp.exp",
    "gelu": "lambda x: jax.nn.gelu(x, approximate=False)",
    "leaky_relu": "lambda x: jax.nn.leaky_relu(x, negative_slope=0.2)",
}


def _model_modules(model: Model) -> tuple[list[str], dict[int, str], int | None]:
    """The source of each module :meth:`FlaxConvention.build_model` builds (indented as list
    items), the activations by module index and the index of the layer whose last step goes on."""
    from rnncalc.core.model import Dropout, Embedding, LayerNorm
    from rnncalc.frameworks.snippet import call

    indent = " " * 8
    modules: list[str] = []
    activations: dict[int, str] = {}
    last_step: int | None = None
    size = model.input_size
    assert size is not None
    for position, part in enumerate(model.parts):
        if isinstance(part, Spec):
            for _ in range(part.num_layers):
                lines = [f"{indent}{line}" for line in _layer_source(part, size)]
                modules.append("\n".join(lines) + ",")
                size = merged_features(part)
            if position == model.last_block and model.last_step:
                last_step = len(modules) - 1
            continue
        if isinstance(part, Embedding):
            args = [str(part.vocab_size), str(part.dim), "rngs=rngs"]
            modules.append(call("nnx.Embed", args, after=",", indent=indent))
        elif isinstance(part, LayerNorm):
            args = [
                str(size),
                f"epsilon={part.epsilon!r}",
                f"use_scale={part.scale}",
                f"use_bias={part.bias}",
                "rngs=rngs",
            ]
            modules.append(call("nnx.LayerNorm", args, after=",", indent=indent))
        elif isinstance(part, Dropout):
            args = [repr(part.rate), "deterministic=True"]
            modules.append(call("nnx.Dropout", args, after=",", indent=indent))
        else:
            args = [str(size), str(part.units), f"use_bias={part.bias}", "rngs=rngs"]
            modules.append(call("nnx.Linear", args, after=",", indent=indent))
            if part.activation is not None:
                activations[len(modules) - 1] = ACTIVATIONS[part.activation]
        size = part.features(size)
    return modules, activations, last_step


def flax_model_snippet(convention: FlaxConvention, model: Model) -> str:
    """A script building the :data:`MODEL_CLASS` :meth:`FlaxConvention.build_model` builds:
    its ``nnx.Param`` paths are :meth:`FlaxConvention.model_report`'s."""
    from rnncalc.frameworks.adapter import probe_model
    from rnncalc.frameworks.snippet import model_header, model_unsupported_comment, quote

    report = convention.model_report(model)
    if report.reason:
        return model_unsupported_comment(convention.title, model, report.model, report.reason)
    if model.input_size is None:
        raise SpecError("input_size", "is required to write code that builds the model")
    modules, activations, last_step = _model_modules(model)
    names = sorted(set(activations.values()))
    table = [f"    {quote(name)}: {ACTIVATION_SOURCES.get(name, f'jax.nn.{name}')}," for name in names]
    arguments = ["    [", *modules, "    ],"]
    if activations or last_step is not None:
        arguments.append(f"    {{{', '.join(f'{k}: {quote(v)}' for k, v in activations.items())}}},")
    if last_step is not None:
        arguments += [f"    {last_step},", f"    {model.layers[-1].num_directions},"]
    probe = probe_model(model)
    if model.embedding is not None:
        zeros = f"x = jnp.zeros(({probe.batch_size}, {probe.seq_len}), jnp.int32)  # (batch, time): token ids"
    else:
        shape = f"({probe.batch_size}, {probe.seq_len}, {model.input_size})"
        zeros = f"x = jnp.zeros({shape})  # (batch, time, features)"
    body = [
        *(["ACTIVATIONS = {", *table, "}"] if table else ["ACTIVATIONS = {}"]),
        MODEL_SOURCE,
        "rngs = nnx.Rngs(0)",
        f"model = {MODEL_CLASS}(",
        *arguments,
        ")",
        "",
        "for path, param in nnx.to_flat_state(nnx.state(model, nnx.Param)):",
        '    print(".".join(map(str, path)), tuple(param.shape))',
        zeros,
        "output = model(x)",
        'print("output", tuple(output.shape))',
        "print(sum(p.size for p in jax.tree.leaves(nnx.state(model, nnx.Param))))",
    ]
    imports = "import jax\nimport jax.numpy as jnp\nfrom flax import nnx\n\n"
    return model_header(convention.title, model, report.model) + imports + "\n".join(body) + "\n"


def _layer_source(spec: Spec, input_size: int) -> list[str]:
    """Source lines of one ``nnx.RNN`` or ``nnx.Bidirectional`` (indented from the second)."""
    args = [str(input_size), str(spec.hidden_size)]
    if spec.cell is Cell.RNN and spec.nonlinearity is Nonlinearity.RELU:
        args.append("activation_fn=nnx.relu")
    rnn = f"nnx.RNN(nnx.{CELL_CLASSES[spec.cell]}({', '.join(args)}, rngs=rngs))"
    if not spec.bidirectional:
        return [rnn]
    lines = ["nnx.Bidirectional(", f"    {rnn},", f"    {rnn},"]
    if spec.merge_mode in MERGE_FUNCTIONS:
        lines.append(f"    merge_fn={MERGE_FUNCTIONS[spec.merge_mode]},")
    return [*lines, ")"]


# --- Building the real model (imports flax) ---------------------------------------------------


def _build_layer(spec: Spec, input_size: int, rngs: Any) -> Any:
    """One ``nnx.RNN`` or ``nnx.Bidirectional`` on ``input_size`` features."""
    import jax.numpy as jnp
    from flax import nnx

    def rnn() -> Any:
        cell_class = getattr(nnx, CELL_CLASSES[spec.cell])
        kwargs: dict[str, Any] = {"rngs": rngs}
        if spec.cell is Cell.RNN and spec.nonlinearity is Nonlinearity.RELU:
            kwargs["activation_fn"] = nnx.relu
        return nnx.RNN(cell_class(input_size, spec.hidden_size, **kwargs))

    if not spec.bidirectional:
        return rnn()
    merge: dict[MergeMode, Any] = {
        MergeMode.CONCAT: None,
        MergeMode.SUM: jnp.add,
        MergeMode.MUL: jnp.multiply,
        MergeMode.AVE: lambda forward, backward: (forward + backward) / 2,
    }
    merge_fn = merge[spec.merge_mode]
    if merge_fn is None:
        return nnx.Bidirectional(rnn(), rnn())
    return nnx.Bidirectional(rnn(), rnn(), merge_fn=merge_fn)


@cache
def _stack_class() -> type:
    """The ``nnx.Module`` holding a stack; defined once, at first use, as snippets define it."""
    from flax import nnx

    class RecurrentStack(nnx.Module):  # type: ignore[misc]
        """Recurrent layers run in order; returns every layer's final carry and the outputs."""

        def __init__(self, layers: list[Any]) -> None:
            self.layers = nnx.List(layers)

        def __call__(self, x: Any, *, return_carry: bool = False) -> Any:
            carries = []
            for layer in self.layers:
                carry, x = layer(x, return_carry=True)
                carries.append(carry)
            return (tuple(carries), x) if return_carry else x

    RecurrentStack.__name__ = RecurrentStack.__qualname__ = STACK_CLASS
    return RecurrentStack


#: ``jax.nn`` for each dense activation, with Keras 3's defaults (softmax on the last axis,
#: leaky_relu's slope 0.2, exact gelu).
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
    DenseActivation.SOFTSIGN: "soft_sign",
    DenseActivation.LEAKY_RELU: "leaky_relu",
    DenseActivation.HARD_SIGMOID: "hard_sigmoid",
    DenseActivation.HARD_SILU: "hard_silu",
    DenseActivation.HARD_TANH: "hard_tanh",
    DenseActivation.RELU6: "relu6",
    DenseActivation.CELU: "celu",
    DenseActivation.EXPONENTIAL: "exp",
}


def _activation(name: str) -> Any:
    """The function ``ACTIVATIONS`` names: :data:`ACTIVATION_SOURCES`' where it has one, else
    ``jax.nn``'s."""
    import jax
    import jax.numpy as jnp

    source = ACTIVATION_SOURCES.get(name)
    return eval(source, {"jax": jax, "jnp": jnp}) if source else getattr(jax.nn, name)


@cache
def _model_class() -> type:
    """The :data:`MODEL_CLASS` ``nnx.Module`` of :data:`MODEL_SOURCE`, defined from that source
    at first use, so the class the adapter runs is the one scripts print."""
    import jax.numpy as jnp
    from flax import nnx

    activations = {name: _activation(name) for name in ACTIVATIONS.values()}
    namespace: dict[str, Any] = {"__name__": __name__, "jnp": jnp, "nnx": nnx, "ACTIVATIONS": activations}
    exec(MODEL_SOURCE, namespace)
    model_class: type = namespace[MODEL_CLASS]
    return model_class


def _load(model: Any, weights: Mapping[str, Any]) -> None:
    """Set every ``nnx.Param`` of ``model`` from ``weights`` by its dotted path; a missing,
    unknown or misshapen weight is an error."""
    import jax.numpy as jnp
    from flax import nnx

    params = nnx.state(model, nnx.Param)
    flat = nnx.to_flat_state(params)
    unexpected = sorted(set(weights) - {".".join(map(str, path)) for path, _ in flat})
    if unexpected:
        raise KeyError(f"weight {unexpected[0]!r} is not in the model")
    for path, variable in flat:
        name = ".".join(map(str, path))
        if name not in weights:
            raise KeyError(f"weight {name!r} is missing (have: {', '.join(weights)})")
        value = jnp.asarray(weights[name], dtype=jnp.float32)
        if value.shape != variable.shape:
            raise ValueError(f"weight {name!r} has shape {value.shape}, the model {variable.shape}")
        variable.set_value(value)
    nnx.update(model, params)


def _call(model: Any, x: Any) -> tuple[Any, Any]:
    """``(carry, outputs)`` of the model on ``x``."""
    carry, outputs = model(x, return_carry=True)
    return carry, outputs


def _size(shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


CONVENTION = FlaxConvention()


def _oriented(tensor: Array) -> Array:
    """A Flax kernel ``(in, out)`` viewed as PyTorch's ``(out, in)``; a bias as it is."""
    return tensor.T if tensor.ndim == 2 else tensor
