"""Reading ``model.to_json()`` of real Keras models back, compared with ``count_params()``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnncalc.analysis import analyze_model
from rnncalc.io.config import ConfigError, ModelEntry, read_source

keras = pytest.importorskip("rnncalc.frameworks.keras").keras


def _read(tmp_path: Path, model: object) -> ModelEntry:
    path = tmp_path / "model.json"
    path.write_text(model.to_json())  # type: ignore[attr-defined]
    (entry,) = read_source(str(path))
    assert isinstance(entry, ModelEntry)
    return entry


def test_sequential_embedding_bilstm_gru_dense_json_counts_like_keras(tmp_path: Path) -> None:
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=(7,), dtype="int32"),
            layers.Embedding(50, 8),
            layers.Bidirectional(layers.LSTM(6, return_sequences=True)),
            layers.GRU(4, reset_after=False, use_bias=False),
            layers.Dense(3, activation="softmax"),
        ]
    )
    entry = _read(tmp_path, model)
    report = analyze_model(entry.model).framework("keras")
    assert report.total.value == model.count_params()
    assert [w.shape for w in report.weights] == [tuple(w.shape) for w in model.weights]
    assert dict(report.outputs)["output"] == tuple(model.compute_output_shape((None, 7)))


def test_functional_simple_rnn_stack_json_counts_like_keras(tmp_path: Path) -> None:
    inputs = keras.Input(shape=(5, 3))
    x = keras.layers.SimpleRNN(4, activation="relu", return_sequences=True)(inputs)
    x = keras.layers.Bidirectional(keras.layers.GRU(2, return_sequences=True), merge_mode="sum")(x)
    outputs = keras.layers.Dense(2, use_bias=False)(x)
    model = keras.Model(inputs, outputs)
    entry = _read(tmp_path, model)
    assert entry.model.layers[0].input_size == 3
    report = analyze_model(entry.model).framework("keras")
    assert report.total.value == model.count_params()
    assert dict(report.outputs)["output"] == tuple(model.output.shape)


def test_unsupported_layer_in_keras_json_is_an_error_naming_the_layer(tmp_path: Path) -> None:
    inputs = keras.Input(shape=(5, 3))
    x = keras.layers.LSTM(4, return_sequences=True)(inputs)
    x = keras.layers.Conv1D(2, 3, name="conv")(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    path = tmp_path / "model.json"
    path.write_text(json.dumps(json.loads(model.to_json()), indent=2))
    with pytest.raises(ConfigError) as info:
        read_source(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}:")
    assert "config.layers[2]: unsupported layer Conv1D 'conv'" in message


def test_a_functional_model_that_branches_is_an_error_not_a_wrong_chain(tmp_path: Path) -> None:
    inputs = keras.Input(shape=(5, 3))
    left = keras.layers.LSTM(4, name="left")(inputs)
    right = keras.layers.GRU(2, name="right")(inputs)
    model = keras.Model(inputs, [left, right])
    path = tmp_path / "model.json"
    path.write_text(model.to_json())
    with pytest.raises(ConfigError) as info:
        read_source(str(path))
    assert "config.layers[2]: GRU 'right' is not called once on the layer before it ('left')" in str(
        info.value
    )


def test_check_reads_a_keras_json_and_judges_its_budget_with_the_real_count(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from rnncalc.cli import cli

    model = keras.Sequential(
        [keras.Input(shape=(6, 4)), keras.layers.GRU(5, return_sequences=True), keras.layers.LSTM(3)]
    )
    path = tmp_path / "model.json"
    path.write_text(model.to_json())
    count = model.count_params()
    args = ["check", str(path), "--max-params", str(count)]
    result = CliRunner().invoke(cli, [*args, "--against", "keras", "-f", "json"])
    keras_result = json.loads(result.stdout)["models"][0]["frameworks"]["keras"]
    assert keras_result["params"] == count
    assert keras_result["status"] == "ok" and keras_result["crosscheck"]["status"] == "ok"
    # PyTorch keeps two bias vectors: GRU 3*5*(4+5) + 2*15 = 165, LSTM 4*3*(5+3) + 2*12 = 120.
    assert result.exit_code == 1
    lines = CliRunner().invoke(cli, [*args, "--against", "none"]).stdout
    assert f"torch: over budget: params 285 > max_params {count:,} (+{285 - count})" in lines
    assert "keras: over budget" not in lines
