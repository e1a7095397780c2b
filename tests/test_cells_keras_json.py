"""Keras JSON with ``RNN(cell)``, ``RNN(StackedRNNCells)`` and the layer options, written by
real Keras (``model.to_json()``), reads as the equivalent layers: same counts as Keras says."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from rnncalc.analysis import analyze_model
from rnncalc.core.model import FieldPathError
from rnncalc.io.keras_json import model_from_keras_json

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = pytest.importorskip("keras")
L = keras.layers


def _written(layers: list[Any], batch: int | None = None) -> tuple[dict[str, Any], int]:
    """A Functional model of ``layers`` on ``(batch, 5, 4)`` input: its JSON and Keras's count."""
    inputs = keras.Input(batch_shape=(batch, 5, 4))
    x = inputs
    for layer in layers:
        x = layer(x)
    model = keras.Model(inputs, x)
    return json.loads(model.to_json()), model.count_params()


def _keras_total(data: dict[str, Any]) -> int:
    report = analyze_model(model_from_keras_json(data), ["keras"]).frameworks[0]
    assert report.supported, report.reason
    return int(report.total.value)


def test_rnn_of_an_lstm_cell_reads_as_an_lstm_layer() -> None:
    data, count = _written([L.RNN(L.LSTMCell(3), return_sequences=True)])
    model = model_from_keras_json(data)
    (layer,) = model.layers
    assert (layer.cell.value, layer.hidden_size, layer.input_size) == ("lstm", 3, 4)
    assert model.return_sequences
    assert _keras_total(data) == count == 96


def test_stacked_rnn_cells_read_as_one_layer_per_cell() -> None:
    data, count = _written([L.RNN(L.StackedRNNCells([L.GRUCell(3), L.GRUCell(2, reset_after=False)]))])
    model = model_from_keras_json(data)
    assert [(s.cell.value, s.hidden_size, s.reset_after) for s in model.layers] == [
        ("gru", 3, True),
        ("gru", 2, False),
    ]
    assert _keras_total(data) == count


def test_bidirectional_rnn_of_a_cell_with_an_activation_reads_as_a_bidirectional_layer() -> None:
    data, count = _written([L.Bidirectional(L.RNN(L.SimpleRNNCell(3, activation="sigmoid")))])
    (layer,) = model_from_keras_json(data).layers
    assert layer.bidirectional and layer.activation is not None and layer.activation.value == "sigmoid"
    assert _keras_total(data) == count


def test_every_layer_option_is_read_from_the_json() -> None:
    lstm = L.LSTM(
        3,
        activation="relu",
        recurrent_activation="hard_sigmoid",
        unit_forget_bias=False,
        go_backwards=True,
        stateful=True,
        unroll=True,
        return_sequences=True,
    )
    data, count = _written([lstm], batch=2)
    (layer,) = model_from_keras_json(data).layers
    read = {name: getattr(layer, name) for name in ("go_backwards", "stateful", "unroll", "unit_forget_bias")}
    assert read == {"go_backwards": True, "stateful": True, "unroll": True, "unit_forget_bias": False}
    assert layer.activation is not None and layer.activation.value == "relu"
    assert layer.recurrent_activation is not None and layer.recurrent_activation.value == "hard_sigmoid"
    assert _keras_total(data) == count


def test_default_layers_read_exactly_as_before_with_no_option_marked_given() -> None:
    data, _ = _written([L.LSTM(3, return_sequences=True), L.GRU(2)])
    for layer in model_from_keras_json(data).layers:
        assert not layer.given & {"activation", "recurrent_activation", "go_backwards", "unroll"}


def test_a_cell_rnncalc_does_not_know_is_an_error_naming_the_layer() -> None:
    data, _ = _written([L.RNN(L.LSTMCell(3))])
    data["config"]["layers"][1]["config"]["cell"]["class_name"] = "ConvLSTMCell"
    with pytest.raises(FieldPathError, match=r"RNN of 'ConvLSTMCell'") as error:
        model_from_keras_json(data)
    assert error.value.path == ("config", "layers", 1)


def test_an_unknown_activation_is_an_error_naming_the_layer() -> None:
    data, _ = _written([L.GRU(3, activation="softplus")])
    with pytest.raises(FieldPathError, match="GRU activation 'softplus'"):
        model_from_keras_json(data)


def test_stacked_cells_going_backwards_are_refused_not_misread() -> None:
    data, _ = _written([L.RNN(L.StackedRNNCells([L.LSTMCell(3), L.LSTMCell(3)]), go_backwards=True)])
    with pytest.raises(FieldPathError, match="go_backwards"):
        model_from_keras_json(data)


def test_a_layer_flag_that_is_not_a_boolean_is_an_error_not_a_guess() -> None:
    data, _ = _written([L.LSTM(3)])
    data["config"]["layers"][1]["config"]["go_backwards"] = "false"
    with pytest.raises(FieldPathError, match="go_backwards must be true or false"):
        model_from_keras_json(data)
