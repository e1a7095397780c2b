"""Flax NNX's analytic report against the real flax: hand-checked counts, then every weight
path and shape, every output shape and the total for hundreds of random configurations."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rnncalc.core.errors import SpecError
from rnncalc.core.model import Model, build_model
from rnncalc.core.spec import Cell, MergeMode, Nonlinearity, Spec, spec_from_mapping
from rnncalc.frameworks.flax import CONVENTION

pytest.importorskip("flax")

import jax
from flax import nnx


def spec(**fields: Any) -> Spec:
    return spec_from_mapping(fields)


def assert_report_matches(measured_spec: Spec, device: str = "cpu") -> None:
    """The report for the probed spec equals what the real model holds and returns."""
    measured = CONVENTION.measure(measured_spec, device=device)
    report = CONVENTION.report(measured.probe)
    assert report.total.value == measured.total_params
    assert {w.path: w.shape for w in report.weights} == dict(measured.weights)
    assert len(report.weights) == len(measured.weights)
    assert dict(report.outputs) == dict(measured.outputs)
    assert [name for name, _ in report.outputs] == [name for name, _ in measured.outputs]
    totals = CONVENTION.totals(measured.probe)
    assert (totals.total, totals.outputs, totals.model) == (report.total, report.outputs, report.model)


# --- (a) counts written out by hand ------------------------------------------------------------

I, H = 5, 3  # noqa: E741  (the input size, as the formulas write it)

HAND_COUNTS = [
    # SimpleCell: dense_i kernel I*H + bias H, dense_h kernel H*H.
    (spec(cell="rnn", input_size=I, hidden_size=H), I * H + H + H * H),
    # LSTMCell: four (I, H) input kernels, four (H, H) hidden kernels with an H bias each.
    (spec(cell="lstm", input_size=I, hidden_size=H), 4 * (I * H + H * H) + 4 * H),
    # GRUCell: dense_i (I, 3H) + bias 3H, dense_h (H, 3H) without bias.
    (spec(cell="gru", input_size=I, hidden_size=H), 3 * (I * H + H * H) + 3 * H),
    # Two bidirectional GRU layers, concatenated: layer 1 reads 2H features.
    (
        spec(cell="gru", input_size=4, hidden_size=2, num_layers=2, bidirectional=True),
        2 * (3 * (4 * 2 + 2 * 2) + 3 * 2) + 2 * (3 * (4 * 2 + 2 * 2) + 3 * 2),
    ),
    # Two bidirectional LSTM layers summed: layer 1 reads H features.
    (
        spec(cell="lstm", input_size=4, hidden_size=3, num_layers=2, bidirectional=True, merge_mode="sum"),
        2 * (4 * (4 * 3 + 3 * 3) + 4 * 3) + 2 * (4 * (3 * 3 + 3 * 3) + 4 * 3),
    ),
]


@pytest.mark.parametrize(("config", "count"), HAND_COUNTS, ids=lambda v: getattr(v, "cell", v))
def test_hand_counted_totals_equal_the_report_and_the_real_model(config: Spec, count: int) -> None:
    assert CONVENTION.report(config).total.value == count
    assert CONVENTION.totals(config).total.value == count
    assert CONVENTION.measure(config, device="meta").total_params == count


def test_the_optimized_lstm_cell_counts_the_same_as_the_lstm_cell() -> None:
    cell = nnx.OptimizedLSTMCell(I, H, rngs=nnx.Rngs(0))
    params = nnx.state(cell, nnx.Param)
    shapes = {".".join(map(str, p)): tuple(v.shape) for p, v in nnx.to_flat_state(params)}
    assert shapes == {"dense_i.kernel": (I, 4 * H), "dense_h.kernel": (H, 4 * H), "dense_h.bias": (4 * H,)}
    total = sum(leaf.size for leaf in jax.tree.leaves(params))
    assert total == CONVENTION.report(spec(cell="lstm", input_size=I, hidden_size=H)).total.value == 108


def test_an_unknown_input_size_leaves_the_total_a_formula_in_it() -> None:
    report = CONVENTION.report(spec(cell="gru", hidden_size=H))
    # 3H per input feature, 3*H*H + 3H from the hidden side and the bias.
    assert (report.total.per_input, report.total.constant) == (3 * H, 3 * H * H + 3 * H)
    assert CONVENTION.totals(spec(cell="gru", hidden_size=H)).total == report.total


# --- real models, one forward pass each --------------------------------------------------------

REAL = [
    spec(cell="rnn", input_size=5, hidden_size=3, nonlinearity="relu"),
    spec(cell="lstm", input_size=5, hidden_size=3, bidirectional=True),
    spec(cell="gru", input_size=4, hidden_size=2, num_layers=3),
    spec(cell="lstm", input_size=4, hidden_size=3, unbatched=True, num_layers=2),
    spec(cell="gru", input_size=4, hidden_size=3, bidirectional=True, merge_mode="ave", batch_size=5),
]


@pytest.mark.parametrize("config", REAL, ids=lambda s: s.cell.value)
def test_the_real_model_on_zeros_holds_and_returns_what_the_report_says(config: Spec) -> None:
    assert_report_matches(config, device="cpu")


def test_the_carry_of_an_lstm_stack_is_named_by_layer_direction_and_c_then_h() -> None:
    report = CONVENTION.report(
        spec(cell="lstm", input_size=2, hidden_size=3, num_layers=2, bidirectional=True)
    )
    names = [name for name, _ in report.outputs]
    assert names[0] == "outputs"
    assert names[1:5] == ["carry[0][0][0]", "carry[0][0][1]", "carry[0][1][0]", "carry[0][1][1]"]
    assert dict(report.outputs)["outputs"] == (None, None, 6)


# --- (b) the property: every configuration Flax can express ------------------------------------


@st.composite
def flax_specs(draw: Any) -> Spec:
    cell = draw(st.sampled_from(list(Cell)))
    bidirectional = draw(st.booleans())
    fields: dict[str, Any] = {
        "cell": cell.value,
        "input_size": draw(st.integers(1, 4)),
        "hidden_size": draw(st.integers(1, 4)),
        "num_layers": draw(st.integers(1, 2)),
        "bidirectional": bidirectional,
        "seq_len": draw(st.none() | st.integers(1, 3)),
        "batch_first": draw(st.booleans()),  # PyTorch's flag: must change nothing in Flax
        "return_sequences": draw(st.booleans()),  # Keras's flags: likewise
        "return_state": draw(st.booleans()),
    }
    if draw(st.booleans()):
        fields["unbatched"] = True
    else:
        fields["batch_size"] = draw(st.none() | st.integers(1, 3))
    if cell is Cell.RNN:
        fields["nonlinearity"] = draw(st.sampled_from(list(Nonlinearity))).value
    if bidirectional:
        modes = [MergeMode.CONCAT, MergeMode.SUM, MergeMode.MUL, MergeMode.AVE]
        fields["merge_mode"] = draw(st.sampled_from(modes)).value
    try:
        return spec_from_mapping(fields)
    except SpecError:
        assume(False)
        raise


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(config=flax_specs())
def test_the_report_equals_the_traced_flax_model_for_random_specs(config: Spec) -> None:
    """``measure(device="meta")`` runs flax's own construction and forward code under
    ``jax.eval_shape``: the same shapes as a real run (checked above), nothing compiled."""
    assert CONVENTION.unsupported(config) is None
    assert_report_matches(config, device="meta")


# --- heterogeneous models: nnx.Embed, recurrent layers, nnx.Linear heads -----------------------


def test_a_hand_counted_heterogeneous_model_equals_its_report_and_the_real_model() -> None:
    model = build_model(
        [
            {"cell": "lstm", "hidden_size": 4, "num_layers": 2, "bidirectional": True},
            {"cell": "gru", "hidden_size": 3},
        ],
        {"vocab_size": 10, "dim": 5},
        [{"units": 7}, {"units": 2, "bias": False}],
        batch_size=2,
        seq_len=3,
    )
    embed = 10 * 5
    lstm = 2 * (4 * (5 * 4 + 4 * 4) + 4 * 4) + 2 * (4 * (8 * 4 + 4 * 4) + 4 * 4)  # layer 1 reads 2H = 8
    gru = 3 * (8 * 3 + 3 * 3) + 3 * 3
    heads = (3 * 7 + 7) + 7 * 2
    report = CONVENTION.model_report(model)
    assert report.total.value == embed + lstm + gru + heads == 936
    assert_model_matches(model)
    assert report.outputs == (("output", (2, 3, 2)),)


def assert_model_matches(model: Model) -> None:
    measured = CONVENTION.measure_model(model)
    report = CONVENTION.model_report(model)
    assert report.total.value == measured.total_params
    assert {w.path: w.shape for w in report.weights} == dict(measured.weights)
    assert len(report.weights) == len(measured.weights)
    assert report.outputs == measured.outputs


@pytest.mark.parametrize(
    ("layers", "embedding", "dense"),
    [
        ([{"cell": "rnn", "hidden_size": 3, "input_size": 4}], None, [{"units": 2}]),
        (
            [{"cell": "gru", "hidden_size": 2, "bidirectional": True, "merge_mode": "sum"}],
            {"vocab_size": 6, "dim": 3},
            [],
        ),
    ],
    ids=["rnn_linear", "embed_bigru_sum"],
)
def test_heterogeneous_models_equal_the_real_flax_model(
    layers: list[dict[str, Any]], embedding: dict[str, Any] | None, dense: list[dict[str, Any]]
) -> None:
    assert_model_matches(build_model(layers, embedding, dense, batch_size=2, seq_len=3))
