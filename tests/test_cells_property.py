"""Property: cells (``step``) and Keras's layer options, analysed, equal the real frameworks.

Hypothesis draws step specs (any cell, sizes, bias, nonlinearity or activation, reset_after,
batch or None, PyTorch's unbatched) and, for Keras, layer specs with the new options
(activation, recurrent_activation, go_backwards, unit_forget_bias, stateful, unroll); the real
module or model is built, run once, and every row (total params, each weight's name and shape,
each returned tensor's shape) must agree. Derandomized and small: about 20 s on a quiet machine.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rnncalc import frameworks as backends
from rnncalc.analysis import analyze
from rnncalc.check.crosscheck import crosscheck
from rnncalc.core.errors import SpecError
from rnncalc.core.spec import Activation, Cell, Spec, spec_from_mapping

_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _spec(fields: dict[str, Any]) -> Spec:
    try:
        return spec_from_mapping(fields)
    except SpecError:
        assume(False)
        raise  # unreachable: assume(False) stops the example


@st.composite
def step_specs(draw: st.DrawFn, framework: str) -> Spec:
    """One step of one cell, as each framework can express it."""
    cell = draw(st.sampled_from(list(Cell)))
    fields: dict[str, Any] = {
        "cell": cell.value,
        "step": True,
        "input_size": draw(st.integers(1, 6)),
        "hidden_size": draw(st.integers(1, 7)),
        "bias": draw(st.booleans()),
        "batch_size": draw(st.none() | st.integers(1, 4)),
    }
    if cell is Cell.RNN:
        fields["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if framework == "torch":
        if draw(st.booleans()):
            fields["unbatched"], fields["batch_size"] = True, None
    else:
        fields["num_layers"] = draw(st.integers(1, 3))  # StackedRNNCells beyond one
        fields.update(draw(_keras_cell_options(cell)))
    return _spec(fields)


@st.composite
def _keras_cell_options(draw: st.DrawFn, cell: Cell) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if cell is Cell.GRU:
        options["reset_after"] = draw(st.booleans())
    if draw(st.booleans()):
        options["activation"] = draw(st.sampled_from(list(Activation))).value
        options.pop("nonlinearity", None)
    if cell is not Cell.RNN and draw(st.booleans()):
        options["recurrent_activation"] = draw(st.sampled_from(list(Activation))).value
    if cell is Cell.LSTM:
        options["unit_forget_bias"] = draw(st.booleans())
    return options


@st.composite
def keras_option_specs(draw: st.DrawFn) -> Spec:
    """Keras layers over time with the options that change shapes or equations, not counts."""
    cell = draw(st.sampled_from(list(Cell)))
    fields: dict[str, Any] = {
        "cell": cell.value,
        "input_size": draw(st.integers(1, 5)),
        "hidden_size": draw(st.integers(1, 6)),
        "num_layers": draw(st.integers(1, 2)),
        "bias": draw(st.booleans()),
        "return_sequences": draw(st.booleans()),
        "return_state": draw(st.booleans()),
        "batch_size": draw(st.integers(1, 3)),
        "seq_len": draw(st.integers(1, 4)),
        "go_backwards": draw(st.booleans()),
        "stateful": draw(st.booleans()),
        "unroll": draw(st.booleans()),
    }
    fields.update(draw(_keras_cell_options(cell)))
    return _spec(fields)


def assert_analysis_matches_real(spec: Spec, framework: str) -> None:
    measured = backends.measure(spec, framework)
    check = crosscheck(analyze(measured.probe).framework(framework), measured)
    assert check.ok, f"{spec}: " + "; ".join(row.describe() for row in check.differing)
    assert len(check.rows) == 1 + len(measured.weights) + len(measured.outputs)


@_SETTINGS
@given(spec=step_specs("torch"))
def test_a_pytorch_cell_has_the_names_shapes_count_and_outputs_the_analysis_says(spec: Spec) -> None:
    assert_analysis_matches_real(spec, "torch")


@_SETTINGS
@given(spec=step_specs("keras"))
def test_a_bare_keras_cell_has_the_paths_shapes_count_and_outputs_the_analysis_says(spec: Spec) -> None:
    assert_analysis_matches_real(spec, "keras")


@_SETTINGS
@given(spec=keras_option_specs())
def test_keras_layer_options_change_no_count_and_the_analysis_still_matches(spec: Spec) -> None:
    assert_analysis_matches_real(spec, "keras")
    plain = spec_from_mapping(
        {name: getattr(spec, name) for name in ("cell", "input_size", "hidden_size", "num_layers", "bias")}
    )
    assert analyze(spec).framework("keras").total == analyze(plain).framework("keras").total


def test_a_pytorch_cell_drops_the_layer_suffix_from_its_parameter_names() -> None:
    spec = spec_from_mapping({"cell": "lstm", "input_size": 4, "hidden_size": 3, "step": True})
    measured = backends.measure(spec, "torch")
    assert [name for name, _ in measured.weights] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert measured.total_params == 108  # 4*3*(4+3) + 2*4*3, as nn.LSTM(4, 3) holds
    assert dict(measured.outputs) == {"h_1": (2, 3), "c_1": (2, 3)}


def test_an_unbatched_pytorch_cell_returns_states_without_a_batch_axis() -> None:
    spec = spec_from_mapping(
        {"cell": "gru", "input_size": 4, "hidden_size": 3, "step": True, "unbatched": True}
    )
    assert dict(backends.measure(spec, "torch").outputs) == {"h_1": (3,)}


def test_stacked_keras_cells_are_scoped_under_stacked_rnn_cells() -> None:
    spec = spec_from_mapping(
        {"cell": "gru", "input_size": 4, "hidden_size": 3, "step": True, "num_layers": 2}
    )
    measured = backends.measure(spec, "keras")
    assert [path for path, _ in measured.weights][::3] == [
        "stacked_rnn_cells/gru_cell/kernel",
        "stacked_rnn_cells/gru_cell_1/kernel",
    ]
    assert [name for name, _ in measured.outputs] == ["output", "state_h_l0", "state_h_l1"]


def test_a_bare_keras_cell_is_named_by_its_own_name_not_a_layers() -> None:
    spec = spec_from_mapping({"cell": "rnn", "input_size": 4, "hidden_size": 3, "step": True})
    paths = [path for path, _ in backends.measure(spec, "keras").weights]
    assert paths == ["simple_rnn_cell/kernel", "simple_rnn_cell/recurrent_kernel", "simple_rnn_cell/bias"]


def test_the_fast_totals_equal_the_full_report_for_every_small_step_spec() -> None:
    import itertools

    checked = 0
    for cell, layers, unbatched, bias in itertools.product(Cell, (1, 2, 3), (False, True), (True, False)):
        spec = spec_from_mapping(
            {
                "cell": cell.value,
                "hidden_size": 3,
                "input_size": None if layers == 3 else 5,
                "num_layers": layers,
                "step": True,
                "unbatched": unbatched,
                "bias": bias,
            }
        )
        for convention in backends.CONVENTIONS:
            report, totals = convention.report(spec), convention.totals(spec)
            assert (report.reason, report.model) == (totals.reason, totals.model)
            if report.supported:
                assert (report.total, report.outputs) == (totals.total, totals.outputs)
                checked += 1
    assert checked == 3 * 2 * 2 + 3 * 3 * 2  # PyTorch: one layer only; Keras: batched only
