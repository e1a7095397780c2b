"""onnxruntime's numbers for rnncalc's ONNX graph against the numpy reference, the canonical
weight conversion both ways, and the ``batch_first`` graph against a ``layout=1`` operator run by
``onnx.reference`` (onnxruntime refuses ``layout=1``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from rnncalc.core.errors import ConversionError
from rnncalc.core.spec import Cell, Nonlinearity, Spec
from rnncalc.frameworks.onnx import CONVENTION as ONNX

np = pytest.importorskip("numpy")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from rnncalc.reference import random_weights  # noqa: E402  (needs numpy)

SPECS = {
    "rnn": Spec(cell=Cell.RNN, input_size=4, hidden_size=3),
    "rnn_relu_bi_2_layers": Spec(
        cell=Cell.RNN,
        input_size=4,
        hidden_size=3,
        num_layers=2,
        bidirectional=True,
        nonlinearity=Nonlinearity.RELU,
    ),
    "rnn_no_bias": Spec(cell=Cell.RNN, input_size=2, hidden_size=5, bias=False),
    "lstm": Spec(cell=Cell.LSTM, input_size=4, hidden_size=3),
    "lstm_bi_3_layers": Spec(cell=Cell.LSTM, input_size=5, hidden_size=4, num_layers=3, bidirectional=True),
    "lstm_batch_first_no_bias": Spec(
        cell=Cell.LSTM, input_size=3, hidden_size=2, batch_first=True, bias=False
    ),
    "gru_reset_after": Spec(cell=Cell.GRU, input_size=4, hidden_size=3),
    "gru_reset_before_bi_2_layers": Spec(
        cell=Cell.GRU, input_size=4, hidden_size=3, num_layers=2, bidirectional=True, reset_after=False
    ),
    "gru_reset_before_batch_first": Spec(
        cell=Cell.GRU, input_size=3, hidden_size=4, reset_after=False, batch_first=True
    ),
}


def _sized(spec: Spec) -> Spec:
    return spec.replace(batch_size=3, seq_len=5)


def _input(spec: Spec, seed: int = 1) -> Any:
    return np.random.default_rng(seed).standard_normal(ONNX.input_shape(spec)).astype(np.float32)


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_onnxruntime_agrees_with_the_numpy_reference(spec: Spec) -> None:
    sized = _sized(spec)
    canonical = random_weights(sized, seed=3)
    initializers = ONNX.from_canonical(sized, canonical)
    x = _input(sized)
    real = ONNX.run_real(sized, initializers, x)
    expected = ONNX.reference_forward(sized, canonical, x)
    assert list(real) == list(expected)
    for name, value in real.items():
        assert value.shape == expected[name].shape, name
        np.testing.assert_allclose(value, expected[name], atol=2e-5, err_msg=name)


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_the_canonical_conversion_round_trips(spec: Spec) -> None:
    sized = _sized(spec)
    rng = np.random.default_rng(0)
    initializers = {
        w.path: rng.standard_normal(w.shape).astype(np.float32) for w in ONNX.report(sized).weights
    }
    back = ONNX.from_canonical(sized, ONNX.to_canonical(sized, initializers))
    assert list(back) == list(initializers)
    for name, value in initializers.items():
        np.testing.assert_array_equal(back[name], value, err_msg=name)


def test_gate_blocks_move_from_onnx_order_to_canonical_order() -> None:
    # LSTM: ONNX stacks i, o, f, c; canonical (PyTorch) i, f, g, o. Block k holds the value k.
    spec = Spec(cell=Cell.LSTM, input_size=1, hidden_size=1, bias=True)
    initializers = {
        "lstm_0.W": np.arange(4, dtype=np.float32).reshape(1, 4, 1),
        "lstm_0.R": np.arange(4, dtype=np.float32).reshape(1, 4, 1),
        "lstm_0.B": np.arange(8, dtype=np.float32).reshape(1, 8),
    }
    direction = ONNX.to_canonical(spec, initializers).layers[0][0]
    assert direction.w_x[:, 0].tolist() == [0, 2, 3, 1]  # i, f(2), c→g(3), o(1)
    assert direction.b_x.tolist() == [0, 2, 3, 1]  # Wb: the first 4 values of B
    assert direction.b_h.tolist() == [4, 6, 7, 5]  # Rb: the last 4


def test_gru_gates_z_r_h_become_r_z_n() -> None:
    spec = Spec(cell=Cell.GRU, input_size=1, hidden_size=1, bias=False)
    initializers = {
        "gru_0.W": np.arange(3, dtype=np.float32).reshape(1, 3, 1),
        "gru_0.R": np.zeros((1, 3, 1), dtype=np.float32),
    }
    assert ONNX.to_canonical(spec, initializers).layers[0][0].w_x[:, 0].tolist() == [1, 0, 2]


def test_nonzero_biases_have_no_place_in_a_graph_without_b() -> None:
    spec = Spec(cell=Cell.LSTM, input_size=2, hidden_size=3, bias=False)
    weights = random_weights(spec.replace(bias=True), seed=0)
    with pytest.raises(ConversionError, match="bias"):
        ONNX.from_canonical(spec, weights)


@pytest.mark.parametrize(
    "spec",
    [
        SPECS["lstm_batch_first_no_bias"],
        SPECS["gru_reset_before_batch_first"],
        SPECS["rnn"].replace(batch_first=True),
    ],
    ids=["lstm", "gru", "rnn"],
)
def test_the_batch_first_graph_returns_what_a_layout_1_operator_returns(spec: Spec) -> None:
    """One layer: rnncalc's Transposes around a ``layout=0`` operator against the same operator with
    ``layout=1``, evaluated by onnx's own reference implementation."""
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    sized = _sized(spec)
    initializers = ONNX.from_canonical(sized, random_weights(sized, seed=5))
    x = _input(sized)
    ours = ONNX.run_real(sized, initializers, x)
    op = {Cell.RNN: "RNN", Cell.LSTM: "LSTM", Cell.GRU: "GRU"}[spec.cell]
    outputs = ["Y", "Y_h"] + (["Y_c"] if spec.cell is Cell.LSTM else [])
    attributes: dict[str, Any] = {"hidden_size": spec.hidden_size, "layout": 1}
    if spec.cell is Cell.GRU:
        attributes["linear_before_reset"] = int(spec.reset_after)
    node = helper.make_node(op, ["X", *initializers], outputs, **attributes)
    graph = helper.make_graph(
        [node],
        "layout_1",
        [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in outputs],
        [numpy_helper.from_array(value, name) for name, value in initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    results = ReferenceEvaluator(model).run(None, {"X": x})
    for name, value in zip(outputs, results, strict=True):
        np.testing.assert_allclose(ours[name], value, atol=2e-5, err_msg=name)


def test_measure_refuses_what_onnx_cannot_express() -> None:
    from rnncalc.core.errors import SpecError

    with pytest.raises(SpecError, match="no projection"):
        ONNX.measure(Spec(cell=Cell.LSTM, input_size=3, hidden_size=4, proj_size=2))


def _models() -> dict[str, Any]:
    from rnncalc.core.model import Dense, Embedding, Model

    batch_first = Model(
        layers=(
            Spec(cell=Cell.LSTM, hidden_size=6, batch_first=True),
            Spec(cell=Cell.GRU, hidden_size=4, bidirectional=True, num_layers=2, batch_first=True),
        ),
        embedding=Embedding(50, 8),
        dense=(Dense(5), Dense(2, bias=False)),
        batch_first=True,
    )
    time_major = Model(
        layers=(
            Spec(cell=Cell.RNN, input_size=3, hidden_size=4, nonlinearity=Nonlinearity.RELU),
            Spec(cell=Cell.LSTM, hidden_size=2, bias=False, bidirectional=True),
            Spec(cell=Cell.GRU, hidden_size=3, reset_after=False),
        ),
        dense=(Dense(7),),
    )
    return {"embedding_batch_first": batch_first, "time_major_three_blocks": time_major}


@pytest.mark.parametrize("name", ["embedding_batch_first", "time_major_three_blocks"])
def test_a_model_runs_in_onnxruntime_with_the_reported_weights_and_output(name: str) -> None:
    model = _models()[name]
    measured = ONNX.measure_model(model)
    sized = dataclasses.replace(
        model,
        layers=tuple(s.replace(batch_size=2, seq_len=3) for s in model.layers),
        batch_size=2,
        seq_len=3,
    )
    report = ONNX.model_report(sized)
    assert measured.total_params == report.total.value
    assert list(measured.weights) == [(w.path, w.shape) for w in report.weights]
    assert list(measured.outputs) == list(report.outputs)
    # The output's features: the last head's units; batch first only with batch_first.
    expected = {"embedding_batch_first": (2, 3, 2), "time_major_three_blocks": (3, 2, 7)}[name]
    assert measured.outputs == (("output", expected),)


def test_the_canonical_gate_order_is_the_references() -> None:
    from rnncalc.frameworks.onnx import _CANONICAL_GATES
    from rnncalc.reference import CANONICAL_GATES

    assert _CANONICAL_GATES == CANONICAL_GATES


def test_run_real_reads_an_unknown_batch_and_length_from_the_input() -> None:
    spec = Spec(cell=Cell.GRU, input_size=3, hidden_size=2, num_layers=2)
    weights = random_weights(spec, seed=0)
    x = np.ones((6, 4, 3), dtype=np.float32)  # time 6, batch 4
    real = ONNX.run_real(spec, ONNX.from_canonical(spec, weights), x)
    assert {name: value.shape for name, value in real.items()} == {"Y": (6, 1, 4, 2), "Y_h": (2, 4, 2)}
    np.testing.assert_allclose(real["Y"], ONNX.reference_forward(spec, weights, x)["Y"], atol=2e-5)


#: onnx.reference's RNN knows only the Tanh and Affine activations (onnx 1.23, ``op_rnn.py``).
TANH_SPECS = {name: spec for name, spec in SPECS.items() if spec.nonlinearity is Nonlinearity.TANH}


@pytest.mark.parametrize("spec", TANH_SPECS.values(), ids=TANH_SPECS.keys())
def test_onnxs_own_reference_implementation_agrees_with_onnxruntime_on_the_whole_graph(spec: Spec) -> None:
    """A third implementation of the operators (``onnx.reference``) on rnncalc's full graph."""
    from onnx.reference import ReferenceEvaluator

    from rnncalc.frameworks.onnx import build, run, spec_graph

    sized = _sized(spec)
    model = build(spec_graph(sized), ONNX.from_canonical(sized, random_weights(sized, seed=7)))
    x = _input(sized)
    expected = run(model, {"X": x})
    results = ReferenceEvaluator(model).run(None, {"X": x})
    for (name, value), result in zip(expected.items(), results, strict=True):
        np.testing.assert_allclose(result, value, atol=2e-5, err_msg=name)


def test_weights_over_protobufs_2_gib_limit_are_refused_before_any_allocation() -> None:
    spec = Spec(cell=Cell.LSTM, input_size=8192, hidden_size=8192, num_layers=2)  # 1.07e9 weights
    with pytest.raises(ValueError, match="2 GiB"):
        ONNX.measure(spec)


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_weights_drawn_in_onnx_layout_give_the_references_numbers(spec: Spec) -> None:
    """``verify``'s way: initializers drawn as the report names and shapes them, read by
    ``to_canonical`` for the reference (so the recurrent bias of every gate is nonzero too)."""
    sized = _sized(spec)
    rng = np.random.default_rng(11)
    weights = {w.path: rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in ONNX.report(sized).weights}
    x = _input(sized, seed=12)
    real = ONNX.run_real(sized, weights, x)
    expected = ONNX.reference_forward(sized, ONNX.to_canonical(sized, weights), x)
    for name, value in real.items():
        np.testing.assert_allclose(value, expected[name], atol=2e-5, err_msg=name)
