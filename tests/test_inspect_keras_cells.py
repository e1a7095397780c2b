"""``rnncalc inspect`` on Keras files whose recurrent layers are ``RNN(cell)``,
``RNN(StackedRNNCells)`` and ``Bidirectional(RNN(cell))``: built and saved by real Keras, every
count compared with Keras's own ``count_params()`` and PyTorch's with real ``nn`` modules."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

keras = pytest.importorskip("rnncalc.frameworks.keras").keras
layers = keras.layers


def _inspect(run_cli: Callable[..., Result], path: Path) -> Any:
    result = run_cli("inspect", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _save(model: Any, path: Path) -> None:
    if path.suffix == ".json":
        path.write_text(model.to_json())
    else:
        model.save(path)


def _weights(layer: Any) -> int:
    return sum(int(v.numpy().size) for v in layer.weights)


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".json"])
def test_an_rnn_of_an_lstm_cell_is_found_with_its_options_and_counted_like_keras(
    tmp_path: Path, suffix: str, run_cli: Callable[..., Result]
) -> None:
    cell = layers.LSTMCell(8, activation="relu", unit_forget_bias=False, name="cell")
    recurrent = layers.RNN(cell, return_sequences=True, go_backwards=True, name="encoder")
    model = keras.Sequential([keras.Input((None, 5)), recurrent, layers.Dense(2, name="head")])
    path = tmp_path / f"cell{suffix}"
    _save(model, path)
    document = _inspect(run_cli, path)

    assert document["total_params"] == model.count_params()
    [found] = document["recurrent"]
    assert found["prefix"] == "encoder"
    assert found["params"] == recurrent.count_params() == _weights(cell)
    spec = found["spec"]
    assert (spec["cell"], spec["input_size"], spec["hidden_size"]) == ("lstm", 5, 8)
    assert (spec["activation"], spec["unit_forget_bias"], spec["go_backwards"]) == ("relu", False, True)
    assert found["conventions"]["keras"]["total_params"] == recurrent.count_params()
    torch_view = found["conventions"]["torch"]
    assert torch_view["supported"] is False and "relu" in torch_view["reason"]
    expected = {
        # Measured with h5py: the archive keys layers by class, the legacy file by layer name
        # and then each variable's path.
        ".keras": {f"layers/rnn/cell/vars/{index}" for index in range(3)},
        ".h5": {f"model_weights/encoder/{variable.path}" for variable in recurrent.weights},
        # Without a weight file: Keras's variable names, under the config's layer name.
        ".json": {f"encoder/lstm_cell/{kind}" for kind in ("kernel", "recurrent_kernel", "bias")},
    }[suffix]
    assert set(found["tensors"]) == expected
    assert document["other_params"] == model.get_layer("head").count_params()


def _stacked_model() -> tuple[Any, list[Any]]:
    cells = [
        layers.LSTMCell(4, name="first"),
        layers.GRUCell(3, name="second"),
        layers.LSTMCell(2, name="third"),
        layers.SimpleRNNCell(2, activation="relu", name="fourth"),
    ]
    model = keras.Sequential(
        [keras.Input((None, 5)), layers.RNN(layers.StackedRNNCells(cells), name="stack"), layers.Dense(1)]
    )
    return model, cells


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".json"])
def test_an_rnn_of_stacked_cells_is_one_recurrent_layer_per_cell_each_counted_like_keras(
    tmp_path: Path, suffix: str, run_cli: Callable[..., Result]
) -> None:
    torch = pytest.importorskip("torch")
    model, cells = _stacked_model()
    path = tmp_path / f"stacked{suffix}"
    _save(model, path)
    document = _inspect(run_cli, path)

    assert document["total_params"] == model.count_params()
    found = document["recurrent"]
    assert [layer["prefix"] for layer in found] == [
        "stack/first",
        "stack/second",
        "stack/third",
        "stack/fourth",
    ]
    assert [layer["params"] for layer in found] == [_weights(cell) for cell in cells]
    specs = [(s["cell"], s["input_size"], s["hidden_size"]) for s in (layer["spec"] for layer in found)]
    assert specs == [("lstm", 5, 4), ("gru", 4, 3), ("lstm", 3, 2), ("rnn", 2, 2)]
    assert found[3]["spec"]["nonlinearity"] == "relu"
    torch_modules = [
        torch.nn.LSTM(5, 4),
        torch.nn.GRU(4, 3),
        torch.nn.LSTM(3, 2),
        torch.nn.RNN(2, 2, nonlinearity="relu"),
    ]
    assert [layer["conventions"]["torch"]["total_params"] for layer in found] == [
        sum(p.numel() for p in module.parameters()) for module in torch_modules
    ]
    if suffix == ".keras":  # measured with h5py: cells keyed by class, numbered per class
        keys = ["lstm_cell", "gru_cell", "lstm_cell_1", "simple_rnn_cell"]
        for layer, key in zip(found, keys, strict=True):
            assert set(layer["tensors"]) == {
                f"layers/rnn/cell/cells/{key}/vars/{index}" for index in range(3)
            }
    elif suffix == ".h5":  # each cell's variables under their own paths
        for layer, cell in zip(found, cells, strict=True):
            assert set(layer["tensors"]) == {f"model_weights/stack/{v.path}" for v in cell.weights}
    else:
        for layer, cell in zip(found, cells, strict=True):
            assert {name.rsplit("/", 1)[0] for name in layer["tensors"]} == {f"stack/{cell.name}"}


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".json"])
def test_a_bidirectional_rnn_of_a_gru_cell_counts_both_directions_like_keras_and_pytorch(
    tmp_path: Path, suffix: str, run_cli: Callable[..., Result]
) -> None:
    torch = pytest.importorskip("torch")
    inputs = keras.Input((None, 3))
    wrapper = layers.Bidirectional(layers.RNN(layers.GRUCell(2)), name="both")
    model = keras.Model(inputs, layers.Dense(1, name="head")(wrapper(inputs)))
    path = tmp_path / f"bidirectional{suffix}"
    _save(model, path)
    document = _inspect(run_cli, path)

    assert document["total_params"] == model.count_params()
    [found] = document["recurrent"]
    assert found["prefix"] == "both"
    assert found["params"] == wrapper.count_params()
    spec = found["spec"]
    assert (spec["cell"], spec["input_size"], spec["hidden_size"], spec["bidirectional"]) == (
        "gru",
        3,
        2,
        True,
    )
    gru = torch.nn.GRU(3, 2, bidirectional=True)
    assert found["conventions"]["torch"]["total_params"] == sum(p.numel() for p in gru.parameters())
    if suffix == ".keras":
        assert set(found["tensors"]) == {
            f"layers/bidirectional/{side}_layer/cell/vars/{index}"
            for side in ("forward", "backward")
            for index in range(3)
        }
    elif suffix == ".h5":
        assert set(found["tensors"]) == {f"model_weights/both/{v.path}" for v in wrapper.weights}
    assert document["other_params"] == model.get_layer("head").count_params()


def test_a_keras_archive_of_cells_reads_the_same_specs_as_its_model_json(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    model, _ = _stacked_model()
    archive, document = tmp_path / "m.keras", tmp_path / "m.json"
    _save(model, archive)
    _save(model, document)
    from_archive, from_json = _inspect(run_cli, archive), _inspect(run_cli, document)
    assert len(from_archive["recurrent"]) == len(model.get_layer("stack").cell.cells)
    assert [layer["spec"] for layer in from_archive["recurrent"]] == [
        layer["spec"] for layer in from_json["recurrent"]
    ]


def test_a_sequential_saved_as_legacy_h5_has_its_layers_found_under_the_model_s_name(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    """A Sequential's variable paths begin with the model's name (``model_weights/lstm/
    sequential/lstm/lstm_cell/kernel``), which a Functional's do not."""
    model = keras.Sequential([keras.Input((None, 5)), layers.LSTM(8, name="lstm"), layers.Dense(2)])
    path = tmp_path / "sequential.h5"
    model.save(path)
    document = _inspect(run_cli, path)
    assert document["total_params"] == model.count_params()
    [found] = document["recurrent"]
    assert found["params"] == model.get_layer("lstm").count_params()
    assert set(found["tensors"]) == {f"model_weights/lstm/{v.path}" for v in model.get_layer("lstm").weights}
    assert document["notes"] == []
