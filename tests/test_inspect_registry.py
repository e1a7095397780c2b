"""``rnncalc inspect`` asks the registry: each convention declares the weight formats it reads
and finds its own layers; a file is read by its suffix, else by its first bytes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from rnncalc import frameworks
from rnncalc.io.tensors import FileContents, WeightFileError

torch = pytest.importorskip("torch")
keras = pytest.importorskip("rnncalc.frameworks.keras").keras


def test_every_suffix_and_format_name_is_claimed_by_exactly_one_convention() -> None:
    claimed = [(c.name, f) for c in frameworks.CONVENTIONS for f in c.weight_formats()]
    names = [f.name for _, f in claimed]
    suffixes = [s for _, f in claimed for s in f.suffixes]
    assert len(names) == len(set(names)) and len(suffixes) == len(set(suffixes))
    assert all(s.startswith(".") and s == s.lower() for s in suffixes)
    # PyTorch's state dicts, safetensors (one file or sharded) and archives carrying code,
    # Keras's three files, Flax's msgpack states and Orbax checkpoints, ONNX models.
    assert sorted((name, fmt.name) for name, fmt in claimed) == [
        ("flax", "flax msgpack"),
        ("flax", "orbax"),
        ("keras", "keras"),
        ("keras", "keras h5"),
        ("keras", "keras json"),
        ("onnx", "onnx"),
        ("torch", "pytorch state dict"),
        ("torch", "safetensors"),
        ("torch", "sharded safetensors"),
        ("torch", "torch.export"),
        ("torch", "torchscript"),
    ]


def test_a_convention_that_reads_no_file_declares_no_format_and_refuses_to_find_layers() -> None:
    from rnncalc.frameworks.flax import FlaxConvention

    no_files = type("NoFiles", (FlaxConvention,), {"files_module": None})()
    assert no_files.weight_formats() == ()
    contents = FileContents(tensors=(), format="keras")
    assert not no_files.reads(contents)
    with pytest.raises(WeightFileError) as error:
        no_files.find_layers("model.msgpack", contents)
    assert str(error.value) == "model.msgpack: Flax NNX reads no weight file"


def _state_dict(path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.ModuleDict({"rnn": torch.nn.GRU(3, 4, num_layers=2), "head": torch.nn.Linear(4, 2)})
    torch.save(model.state_dict(), path)


def _safetensors(path: Path) -> None:
    # An nn.LSTM(3, 2) written by hand (huggingface/safetensors README, "Format").
    tensors = {
        "lstm.weight_ih_l0": (8, 3),
        "lstm.weight_hh_l0": (8, 2),
        "lstm.bias_ih_l0": (8,),
        "lstm.bias_hh_l0": (8,),
    }
    header, offset = {}, 0
    for name, shape in tensors.items():
        size = 4 * (shape[0] * (shape[1] if len(shape) > 1 else 1))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + bytes(offset))


def _keras_model() -> Any:
    inputs = keras.Input((None, 3))
    hidden = keras.layers.LSTM(4, name="encoder")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden))


def _keras_archive(path: Path) -> None:
    _keras_model().save(path)


def _keras_h5(path: Path) -> None:
    _keras_model().save(path)


def _keras_json(path: Path) -> None:
    path.write_text(_keras_model().to_json())


@pytest.mark.parametrize(
    ("suffix", "make", "format_name"),
    [
        (".pt", _state_dict, "pytorch state dict"),
        (".safetensors", _safetensors, "safetensors"),
        (".keras", _keras_archive, "keras"),
        (".h5", _keras_h5, "keras h5"),
        (".json", _keras_json, "keras json"),
    ],
)
def test_a_file_without_a_suffix_is_read_as_the_format_its_first_bytes_say(
    tmp_path: Path,
    run_cli: Callable[..., Result],
    suffix: str,
    make: Callable[[Path], None],
    format_name: str,
) -> None:
    named = tmp_path / f"model{suffix}"
    make(named)
    bare = tmp_path / "model"
    shutil.copy(named, bare)
    documents = []
    for path in (named, bare):
        result = run_cli("inspect", str(path), "-f", "json")
        assert result.exit_code == 0, result.stderr
        documents.append(json.loads(result.stdout))
    assert documents[0]["format"] == documents[1]["format"] == format_name
    assert documents[0]["recurrent"], "each file holds one recurrent layer"
    for document in documents:  # each model's source names the file too
        document["models"] = [
            {**model, "source": {**model["source"], "file": ""}} for model in document["models"]
        ]
    assert {**documents[0], "file": ""} == {**documents[1], "file": ""}


def test_an_unrecognised_file_is_refused_naming_every_suffix_the_registry_reads(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    path = tmp_path / "model.xyz"
    path.write_bytes(b"\xff" * 16)
    result = run_cli("inspect", str(path))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        f"rnncalc: error: {path}: neither its name nor its first bytes say a format rnncalc reads "
        "(.bin, .ckpt, .h5, .hdf5, .json, .keras, .msgpack, .onnx, .pt, .pt2, .pth, .safetensors, "
        ".safetensors.index.json)\n"
    )


def test_a_zip_that_is_no_archive_either_convention_reads_is_refused_by_the_state_dict_reader(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    import zipfile

    path = tmp_path / "model"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    result = run_cli("inspect", str(path))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"rnncalc: error: {path}: not a readable PyTorch file: ")
