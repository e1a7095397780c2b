"""Heterogeneous models (embedding → different recurrent blocks → dense heads) against the
real PyTorch and Keras: parameter totals, weight names and shapes in order, output shapes."""

from __future__ import annotations

from typing import Any

import pytest

from rnncalc.analysis import analyze_model
from rnncalc.core.model import Model, build_model
from rnncalc.frameworks import measure_model

pytest.importorskip("torch")
pytest.importorskip("keras")

#: (id, layers, embedding, dense, shape fields) — small sizes, every block kind and head mix.
GRID: list[tuple[str, list[dict[str, Any]], dict[str, Any] | None, list[dict[str, Any]], dict[str, Any]]] = [
    (
        "embedding_bilstm_gru_dense",
        [{"cell": "lstm", "hidden_size": 6, "bidirectional": True}, {"cell": "gru", "hidden_size": 4}],
        {"vocab_size": 11, "dim": 5},
        [{"units": 3}],
        {},
    ),
    (
        "features_rnn_relu_lstm_two_heads",
        [
            {"cell": "rnn", "hidden_size": 5, "input_size": 4, "nonlinearity": "relu"},
            {"cell": "lstm", "hidden_size": 3, "num_layers": 2},
        ],
        None,
        [{"units": 7, "bias": False}, {"units": 2}],
        {"return_sequences": True},
    ),
    (
        "bigru_stack_then_birnn_no_bias",
        [
            {"cell": "gru", "hidden_size": 4, "input_size": 3, "bidirectional": True, "num_layers": 2},
            {"cell": "rnn", "hidden_size": 2, "bidirectional": True, "bias": False},
        ],
        None,
        [],
        {"batch_first": True},
    ),
    (
        "embedding_lstm_bigru_per_step_head",
        [{"cell": "lstm", "hidden_size": 4}, {"cell": "gru", "hidden_size": 3, "bidirectional": True}],
        {"vocab_size": 9, "dim": 3},
        [{"units": 9}],
        {"return_sequences": True, "batch_first": True},
    ),
    (
        "single_block_with_head",
        [{"cell": "gru", "hidden_size": 5, "input_size": 2}],
        None,
        [{"units": 1}],
        {},
    ),
]


def _model(layers: Any, embedding: Any, dense: Any, shape: Any) -> Model:
    return build_model(layers, embedding, dense, batch_size=2, seq_len=3, **shape)


@pytest.mark.parametrize(
    ("layers", "embedding", "dense", "shape"), [g[1:] for g in GRID], ids=[g[0] for g in GRID]
)
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_heterogeneous_model_matches_real_framework(
    framework: str, layers: Any, embedding: Any, dense: Any, shape: Any
) -> None:
    model = _model(layers, embedding, dense, shape)
    report = analyze_model(model).framework(framework)
    measured = measure_model(model, framework)
    assert report.total.value == measured.total_params
    assert [(w.path, w.shape) for w in report.weights] == list(measured.weights)
    assert list(report.outputs) == list(measured.outputs)


def test_pytorch_projection_block_feeds_its_projection_to_the_next_module() -> None:
    model = build_model(
        [
            {"cell": "lstm", "hidden_size": 6, "proj_size": 2, "input_size": 3},
            {"cell": "gru", "hidden_size": 4},
        ],
        dense=[{"units": 5}],
        batch_size=2,
        seq_len=3,
    )
    analysis = analyze_model(model)
    measured = measure_model(model, "torch")
    torch_report = analysis.framework("torch")
    assert torch_report.total.value == measured.total_params
    assert [(w.path, w.shape) for w in torch_report.weights] == list(measured.weights)
    assert not analysis.framework("keras").supported


def test_model_totals_equal_an_independent_closed_form() -> None:
    # Keras LSTM: 4*(in*H + H*H + H); GRU reset_after: 3*(in*H + H*H + 2H); Dense: in*u + u.
    model = build_model(
        [{"cell": "lstm", "hidden_size": 256, "bidirectional": True}, {"cell": "gru", "hidden_size": 128}],
        {"vocab_size": 20000, "dim": 128},
        [{"units": 10}],
    )
    lstm = 2 * 4 * (128 * 256 + 256 * 256 + 256)
    gru = 3 * (512 * 128 + 128 * 128 + 2 * 128)
    expected_keras = 20000 * 128 + lstm + gru + 128 * 10 + 10
    analysis = analyze_model(model)
    assert analysis.framework("keras").total.value == expected_keras
    # PyTorch keeps a second bias vector in every LSTM direction and the GRU (already 2 in Keras).
    assert analysis.framework("torch").total.value == expected_keras + 2 * 4 * 256


def test_unknown_input_size_makes_the_model_total_a_formula_in_i() -> None:
    model = build_model(
        [{"cell": "lstm", "hidden_size": 4}, {"cell": "gru", "hidden_size": 3}], dense=[{"units": 2}]
    )
    torch_total = analyze_model(model).framework("torch").total
    # LSTM: 16*I + 16*4 + 2*16; GRU on 4: 9*4 + 9*3 + 2*9; Linear: 3*2 + 2.
    assert (torch_total.per_input, torch_total.constant) == (16, 96 + 81 + 8)
