"""``rnncalc explain``: the cell's equations written with one configuration's numbers.

A structured explanation for learners, built from the calculator's reports: every shape and
count shown here is read from :class:`~rnncalc.core.report.Analysis` (never recomputed), and this
module only adds the words and the equations. Rendering lives in :mod:`rnncalc.explain.render`.
Pure: imports no numpy and no framework. Each framework's own words come from its convention
(``explain_notes``, ``explain_extra``, ``explain_sections``); this module names none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rnncalc import frameworks
from rnncalc.analysis import analyze
from rnncalc.core.convention import Convention
from rnncalc.core.report import Analysis, FrameworkReport, LayerReport, Role, WeightRow
from rnncalc.core.spec import Activation, Cell, MergeMode, Nonlinearity, Spec, describe_spec
from rnncalc.core.symbolic import Count, Dim, Shape, format_shape

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
        *_extra_sections(analysis),
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


#: The gate letters in the equations above (the canonical names).
_GATES: dict[Cell, tuple[str, ...]] = {
    Cell.RNN: (),
    Cell.LSTM: ("i", "f", "g", "o"),
    Cell.GRU: ("r", "z", "n"),
}


def _conventions(analysis: Analysis) -> list[Convention]:
    """The conventions of the analysis's reports, in their order."""
    return [frameworks.get(report.framework) for report in analysis.frameworks]


def _transposed(report: FrameworkReport) -> bool:
    return frameworks.get(report.framework).kernels_transposed


def _reference(analysis: Analysis) -> tuple[FrameworkReport, bool] | None:
    """The report whose layer-0 weights illustrate the equation, and whether it is transposed.

    The first report that can build the spec and stores matrices as ``(out, in)``, the
    orientation of ``W x``; a transposed one only when none of those can.
    """
    supported = [report for report in analysis.frameworks if report.supported]
    upright = [report for report in supported if not _transposed(report)]
    if upright:
        return upright[0], False
    return (supported[0], True) if supported else None


def _forward(layer: LayerReport) -> list[WeightRow]:
    return [w for w in layer.weights if w.direction == "forward"]


def _math_shape(row: WeightRow, transposed: bool) -> Shape:
    return tuple(reversed(row.shape)) if transposed and len(row.shape) == 2 else row.shape


def _input_features(report: FrameworkReport, layer: LayerReport) -> Dim:
    """The input size a layer's input weights were shaped for (read from the report)."""
    row = next(w for w in layer.weights if w.role is Role.INPUT_KERNEL)
    return row.shape[0] if _transposed(report) else row.shape[1]


def _stacking_prose(spec: Spec, report: FrameworkReport) -> list[Block]:
    """How the stacked matrices hold one block per gate (sizes from the spec, no counts)."""
    gates = _GATES[spec.cell]
    if not gates:
        return []
    in_features = _input_features(report, report.layers[0])
    state = spec.proj_size or spec.hidden_size

    def names(prefix: str) -> str:
        return ", ".join(f"`{prefix}{g}`" for g in gates)

    convention = frameworks.get(report.framework)
    if any(convention.tensor_gate(spec, row) for row in _forward(report.layers[0])):
        return [
            Prose(
                f"{convention.short_title} keeps each gate's block as a tensor of its own: "
                f"{names('W_x')}, each `{format_shape((spec.hidden_size, in_features))}`; "
                f"{names('W_h')}, each `{format_shape((spec.hidden_size, state))}`"
                + (f"; and one bias per gate ({names('b_')})." if spec.bias else ".")
            )
        ]
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
    conventions = _conventions(analysis)
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
        flipped = [c.short_title for c in conventions if c.kernels_transposed]
        where = (
            f" ({' and '.join(flipped)} store{'s' if len(flipped) == 1 else ''} these matrices transposed)"
        )
        blocks.append(
            Prose(
                "Shapes are one direction of layer 0, as `(rows, columns)` of the product `W x`"
                + (where if flipped else "")
                + f"; the counts are {frameworks.get(report.framework).title}'s. "
                + _notation(spec)
            )
        )
        blocks.extend(_stacking_prose(spec, report))
    blocks.extend(_gate_order_prose(spec, conventions))
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
    cell applied over time; each framework names its cell (topic ``"step"``)."""
    spec = analysis.spec
    if not spec.step:
        return []
    states = "`h_{t-1}` and `c_{t-1}`" if spec.cell is Cell.LSTM else "`h_{t-1}`"
    new = "`(h_t, c_t)`" if spec.cell is Cell.LSTM else "`h_t`"
    loop = "h, c = cell(x[t], (h, c))" if spec.cell is Cell.LSTM else "h = cell(x[t], h)"
    blocks: list[Block] = [
        Prose(
            "`--step` describes the cell alone: one call computes the equations above once, for one "
            f"time step, from the states it is given ({states}; zeros when omitted) to {new}. Its "
            "input has no time axis: `(N, I)`."
        ),
        Prose(
            f"The notebooks' hand loop, `for t in range(T): {loop}`, is exactly this cell applied "
            "over time: the recurrent layer runs the same loop with the same weights, so the counts "
            "are the same; only the names differ."
        ),
    ]
    blocks += [Prose(p) for c in _conventions(analysis) for p in c.explain_extra("step", spec)]
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
    named = _named(spec, report, rows)
    for row, symbol, gate in named:
        if row.role is not Role.BIAS:
            meaning = _KERNELS[row.role][1] + (f" of gate {gate}" if gate else "")
            legend.append((symbol, format_shape(_math_shape(row, transposed)), str(row.params), meaning))
    legend.extend(_bias_legend(spec, [entry for entry in named if entry[0].role is Role.BIAS]))
    return tuple(legend)


def _bias_legend(spec: Spec, biases: list[tuple[WeightRow, str, str | None]]) -> list[tuple[str, ...]]:
    """Where the equation keeps the input-side and recurrent-side biases apart, every bias
    tensor; otherwise the equation's one bias (per gate, where the tensors are per gate), shown
    by the first tensor that holds it (the others only add to it)."""
    if not _two_biases_in_equation(spec):
        first: dict[str | None, WeightRow] = {}
        for row, _, gate in biases:
            first.setdefault(gate, row)
        return [
            (
                f"b_{gate}" if gate else "b",
                format_shape(row.shape),
                str(row.params),
                "bias" + (f" of gate {gate}" if gate else ""),
            )
            for gate, row in first.items()
        ]
    meanings = {"b_x": "input-side bias", "b_h": "recurrent-side bias", "b_x; b_h": "both biases, one tensor"}
    return [
        (
            symbol.replace(";", ","),
            format_shape(row.shape),
            str(row.params),
            meanings.get(symbol.removesuffix(gate or ""), "bias"),
        )
        for row, symbol, gate in biases
    ]


def _gate_order_prose(spec: Spec, conventions: list[Convention]) -> list[Block]:
    """Each framework's gate order (with its own gate names), then what each says of its variant."""
    if spec.cell is Cell.RNN:
        return []
    orders = []
    for index, convention in enumerate(conventions):
        order = ", ".join(convention.gate_order[spec.cell])
        aliases = convention.gate_aliases.get(spec.cell, {})
        where = "".join(f", where its `{theirs}` is the `{ours}` above" for theirs, ours in aliases.items())
        verb = " stacks them" if index == 0 else ""
        orders.append(f"{convention.short_title}{verb} in the order {order}{where}")
    text = "Each big matrix stacks one block per gate. " + "; ".join(orders) + "."
    if len(conventions) > 1:
        flipped = {c.kernels_transposed for c in conventions}
        text += " Copying weights from one framework to the other means reordering the blocks" + (
            " and transposing." if len(flipped) > 1 else "."
        )
    out: list[Block] = [Prose(text)]
    out.extend(
        Prose(p) for p in dict.fromkeys(p for c in conventions for p in c.explain_extra("equations", spec))
    )
    return out


# --- Directions and stacking --------------------------------------------------------------------


def _directions_section(analysis: Analysis) -> list[Section]:
    spec = analysis.spec
    if not spec.bidirectional:
        return []
    merge = {
        MergeMode.CONCAT: "concatenates the two outputs at every step",
        MergeMode.SUM: "adds the two outputs element by element",
        MergeMode.MUL: "multiplies the two outputs element by element",
        MergeMode.AVE: "averages the two outputs element by element",
        MergeMode.NONE: "returns the two outputs separately",
    }[spec.merge_mode]
    spelled = [clause for c in _conventions(analysis) for clause in c.explain_extra("merge", spec)]
    if spelled:
        merge += f" ({'; '.join(spelled)})"
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
                f"{title}: layer 1's input has {size} features ({_why_features(spec)}), "
                f"so its input weights `{w1.name}` are `{format_shape(w1.shape)}` = {w1.params} "
                f"where layer 0's `{w0.name}` are `{format_shape(w0.shape)}` = {w0.params}."
            )
        )
    blocks.extend(Prose(p) for c in _conventions(analysis) for p in c.explain_extra("stacking", spec))
    return [Section("Stacked layers", tuple(blocks))]


def _why_features(spec: Spec) -> str:
    """Words for the size one layer hands to the next: directions × hidden (or projection).

    Only frameworks that can merge the directions otherwise build a spec whose merge mode is
    not concat, so the spec's merge mode says which words apply.
    """
    size = "proj_size" if spec.proj_size else "hidden_size"
    if not spec.bidirectional:
        return f"the {size}"
    if spec.merge_mode is not MergeMode.CONCAT:
        return f"merge_mode='{spec.merge_mode.value}' combines the 2 directions into one {size}"
    return f"2 directions × {size}, concatenated"


# --- One section per framework ---------------------------------------------------------------------


#: The symbol and meaning of each kind of weight matrix in the equations.
_KERNELS: dict[Role, tuple[str, str]] = {
    Role.INPUT_KERNEL: ("W_x", "input weights"),
    Role.RECURRENT_KERNEL: ("W_h", "recurrent weights"),
    Role.PROJECTION: ("W_hr", "projection of the output"),
}


def _named(
    spec: Spec, report: FrameworkReport, rows: list[WeightRow]
) -> list[tuple[WeightRow, str, str | None]]:
    """Each of one direction's tensors with the equation symbol it holds (as ``W x`` reads it,
    untransposed) and the gate it holds alone, if any (the convention's
    :meth:`~rnncalc.core.convention.Convention.tensor_gate`): ``W_xi`` and ``b_i`` for a gate's
    own tensors. Biases are grouped by the gate they serve (every gate when stacked): one tensor
    in a group is the equation's ``b``, or both biases as its two rows (``b_x; b_h``); two are
    the input-side then the recurrent-side bias; more are numbered."""
    convention = frameworks.get(report.framework)
    gates = [convention.tensor_gate(spec, row) for row in rows]
    in_group = Counter(gate for row, gate in zip(rows, gates, strict=True) if row.role is Role.BIAS)
    seen: Counter[str | None] = Counter()
    named = []
    for row, gate in zip(rows, gates, strict=True):
        suffix = gate or ""
        if row.role is not Role.BIAS:
            named.append((row, _KERNELS[row.role][0] + suffix, gate))
            continue
        index, count = seen[gate], in_group[gate]
        seen[gate] += 1
        if count == 1:
            symbol = f"b_x{suffix}; b_h{suffix}" if len(row.shape) == 2 else f"b_{gate}" if gate else "b"
        elif count == 2:
            symbol = ("b_x", "b_h")[index] + suffix
        else:
            symbol = f"b_{index + 1}{suffix}"
        named.append((row, symbol, gate))
    return named


def _symbols(spec: Spec, report: FrameworkReport, rows: list[WeightRow]) -> list[str]:
    """The symbol of each tensor in a framework's table: :func:`_named`'s, with ``^T`` on the
    matrices a framework stores transposed."""
    transposed = _transposed(report)
    return [
        symbol + ("^T" if transposed and row.role in (Role.INPUT_KERNEL, Role.RECURRENT_KERNEL) else "")
        for row, symbol, _ in _named(spec, report, rows)
    ]


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
            for weight, symbol in zip(weights, _symbols(spec, report, weights), strict=True):
                rows.append((label, weight.name, symbol, format_shape(weight.shape), str(weight.params)))
                label = ""
        addition = " + ".join(str(w.params) for w in _forward(layer))
        # A framework's own layer name is code; a descriptive one ("layer 0") is not.
        name = layer.name if " " in layer.name else f"`{layer.name}`"
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
    """Why the first two chosen frameworks' totals differ (the analysis's difference)."""
    if len(analysis.frameworks) < 2:
        return Section("", ())
    first, second = analysis.frameworks[0], analysis.frameworks[1]
    one, other = frameworks.get(first.framework), frameworks.get(second.framework)
    title = f"{one.short_title} vs {other.short_title}"
    difference = analysis.difference
    blocks: list[Block] = []
    if difference is None:
        for report, alternative in ((first, second), (second, first)):
            if not report.supported and alternative.supported:
                blocks.append(
                    Prose(
                        f"Only {frameworks.get(alternative.framework).title} can build this model "
                        f"({alternative.total} parameters): {report.reason}."
                    )
                )
        if not blocks:
            blocks.append(Prose("Neither framework can build this model; see the reasons above."))
        return Section(title, tuple(blocks))
    delta = difference.delta
    reason = difference.reason[:1].upper() + difference.reason[1:]
    totals = f"{one.short_title} {first.total}, {other.short_title} {second.total}"
    if delta == Count():
        verdict = f"{totals}. {reason}."
    else:
        more, amount = (one, delta) if _positive(delta) else (other, Count() - delta)
        verdict = f"{totals}: {more.short_title} has {amount} more. {reason}."
    blocks.append(Prose(verdict))
    spec = analysis.spec
    bias_delta = first.role_total(Role.BIAS) - second.role_total(Role.BIAS)
    if bias_delta != Count():
        more, fewer = (one, other) if _positive(bias_delta) else (other, one)
        extra = bias_delta if _positive(bias_delta) else Count() - bias_delta
        count = spec.num_layers * spec.num_directions
        places = f"{spec.num_layers} layer{'s' if spec.num_layers > 1 else ''} × {spec.num_directions}"
        places += f" direction{'s' if spec.num_directions > 1 else ''}"
        for why in more.explain_extra("difference", spec):
            blocks.append(
                Prose(
                    f"Why: {why}. The sum acts exactly like {fewer.short_title}'s single `b`, so the "
                    f"extra vector adds {extra} parameters ({count} extra bias vector"
                    f"{'s' if count > 1 else ''}: {places}) but no expressive power."
                )
            )
    elif spec.cell is Cell.GRU and spec.reset_after and spec.bias:
        layouts = "".join(f"; {why}" for c in (one, other) for why in c.explain_extra("difference", spec))
        blocks.append(
            Prose(
                "Why: both keep `b_x` and `b_h` because `b_hn` sits inside `r_t * (W_hn h_{t-1} + b_hn)` "
                f"and cannot be folded into `b_xn`{layouts}."
            )
        )
    elif not spec.bias:
        blocks.append(Prose("Without bias both frameworks keep exactly `W_x` and `W_h` per direction."))
    return Section(title, tuple(blocks))


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
        words.extend(clause for c in _conventions(analysis) for clause in c.explain_extra("outputs", spec))
        if words:
            blocks.append(Prose("; ".join(words) + "."))
    return Section("What comes out", tuple(blocks))


# --- Sections a framework adds (e.g. older spellings of its layers) -------------------------------


def _extra_sections(analysis: Analysis) -> list[Section]:
    return [
        Section(title, tuple(Prose(p) for p in paragraphs))
        for convention in _conventions(analysis)
        for title, paragraphs in convention.explain_sections(analysis.spec)
    ]
