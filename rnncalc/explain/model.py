"""``rnncalc explain``: the cell's equations written with one configuration's numbers.

A structured explanation for learners, built from the calculator's reports: every shape and
count shown here is read from :class:`~rnncalc.core.report.Analysis` (never recomputed), and this
module only adds the words and the equations. Rendering lives in :mod:`rnncalc.explain.render`.
Pure: imports no numpy, torch or keras.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rnncalc import frameworks
from rnncalc.analysis import analyze
from rnncalc.core.report import Analysis, FrameworkReport, LayerReport, Role, WeightRow
from rnncalc.core.spec import Activation, Cell, MergeMode, Nonlinearity, Spec, describe_spec
from rnncalc.core.symbolic import INPUT, Count, Dim, Shape, format_shape

# --- The content model: sections of prose, equations, tables and code ----------------------


@dataclass(frozen=True)
class Prose:
    """A paragraph; text between backticks is code (kept in markdown, unquoted in plain text)."""

    text: str


@dataclass(frozen=True)
class Equations:
    """Lines of math in plain notation, shown as a preformatted block."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table; ``right`` columns are right-aligned (numbers), ``code`` columns are code in markdown."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    right: frozenset[int] = frozenset()
    code: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Code:
    """A source listing, e.g. a runnable snippet."""

    language: str
    source: str


Block = Prose | Equations | Table | Code


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Explanation:
    """What ``rnncalc explain`` says about one spec, before it is rendered."""

    title: str
    sections: tuple[Section, ...]
    analysis: Analysis


# --- Building the explanation ---------------------------------------------------------------


def explain(spec: Spec | Mapping[str, Any], names: Iterable[str] | None = None) -> Explanation:
    """Analyze ``spec`` in the chosen frameworks (registry names; None: the ones shown by
    default) and explain the result."""
    return explain_analysis(analyze(spec, frameworks.default_names() if names is None else names))


def explain_analysis(analysis: Analysis) -> Explanation:
    """The explanation of an analysis; every number comes from ``analysis``."""
    sections = [
        _equations_section(analysis),
        *_step_section(analysis),
        *_directions_section(analysis),
        *_stacking_section(analysis),
        *(_framework_section(analysis.spec, report) for report in analysis.frameworks),
        _difference_section(analysis),
        _outputs_section(analysis),
        *_keras2_section(analysis),
    ]
    return Explanation(describe_spec(analysis.spec), tuple(s for s in sections if s.blocks), analysis)


def with_code(explanation: Explanation, snippets: Mapping[str, str]) -> Explanation:
    """The explanation followed by one code section per framework snippet."""
    extra = tuple(
        Section(f"{frameworks.get(framework).title} code", (Code("python", source),))
        for framework, source in snippets.items()
    )
    return Explanation(explanation.title, explanation.sections + extra, explanation.analysis)


# --- The equations --------------------------------------------------------------------------


def _activation(spec: Spec) -> str:
    """The candidate's activation: tanh unless ``--nonlinearity``/``--activation`` say otherwise."""
    return spec.cell_activation.value


def _gate(spec: Spec) -> str:
    """The gates' activation: σ unless ``--recurrent-activation`` says otherwise."""
    return "σ" if spec.gate_activation is Activation.SIGMOID else spec.gate_activation.value


def _two_biases_in_equation(spec: Spec) -> bool:
    """GRU with the reset gate applied after the product keeps the recurrent bias apart."""
    return spec.cell is Cell.GRU and spec.reset_after


def cell_equations(spec: Spec) -> tuple[str, ...]:
    """One time step of one direction, as the frameworks' docs write it (bias terms if any)."""
    bias = spec.bias
    if spec.cell is Cell.RNN:
        b = " + b" if bias else ""
        return (f"h_t = {_activation(spec)}(W_x x_t + W_h h_{{t-1}}{b})",)
    if spec.cell is Cell.LSTM:

        def gate(name: str, fn: str) -> str:
            b = f" + b_{name}" if bias else ""
            return f"{name}_t = {fn}(W_x{name} x_t + W_h{name} h_{{t-1}}{b})"

        act, sigma = _activation(spec), _gate(spec)
        last = f"h_t = W_hr (o_t * {act}(c_t))" if spec.proj_size else f"h_t = o_t * {act}(c_t)"
        return (
            gate("i", sigma),
            gate("f", sigma),
            gate("g", act),
            gate("o", sigma),
            "c_t = f_t * c_{t-1} + i_t * g_t",
            last,
        )
    update = "h_t = (1 - z_t) * n_t + z_t * h_{t-1}"
    if spec.reset_after:

        def xb(name: str) -> str:
            return f" + b_x{name}" if bias else ""

        def hb(name: str) -> str:
            return f" + b_h{name}" if bias else ""

        return (
            f"r_t = {_gate(spec)}(W_xr x_t{xb('r')} + W_hr h_{{t-1}}{hb('r')})",
            f"z_t = {_gate(spec)}(W_xz x_t{xb('z')} + W_hz h_{{t-1}}{hb('z')})",
            f"n_t = {_activation(spec)}(W_xn x_t{xb('n')} + r_t * (W_hn h_{{t-1}}{hb('n')}))",
            update,
        )
    terms = {name: (f" + b_{name}" if bias else "") for name in "zrn"}
    return (
        f"z_t = {_gate(spec)}(W_xz x_t + W_hz h_{{t-1}}{terms['z']})",
        f"r_t = {_gate(spec)}(W_xr x_t + W_hr h_{{t-1}}{terms['r']})",
        f"n_t = {_activation(spec)}(W_xn x_t + W_hn (r_t * h_{{t-1}}){terms['n']})",
        update,
    )


#: The gate letters in the equations above (PyTorch's names).
_GATES: dict[Cell, tuple[str, ...]] = {
    Cell.RNN: (),
    Cell.LSTM: ("i", "f", "g", "o"),
    Cell.GRU: ("r", "z", "n"),
}


def _reference(analysis: Analysis) -> tuple[FrameworkReport, bool] | None:
    """The report whose layer-0 weights illustrate the equation, and whether it is transposed.

    PyTorch stores matrices as ``(out, in)``, the orientation of ``W x``; Keras stores the
    transpose, used only when PyTorch cannot express the spec.
    """
    torch = analysis.framework("torch")
    if torch.supported:
        return torch, False
    keras = analysis.framework("keras")
    return (keras, True) if keras.supported else None


def _forward(layer: LayerReport) -> list[WeightRow]:
    return [w for w in layer.weights if w.direction == "forward"]


def _math_shape(row: WeightRow, transposed: bool) -> Shape:
    return tuple(reversed(row.shape)) if transposed and len(row.shape) == 2 else row.shape


def _input_features(report: FrameworkReport, layer: LayerReport) -> Dim:
    """The input size a layer's input weights were shaped for (read from the report)."""
    row = next(w for w in layer.weights if w.role is Role.INPUT_KERNEL)
    return row.shape[0] if report.framework == "keras" else row.shape[1]


def _stacking_prose(spec: Spec, report: FrameworkReport) -> list[Block]:
    """How the stacked matrices hold one block per gate (sizes from the spec, no counts)."""
    gates = _GATES[spec.cell]
    if not gates:
        return []
    in_features = _input_features(report, report.layers[0])
    state = spec.proj_size or spec.hidden_size

    def names(prefix: str) -> str:
        return ", ".join(f"`{prefix}{g}`" for g in gates)

    return [
        Prose(
            f"`W_x` stacks the {len(gates)} gate blocks {names('W_x')}, each "
            f"`{format_shape((spec.hidden_size, in_features))}`; `W_h` stacks {names('W_h')}, each "
            f"`{format_shape((spec.hidden_size, state))}`"
            + (f"; the bias holds one block per gate likewise ({', '.join(gates)})." if spec.bias else ".")
        )
    ]


def _equations_section(analysis: Analysis) -> Section:
    spec = analysis.spec
    blocks: list[Block] = [
        Prose(
            f"At each time step `t`, one direction of {_cell_name(spec)} layer "
            "turns the input `x_t` and the previous state into the new state:"
        ),
        Equations(cell_equations(spec)),
    ]
    reference = _reference(analysis)
    if reference is not None:
        report, transposed = reference
        legend = _legend(spec, report, transposed)
        headers = ("symbol", "shape", "params", "meaning")
        blocks.append(Table(headers, legend, right=frozenset({2}), code=frozenset({0, 1})))
        blocks.append(
            Prose(
                "Shapes are one direction of layer 0, as `(rows, columns)` of the product `W x` "
                "(Keras stores these matrices transposed); the counts are "
                f"{frameworks.get(report.framework).title}'s. " + _notation(spec)
            )
        )
        blocks.extend(_stacking_prose(spec, report))
    blocks.extend(_gate_order_prose(spec))
    if spec.input_size is None:
        blocks.append(
            Prose(
                "The input size is unknown, so counts that depend on it are formulas in `I`; "
                "pass `--input N` for plain numbers."
            )
        )
    return Section("The equations", tuple(blocks))


def _step_section(analysis: Analysis) -> list[Section]:
    """``--step``: what one call of a cell computes, and that the notebooks' hand loop is this
    cell applied over time."""
    spec = analysis.spec
    if not spec.step:
        return []
    states = "`h_{t-1}` and `c_{t-1}`" if spec.cell is Cell.LSTM else "`h_{t-1}`"
    new = "`(h_t, c_t)`" if spec.cell is Cell.LSTM else "`h_t`"
    loop = "h, c = cell(x[t], (h, c))" if spec.cell is Cell.LSTM else "h = cell(x[t], h)"
    torch_name = {Cell.RNN: "RNNCell", Cell.LSTM: "LSTMCell", Cell.GRU: "GRUCell"}[spec.cell]
    keras_name = {Cell.RNN: "SimpleRNNCell", Cell.LSTM: "LSTMCell", Cell.GRU: "GRUCell"}[spec.cell]
    layer = {Cell.RNN: "SimpleRNN", Cell.LSTM: "LSTM", Cell.GRU: "GRU"}[spec.cell]
    cell_path = {Cell.RNN: "simple_rnn", Cell.LSTM: "lstm", Cell.GRU: "gru"}[spec.cell]
    blocks: list[Block] = [
        Prose(
            f"`--step` describes the cell alone (`nn.{torch_name}`, `keras.layers.{keras_name}`): one "
            f"call computes the equations above once, for one time step, from the states it is "
            f"given ({states}; zeros when omitted) to {new}. Its input has no time axis: `(N, I)`"
            + (", or `(I,)` unbatched in PyTorch." if spec.unbatched else ".")
        ),
        Prose(
            f"The notebooks' hand loop, `for t in range(T): {loop}`, is exactly this cell applied "
            f"over time: `nn.{layer if layer != 'SimpleRNN' else 'RNN'}` and `keras.layers.{layer}` "
            f"(or `keras.layers.RNN({keras_name}(...))`) run the same loop with the same weights, "
            "so the counts are the same. Only the names differ: PyTorch's cell drops the `_l0` "
            f"suffix (`weight_ih`), and a bare Keras cell's paths lack the layer's name "
            f"(`{cell_path}_cell/kernel`, not `{cell_path}/{cell_path}_cell/kernel`)."
        ),
    ]
    return [Section("One step of a cell", tuple(blocks))]


def _cell_name(spec: Spec) -> str:
    """The cell's name with its article: ``a simple RNN (tanh)``, ``an LSTM``, ``a GRU``."""
    if spec.cell is Cell.RNN:
        return f"a simple RNN ({_activation(spec)})"
    return {Cell.LSTM: "an LSTM", Cell.GRU: "a GRU"}[spec.cell]


def _notation(spec: Spec) -> str:
    words = []
    if spec.cell is not Cell.RNN:
        if spec.gate_activation is Activation.SIGMOID:
            words.append("`σ` is the logistic sigmoid `1 / (1 + e^-x)`")
        words.append("`*` multiplies element by element")
    elif spec.nonlinearity is Nonlinearity.RELU:
        words.append("`relu(v) = max(0, v)` element by element (`--nonlinearity relu`)")
    elif spec.cell_activation is Activation.TANH:
        words.append("`tanh` acts element by element")
    custom = {spec.cell_activation, spec.gate_activation} - {Activation.TANH, Activation.SIGMOID}
    if spec.cell is Cell.RNN:
        custom -= {Activation.RELU}
    if custom:
        names = ", ".join(f"`{a.value}`" for a in sorted(custom, key=list(Activation).index))
        words.append(f"{names}: Keras's activations of that name (`keras.activations`)")
    return "; ".join(words) + "."


def _legend(spec: Spec, report: FrameworkReport, transposed: bool) -> tuple[tuple[str, ...], ...]:
    layer = report.layers[0]
    rows = _forward(layer)
    in_features = _input_features(report, layer)
    state = spec.proj_size or spec.hidden_size
    legend: list[tuple[str, ...]] = [
        ("x_t", format_shape((in_features,)), "", "the input at step t"),
        ("h_t", format_shape((state,)), "", "the hidden state (output)"),
    ]
    if spec.cell is Cell.LSTM:
        legend.append(("c_t", format_shape((spec.hidden_size,)), "", "the cell state"))
    for row in rows:
        shape = format_shape(_math_shape(row, transposed))
        if row.role is Role.INPUT_KERNEL:
            legend.append(("W_x", shape, str(row.params), "input weights"))
        elif row.role is Role.RECURRENT_KERNEL:
            legend.append(("W_h", shape, str(row.params), "recurrent weights"))
        elif row.role is Role.PROJECTION:
            legend.append(("W_hr", shape, str(row.params), "projection of the output"))
    legend.extend(_bias_legend(spec, report, rows))
    return tuple(legend)


def _bias_legend(spec: Spec, report: FrameworkReport, rows: list[WeightRow]) -> list[tuple[str, ...]]:
    biases = [row for row in rows if row.role is Role.BIAS]
    if not biases:
        return []
    if _two_biases_in_equation(spec):
        if report.framework == "torch":
            # PyTorch keeps bias_ih then bias_hh (conventions.torch_slots order).
            x, h = biases
            return [
                ("b_x", format_shape(x.shape), str(x.params), "input-side bias"),
                ("b_h", format_shape(h.shape), str(h.params), "recurrent-side bias"),
            ]
        (both,) = biases
        return [("b_x, b_h", format_shape(both.shape), str(both.params), "both biases, one tensor")]
    first = biases[0]
    return [("b", format_shape(first.shape), str(first.params), "bias")]


def _gate_order_prose(spec: Spec) -> list[Block]:
    if spec.cell is Cell.RNN:
        return []
    torch = ", ".join(frameworks.get("torch").gate_order[spec.cell])
    keras = ", ".join(frameworks.get("keras").gate_order[spec.cell])
    ours, theirs = ("g", "c") if spec.cell is Cell.LSTM else ("n", "h")
    text = (
        f"Each big matrix stacks one block per gate. PyTorch stacks them in the order {torch}; "
        f"Keras in the order {keras}, where its `{theirs}` is the `{ours}` above. Copying weights from one "
        "framework to the other means reordering the blocks and transposing."
    )
    out: list[Block] = [Prose(text)]
    if spec.cell is Cell.GRU:
        if spec.reset_after:
            out.append(
                Prose(
                    "This is PyTorch's GRU, and Keras's with `reset_after=True` (its default, which "
                    "Keras's docs call cuDNN compatible): the "
                    "reset gate `r_t` multiplies `W_hn h_{t-1} + b_hn` after the matrix product, so the "
                    "recurrent bias cannot merge with the input bias and both are kept."
                )
            )
        else:
            out.append(
                Prose(
                    "This is Keras's GRU with `reset_after=False` (\"before\" in Keras's docs): "
                    "the reset gate multiplies `h_{t-1}` before the matrix product `W_hn (r_t * h_{t-1})`, "
                    "so one bias per gate is enough. PyTorch's GRU always applies `r_t` after the "
                    "product and has no such variant."
                )
            )
    if spec.proj_size:
        out.append(
            Prose(
                f"With `proj_size={spec.proj_size}` PyTorch multiplies the LSTM output by `W_hr`: "
                f"`h_t` has {spec.proj_size} features, and `W_h` multiplies this smaller `h_{{t-1}}`. "
                f"The cell state `c_t` keeps {spec.hidden_size}."
            )
        )
    return out


# --- Directions and stacking --------------------------------------------------------------------


def _directions_section(analysis: Analysis) -> list[Section]:
    spec = analysis.spec
    if not spec.bidirectional:
        return []
    merge = {
        MergeMode.CONCAT: "concatenates the two outputs at every step (PyTorch always does; "
        "Keras with `merge_mode='concat'`, its default)",
        MergeMode.SUM: "adds the two outputs element by element (Keras `merge_mode='sum'`)",
        MergeMode.MUL: "multiplies the two outputs element by element (Keras `merge_mode='mul'`)",
        MergeMode.AVE: "averages the two outputs element by element (Keras `merge_mode='ave'`)",
        MergeMode.NONE: "returns the two outputs separately (Keras `merge_mode=None`)",
    }[spec.merge_mode]
    blocks: list[Block] = [
        Prose(
            "Bidirectional: every layer holds two independent copies of the cell, each with its own "
            "weights. The forward copy reads `x_1 … x_T`, the backward copy `x_T … x_1`. So every "
            f"layer's count is twice one direction's. The layer {merge}."
        )
    ]
    return [Section("Two directions", tuple(blocks))]


def _stacking_section(analysis: Analysis) -> list[Section]:
    spec = analysis.spec
    if spec.num_layers < 2:
        return []
    blocks: list[Block] = [
        Prose(
            f"{spec.num_layers} layers: layer 1 reads layer 0's output sequence, so its `x_t` is what "
            "layer 0 emits at each step, not the original input. Only layer 0's input weights depend "
            "on the input size."
        )
    ]
    for report in analysis.frameworks:
        if not report.supported:
            continue
        first, second = report.layers[0], report.layers[1]
        title = frameworks.get(report.framework).title
        size = _input_features(report, second)
        w0 = next(w for w in first.weights if w.role is Role.INPUT_KERNEL)
        w1 = next(w for w in second.weights if w.role is Role.INPUT_KERNEL)
        blocks.append(
            Prose(
                f"{title}: layer 1's input has {size} features ({_why_features(spec, report.framework)}), "
                f"so its input weights `{w1.name}` are `{format_shape(w1.shape)}` = {w1.params} "
                f"where layer 0's `{w0.name}` are `{format_shape(w0.shape)}` = {w0.params}."
            )
        )
    if analysis.framework("keras").supported:
        blocks.append(
            Prose(
                "In Keras every layer but the last needs `return_sequences=True` to hand on the whole "
                "sequence; PyTorch's `num_layers` does that inside one module."
            )
        )
    return [Section("Stacked layers", tuple(blocks))]


def _why_features(spec: Spec, framework: str) -> str:
    """Words for the size one layer hands to the next: directions × hidden (or projection)."""
    size = "proj_size" if spec.proj_size else "hidden_size"
    if not spec.bidirectional:
        return f"the {size}"
    if framework == "keras" and spec.merge_mode is not MergeMode.CONCAT:
        return f"merge_mode='{spec.merge_mode.value}' combines the 2 directions into one {size}"
    return f"2 directions × {size}, concatenated"


# --- One section per framework ---------------------------------------------------------------------


def _symbols(report: FrameworkReport, rows: list[WeightRow]) -> list[str]:
    """The equation symbol each stored tensor holds; Keras stores matrices transposed."""
    keras = report.framework == "keras"
    symbols = []
    bias_names = iter(("b_x", "b_h"))  # PyTorch's order: bias_ih, bias_hh
    for row in rows:
        if row.role is Role.INPUT_KERNEL:
            symbols.append("W_x^T" if keras else "W_x")
        elif row.role is Role.RECURRENT_KERNEL:
            symbols.append("W_h^T" if keras else "W_h")
        elif row.role is Role.PROJECTION:
            symbols.append("W_hr")
        elif keras:
            symbols.append("b_x; b_h" if len(row.shape) == 2 else "b")
        else:
            symbols.append(next(bias_names))
    return symbols


def _framework_section(spec: Spec, report: FrameworkReport) -> Section:
    title = f"{frameworks.get(report.framework).title}: {report.model}"
    if not report.supported:
        return Section(title, (Prose(f"Cannot build this model: {report.reason}."),))
    both = spec.bidirectional
    rows: list[tuple[str, ...]] = []
    sums: list[Block] = []
    for layer in report.layers:
        # The layer's name heads its forward weights, "(backward)" the second direction's.
        label = layer.name
        for direction in dict.fromkeys(w.direction for w in layer.weights):
            weights = [w for w in layer.weights if w.direction == direction]
            if direction != "forward":
                label = f"({direction})"
            for weight, symbol in zip(weights, _symbols(report, weights), strict=True):
                rows.append((label, weight.name, symbol, format_shape(weight.shape), str(weight.params)))
                label = ""
        addition = " + ".join(str(w.params) for w in _forward(layer))
        name = layer.name if report.framework == "torch" else f"`{layer.name}`"
        line = f"Sum for {name}: {addition} = {layer.direction_params('forward')}"
        if both:
            line += f" per direction; both directions {layer.params}"
        sums.append(Prose(line + "."))
    table = Table(
        ("layer", "weight", "symbol", "shape", "params"),
        tuple(rows),
        right=frozenset({4}),
        code=frozenset({1, 2, 3}),
    )
    blocks: list[Block] = [table, *sums]
    if len(report.layers) > 1:
        layers = " + ".join(str(layer.params) for layer in report.layers)
        blocks.append(Prose(f"Total: {layers} = {report.total}."))
    else:
        blocks.append(Prose(f"Total: {report.total}."))
    blocks.extend(Prose(note) for note in frameworks.get(report.framework).explain_notes(spec))
    return Section(title, tuple(blocks))


# --- Why the totals differ ---------------------------------------------------------------------


def _difference_section(analysis: Analysis) -> Section:
    torch = analysis.framework("torch")
    keras = analysis.framework("keras")
    difference = analysis.difference
    blocks: list[Block] = []
    if difference is None:
        for report, other in ((torch, keras), (keras, torch)):
            if not report.supported and other.supported:
                blocks.append(
                    Prose(
                        f"Only {frameworks.get(other.framework).title} can build this model "
                        f"({other.total} parameters): {report.reason}."
                    )
                )
        if not blocks:
            blocks.append(Prose("Neither framework can build this model; see the reasons above."))
        return Section("PyTorch vs Keras", tuple(blocks))
    delta = difference.delta
    reason = difference.reason[:1].upper() + difference.reason[1:]
    if delta == Count():
        verdict = f"PyTorch {torch.total}, Keras {keras.total}. {reason}."
    else:
        more, amount = ("PyTorch", delta) if _positive(delta) else ("Keras", Count() - delta)
        verdict = f"PyTorch {torch.total}, Keras {keras.total}: {more} has {amount} more. {reason}."
    blocks.append(Prose(verdict))
    spec = analysis.spec
    bias_delta = torch.role_total(Role.BIAS) - keras.role_total(Role.BIAS)
    if bias_delta != Count():
        count = spec.num_layers * spec.num_directions
        places = f"{spec.num_layers} layer{'s' if spec.num_layers > 1 else ''} × {spec.num_directions}"
        blocks.append(
            Prose(
                f"Why: PyTorch adds two bias vectors, `b_x + b_h`, where the equation needs one `b`, "
                f"as cuDNN's weight layout does. The sum acts exactly like Keras's single `b`, so the "
                f"extra vector adds {bias_delta} parameters ({count} extra bias vector"
                f"{'s' if count > 1 else ''}: {places} direction{'s' if spec.num_directions > 1 else ''}) "
                "but no expressive power."
            )
        )
    elif spec.cell is Cell.GRU and spec.bias:
        blocks.append(
            Prose(
                "Why: both keep `b_x` and `b_h` because `b_hn` sits inside `r_t * (W_hn h_{t-1} + b_hn)` "
                "and cannot be folded into `b_xn`; Keras stores the pair as one `(2, 3*units)` bias."
            )
        )
    elif not spec.bias:
        blocks.append(Prose("Without bias both frameworks keep exactly `W_x` and `W_h` per direction."))
    return Section("PyTorch vs Keras", tuple(blocks))


def _positive(count: Count) -> bool:
    """True when ``count`` is positive for every input size (both coefficients ≥ 0)."""
    return count.per_input >= 0 and count.constant >= 0


# --- What comes out ---------------------------------------------------------------------------------


def _outputs_section(analysis: Analysis) -> Section:
    rows = tuple(
        (frameworks.get(report.framework).title if index == 0 else "", name, format_shape(shape))
        for report in analysis.frameworks
        if report.supported
        for index, (name, shape) in enumerate(report.outputs)
    )
    blocks: list[Block] = []
    if rows:
        blocks.append(Table(("framework", "returns", "shape"), rows, code=frozenset({1, 2})))
        spec = analysis.spec
        words = []
        flags = [
            flag
            for flag, unknown in (
                ("`--batch`", spec.batch_size is None and not spec.unbatched),
                ("`--seq-len`", spec.seq_len is None and not spec.step),
            )
            if unknown
        ]
        if flags:
            words.append(f"`None` is a dimension left open (set it with {' and '.join(flags)})")
        if analysis.framework("torch").supported and not spec.unbatched and not spec.step:
            order = "(batch, time, features)" if spec.batch_first else "(time, batch, features)"
            words.append(
                f"PyTorch's output is {order}"
                + ("" if spec.batch_first else " unless `batch_first=True`")
                + "; its `h_n` stacks layers × directions first"
            )
        if words:
            blocks.append(Prose("; ".join(words) + "."))
    return Section("What comes out", tuple(blocks))


# --- Keras 2 spellings in course notebooks ------------------------------------------------------


def _keras2_section(analysis: Analysis) -> list[Section]:
    spec = analysis.spec
    if not analysis.framework("keras").supported or spec.step:
        return []
    layer = {Cell.RNN: "SimpleRNN", Cell.LSTM: "LSTM", Cell.GRU: "GRU"}[spec.cell]
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
    blocks: list[Block] = [
        Prose(
            "Course notebooks written for Keras 2 often give the input shape to the layer itself: "
            f"`{layer}({units}, input_length={steps}, input_dim={features})` or "
            f"`{layer}({units}, batch_input_shape=({batch}, {steps}, {features}))`. Keras 3 rejects "
            f"both: `ValueError: Unrecognized keyword arguments passed to {layer}: "
            f"{{'input_length': {length}}}` (or `{{'batch_input_shape': ...}}`); a lone `input_dim` only "
            "earns a warning to use an input instead."
        ),
        Prose(
            f"In Keras 3 the shape goes into an input: `keras.Input(shape=({keras3_shape}, {features}))`, "
            f"or `keras.Input(batch_shape=({batch}, {keras3_shape}, {features}))` to fix the batch size "
            f"too, and the layer is just `{layer}({units})`."
            + (" `None` lets the number of time steps vary." if spec.seq_len is None else "")
            + (f" (Here {', '.join(letters)}.)" if letters else "")
        ),
    ]
    return [Section("Keras 2 spelling", tuple(blocks))]
