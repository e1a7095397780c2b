"""``rnncalc inspect`` on files Keras writes: ``.keras`` archives, legacy ``.h5``, model JSON.

Every total is compared with ``model.count_params()``, every recurrent layer's count with the
layer's own ``count_params()``, and its PyTorch count with a real ``nn.LSTM``/``nn.GRU``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

keras = pytest.importorskip("rnncalc.frameworks.keras").keras
layers = keras.layers


def real_model() -> Any:
    """What real text models look like: a masked embedding, dropouts, normalisation, a
    time-distributed head between recurrent layers, and a Conv1D rnncalc has no rule for."""
    inputs = keras.Input((7,), dtype="int32")
    x = layers.Embedding(30, 8, mask_zero=True, name="embed")(inputs)
    x = layers.SpatialDropout1D(0.1)(x)
    x = layers.Bidirectional(layers.LSTM(6, return_sequences=True), name="encoder")(x)
    x = layers.Dropout(0.2)(x)
    x = layers.LayerNormalization(name="norm")(x)
    x = layers.TimeDistributed(layers.Dense(4), name="per_step")(x)
    x = layers.Conv1D(3, 2, padding="same", name="conv")(x)
    x = layers.BatchNormalization(name="batch_norm")(x)
    x = layers.GRU(5, reset_after=False, name="decoder")(x)
    x = layers.Masking()(layers.Reshape((5, 1))(x))
    x = layers.SimpleRNN(2, activation="relu", name="refine")(x)
    outputs = layers.Dense(3, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def model() -> Any:
    keras.utils.set_random_seed(0)
    return real_model()


def _inspect(run_cli: Callable[..., Result], path: Path) -> Any:
    result = run_cli("inspect", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _assert_real_model(document: Any, model: Any, from_config: bool = False) -> None:
    assert document["total_params"] == model.count_params()
    found = {layer["prefix"]: layer for layer in document["recurrent"]}
    assert list(found) == ["encoder", "decoder", "refine"]
    for name, layer in found.items():
        assert layer["params"] == model.get_layer(name).count_params()
        assert layer["conventions"]["keras"]["total_params"] == model.get_layer(name).count_params()
    encoder, decoder, refine = found["encoder"]["spec"], found["decoder"]["spec"], found["refine"]["spec"]
    assert (encoder["cell"], encoder["input_size"], encoder["hidden_size"], encoder["bidirectional"]) == (
        "lstm",
        8,
        6,
        True,
    )
    assert (decoder["cell"], decoder["input_size"], decoder["reset_after"]) == ("gru", 3, False)
    assert (refine["cell"], refine["input_size"], refine["nonlinearity"]) == ("rnn", 1, "relu")
    # PyTorch's count of the same layers, from the real nn modules.
    import torch

    torch_encoder = torch.nn.LSTM(8, 6, bidirectional=True)
    assert found["encoder"]["conventions"]["torch"]["total_params"] == sum(
        p.numel() for p in torch_encoder.parameters()
    )
    assert found["decoder"]["conventions"]["torch"]["supported"] is False  # no reset_after=False in torch
    recurrent = sum(model.get_layer(name).count_params() for name in found)
    assert document["other_params"] == model.count_params() - recurrent
    if not from_config:
        assert any("Conv1D 'conv'" in note and "from the weight file" in note for note in document["notes"])


@pytest.mark.parametrize(("name", "file_format"), [("model.keras", "keras"), ("model.h5", "keras h5")])
def test_a_keras_archive_or_legacy_h5_model_counts_exactly_like_count_params(
    tmp_path: Path, model: Any, run_cli: Callable[..., Result], name: str, file_format: str
) -> None:
    pytest.importorskip("torch")
    path = tmp_path / name
    model.save(path)
    document = _inspect(run_cli, path)
    assert document["format"] == file_format
    _assert_real_model(document, model)


def test_a_compiled_model_s_optimizer_state_is_not_counted(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    import zipfile

    h5py = pytest.importorskip("h5py")
    model = keras.Sequential([keras.Input((5, 3)), layers.LSTM(4), layers.Dense(2)])
    model.compile("adam", "mse")
    model.optimizer.build(model.trainable_variables)  # Adam's moments, as after training
    path = tmp_path / "compiled.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as member:
        assert "optimizer" in h5py.File(member, "r")  # the state is in the file...
    assert _inspect(run_cli, path)["total_params"] == model.count_params()  # ...and not counted


def test_the_model_json_is_counted_from_its_config_alone_except_the_unknown_layer(
    tmp_path: Path, model: Any, run_cli: Callable[..., Result]
) -> None:
    pytest.importorskip("torch")
    path = tmp_path / "model.json"
    path.write_text(model.to_json())
    document = _inspect(run_cli, path)
    assert document["from_config"] is True
    for layer in document["recurrent"]:  # derived tensors are named after the config's layers
        assert all(name.startswith(f"{layer['prefix']}/") for name in layer["tensors"])
    conv = model.get_layer("conv").count_params()
    assert any("Conv1D 'conv'" in note and "not counted" in note for note in document["notes"])
    # Everything but the Conv1D, whose weights need the weight file.
    assert document["total_params"] == model.count_params() - conv
    document["total_params"] += conv
    document["other_params"] += conv
    _assert_real_model(document, model, from_config=True)


def test_reading_a_keras_archive_imports_no_framework_nor_h5py_nor_numpy(tmp_path: Path, model: Any) -> None:
    path = tmp_path / "model.keras"
    model.save(path)
    heavy = {"torch", "keras", "tensorflow", "jax", "h5py", "numpy"}
    code = (
        "import sys\nfrom rnncalc.cli import cli\n"
        f"cli.main(['inspect', {str(path)!r}, '-f', 'json'], standalone_mode=False)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.rstrip().endswith("[]")


def test_an_archive_whose_config_is_not_a_model_is_one_line_naming_the_file(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    import zipfile

    path = tmp_path / "odd.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps({"class_name": "Dense", "config": {}}))
    result = run_cli("inspect", str(path))
    assert result.exit_code == 2
    assert (
        result.stderr == f"rnncalc: error: {path}: Keras config: class_name: 'Dense' is not a Keras model\n"
    )


# --- the Keras JSON reader of `summary` on real models -------------------------------------------


def _summary(run_cli: Callable[..., Result], tmp_path: Path, model: Any) -> Any:
    path = tmp_path / "model.json"
    path.write_text(model.to_json())
    result = run_cli("summary", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["frameworks"]["keras"]


def test_summary_reads_a_functional_model_with_a_masked_embedding_and_dropouts(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    inputs = keras.Input((7,), dtype="int32")
    x = layers.Embedding(30, 8, mask_zero=True)(inputs)
    x = layers.SpatialDropout1D(0.1)(x)
    x = layers.Bidirectional(layers.LSTM(6, return_sequences=True))(x)
    x = layers.Dropout(0.2)(x)
    x = layers.GRU(5, return_sequences=True)(x)
    x = layers.Activation("relu")(x)
    outputs = layers.TimeDistributed(layers.Dense(3))(x)
    model = keras.Model(inputs, outputs)
    assert "NotEqual" in model.to_json()  # the mask's operation node is in the file
    report = _summary(run_cli, tmp_path, model)
    assert report["total_params"] == model.count_params()
    assert report["outputs"]["output"] == list(model.output.shape)


def test_summary_reads_a_sequential_model_with_masking_and_dropout(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    model = keras.Sequential(
        [
            keras.Input((9, 4)),
            layers.Masking(),
            layers.LSTM(6, return_sequences=True, dropout=0.1),
            layers.Dropout(0.3),
            layers.GRU(2),
            layers.Dense(1),
        ]
    )
    assert _summary(run_cli, tmp_path, model)["total_params"] == model.count_params()


def test_summary_still_names_a_weighted_layer_it_cannot_place(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    inputs = keras.Input((5, 3))
    x = layers.LSTM(4, return_sequences=True)(inputs)
    x = layers.LayerNormalization(name="norm")(x)
    path = tmp_path / "model.json"
    path.write_text(keras.Model(inputs, layers.Dense(2)(x)).to_json())
    result = run_cli("summary", str(path))
    assert result.exit_code == 2
    assert "config.layers[2]: unsupported layer LayerNormalization 'norm'" in result.stderr


def test_layers_of_one_class_are_told_apart_in_a_keras_archive(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    # The archive keys them lstm, lstm_1, ... by class, not by the names given here.
    model = keras.Sequential(
        [
            keras.Input((5, 3)),
            layers.LSTM(7, return_sequences=True, name="first"),
            layers.LSTM(2, return_sequences=True, name="second"),
            layers.LSTM(4, name="third"),
            layers.Dense(6, name="hidden"),
            layers.Dense(1, name="out"),
        ]
    )
    path = tmp_path / "stack.keras"
    model.save(path)
    document = _inspect(run_cli, path)
    assert document["total_params"] == model.count_params()
    found = {layer["prefix"]: layer for layer in document["recurrent"]}
    assert {name: found[name]["params"] for name in found} == {
        name: model.get_layer(name).count_params() for name in ("first", "second", "third")
    }
    assert [found[name]["spec"]["input_size"] for name in found] == [3, 7, 2]
    layer_of = {t["name"]: t["layer"] for t in document["tensors"]}
    assert layer_of["layers/dense/vars/0"] == "hidden (Dense)"
    assert layer_of["layers/dense_1/vars/0"] == "out (Dense)"
    assert layer_of["layers/lstm_2/cell/vars/0"] == "third (LSTM)"


def test_a_keras_archive_recompressed_with_deflate_reads_the_same(
    tmp_path: Path, model: Any, run_cli: Callable[..., Result]
) -> None:
    import zipfile

    stored, deflated = tmp_path / "stored.keras", tmp_path / "deflated.keras"
    model.save(stored)
    with zipfile.ZipFile(stored) as source, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    assert _inspect(run_cli, deflated)["total_params"] == model.count_params()
    assert _inspect(run_cli, deflated)["tensors"] == _inspect(run_cli, stored)["tensors"]


#: Constructor arguments and an input shape (batch left out) for each pass-through layer.
PASS_THROUGH_CASES: dict[str, tuple[dict[str, Any], tuple[int, ...]]] = {
    "Dropout": ({"rate": 0.1}, (5, 3)),
    "SpatialDropout1D": ({"rate": 0.1}, (5, 3)),
    "SpatialDropout2D": ({"rate": 0.1}, (5, 6, 3)),
    "SpatialDropout3D": ({"rate": 0.1}, (4, 5, 6, 3)),
    "AlphaDropout": ({"rate": 0.1}, (5, 3)),
    "GaussianDropout": ({"rate": 0.1}, (5, 3)),
    "GaussianNoise": ({"stddev": 0.1}, (5, 3)),
    "ActivityRegularization": ({}, (5, 3)),
    "Masking": ({}, (5, 3)),
    "Activation": ({"activation": "relu"}, (5, 3)),
    "ReLU": ({}, (5, 3)),
    "LeakyReLU": ({}, (5, 3)),
    "ELU": ({}, (5, 3)),
    "Softmax": ({}, (5, 3)),
    "Identity": ({}, (5, 3)),
}


def test_every_pass_through_layer_has_a_case_here() -> None:
    from rnncalc.io.keras_json import PASS_THROUGH

    assert set(PASS_THROUGH) == set(PASS_THROUGH_CASES)


@pytest.mark.parametrize("name", sorted(PASS_THROUGH_CASES))
def test_a_pass_through_layer_has_no_weights_and_keeps_the_shape_in_keras(name: str) -> None:
    arguments, shape = PASS_THROUGH_CASES[name]
    layer = getattr(layers, name)(**arguments)
    layer.build((None, *shape))
    assert layer.weights == []
    assert tuple(layer.compute_output_shape((None, *shape))) == (None, *shape)


def test_summary_reads_a_functional_model_masked_by_a_masking_layer(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    inputs = keras.Input((9, 4))
    x = layers.Masking()(inputs)
    x = layers.LSTM(6)(x)
    model = keras.Model(inputs, layers.Dense(2)(x))
    assert '"Any"' in model.to_json()  # Masking's mask is an operation node beside the chain
    assert _summary(run_cli, tmp_path, model)["total_params"] == model.count_params()


def test_a_hostile_model_json_with_negative_sizes_is_noted_not_counted(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    inputs = keras.Input((5, 3))
    x = layers.LSTM(4)(inputs)
    document = json.loads(keras.Model(inputs, layers.Dense(2, name="head")(x)).to_json())
    document["config"]["layers"][-1]["config"]["units"] = -2
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(document))
    result = _inspect(run_cli, path)
    assert result["total_params"] == model_params(keras.layers.LSTM(4), (None, 5, 3))
    assert any("Dense 'head'" in note for note in result["notes"])


def model_params(layer: Any, shape: tuple[int | None, ...]) -> int:
    layer.build(shape)
    return int(layer.count_params())


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".json"])
def test_a_model_nested_in_a_model_is_looked_into(
    tmp_path: Path, suffix: str, run_cli: Callable[..., Result]
) -> None:
    encoder = keras.Sequential(
        [keras.Input((5, 3)), layers.LSTM(4, return_sequences=True, name="enc"), layers.Dropout(0.1)],
        name="encoder",
    )
    inputs = keras.Input((5, 3))
    x = layers.GRU(2, name="dec")(encoder(inputs))
    model = keras.Model(inputs, layers.Dense(1)(x))
    path = tmp_path / f"nested{suffix}"
    if suffix == ".json":
        path.write_text(model.to_json())
    else:
        model.save(path)
    document = _inspect(run_cli, path)
    assert document["total_params"] == model.count_params()
    found = {layer["prefix"]: layer["params"] for layer in document["recurrent"]}
    assert found == {
        "encoder/enc": encoder.get_layer("enc").count_params(),
        "dec": model.get_layer("dec").count_params(),
    }
    assert document["notes"] == []


def test_an_archive_without_weights_is_counted_from_its_config_and_says_so(
    tmp_path: Path, model: Any, run_cli: Callable[..., Result]
) -> None:
    import zipfile

    full, config_only = tmp_path / "full.keras", tmp_path / "config_only.keras"
    model.save(full)
    with zipfile.ZipFile(full) as source, zipfile.ZipFile(config_only, "w") as target:
        target.writestr("config.json", source.read("config.json"))
    document = _inspect(run_cli, config_only)
    assert document["from_config"] is True
    for layer in document["recurrent"]:  # derived tensors are named after the config's layers
        assert all(name.startswith(f"{layer['prefix']}/") for name in layer["tensors"])
    conv = model.get_layer("conv").count_params()
    assert document["total_params"] == model.count_params() - conv
    assert any("no model.weights.h5" in note for note in document["notes"])


def test_an_archive_with_garbage_weights_is_one_line_naming_the_file(
    tmp_path: Path, model: Any, run_cli: Callable[..., Result]
) -> None:
    import zipfile

    full, broken = tmp_path / "full.keras", tmp_path / "broken.keras"
    model.save(full)
    with zipfile.ZipFile(full) as source, zipfile.ZipFile(broken, "w") as target:
        target.writestr("config.json", source.read("config.json"))
        target.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(100))
    result = run_cli("inspect", str(broken))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"rnncalc: error: {broken}: model.weights.h5 is not readable HDF5")
    assert result.stderr.count("\n") == 1


def test_a_stored_archive_in_the_newer_hdf5_format_is_read_by_h5py_through_a_window(
    tmp_path: Path, model: Any, run_cli: Callable[..., Result]
) -> None:
    import zipfile

    h5py = pytest.importorskip("h5py")
    original, rewritten, latest = tmp_path / "original.keras", tmp_path / "latest.keras", tmp_path / "w.h5"
    model.save(original)

    def copy(name: str, item: Any) -> None:  # visititems stops at the first non-None return
        if isinstance(item, h5py.Dataset):
            new.create_dataset(name, data=item[()])

    with zipfile.ZipFile(original) as source:
        # libver="latest" writes superblock 3 and link-message groups: outside hdf5_meta's subset.
        with (
            source.open("model.weights.h5") as member,
            h5py.File(member, "r") as old,
            h5py.File(latest, "w", libver="latest") as new,
        ):
            old.visititems(copy)
        with zipfile.ZipFile(rewritten, "w", zipfile.ZIP_STORED) as target:
            target.writestr("config.json", source.read("config.json"))
            target.write(latest, "model.weights.h5")
    document = _inspect(run_cli, rewritten)
    assert document["total_params"] == model.count_params()
    assert document["tensors"] == _inspect(run_cli, original)["tensors"]
