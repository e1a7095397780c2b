"""``rnncalc inspect`` on files PyTorch writes: state dicts, checkpoints, safetensors, ONNX exports.

Every expected value comes from the real module (``numel`` of its parameters, the constructor
arguments) or from the ``onnx`` package, never from rnncalc.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

torch = pytest.importorskip("torch")
nn = torch.nn


class Tagger(nn.Module):  # type: ignore[misc,name-defined]
    """Embedding → 2-layer bidirectional projected LSTM → GRU without bias → relu RNN → Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(40, 6)
        self.encoder = nn.LSTM(6, 8, num_layers=2, bidirectional=True, proj_size=3, batch_first=True)
        self.decoder = nn.GRU(6, 5, bias=False, batch_first=True)
        self.refine = nn.RNN(5, 4, nonlinearity="relu", batch_first=True)
        self.head = nn.Linear(4, 2)

    def forward(self, x: Any) -> Any:
        y, _ = self.encoder(self.embed(x))
        y, _ = self.decoder(y)
        y, _ = self.refine(y)
        return self.head(y)


#: What each recurrent module was built with (the constructor arguments above).
BUILT = {
    "encoder": {"cell": "lstm", "input_size": 6, "hidden_size": 8, "num_layers": 2, "bidirectional": True}
    | {"bias": True, "proj_size": 3},
    "decoder": {"cell": "gru", "input_size": 6, "hidden_size": 5, "num_layers": 1, "bidirectional": False}
    | {"bias": False, "proj_size": 0},
    "refine": {"cell": "rnn", "input_size": 5, "hidden_size": 4, "num_layers": 1, "bidirectional": False}
    | {"bias": True, "proj_size": 0},
}


@pytest.fixture(scope="module")
def tagger() -> Any:
    torch.manual_seed(0)
    return Tagger()


def _inspect(run_cli: Callable[..., Result], *paths: Path) -> Any:
    result = run_cli("inspect", *map(str, paths), "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _numel(module: Any) -> int:
    return sum(value.numel() for value in module.state_dict().values())


def _assert_tagger(document: Any, tagger: Any) -> None:
    assert document["total_params"] == _numel(tagger)
    found = {layer["prefix"]: layer for layer in document["recurrent"]}
    assert set(found) == set(BUILT)
    for prefix, built in BUILT.items():
        assert {key: found[prefix]["spec"][key] for key in built} == built
        assert found[prefix]["params"] == _numel(getattr(tagger, prefix))
        assert found[prefix]["conventions"]["torch"]["total_params"] == _numel(getattr(tagger, prefix))
    others = _numel(tagger.embed) + _numel(tagger.head)
    assert document["other_params"] == others
    assert {t["name"] for t in document["tensors"] if t["recurrent"] is None} == {
        "embed.weight",
        "head.weight",
        "head.bias",
    }


def test_a_state_dict_yields_every_recurrent_module_with_the_arguments_it_was_built_with(
    tmp_path: Path, tagger: Any, run_cli: Callable[..., Result]
) -> None:
    path = tmp_path / "tagger.pt"
    torch.save(tagger.state_dict(), path)
    document = _inspect(run_cli, path)
    assert document["format"] == "pytorch state dict"
    _assert_tagger(document, tagger)


def test_a_legacy_non_zip_state_dict_is_read_too(
    tmp_path: Path, tagger: Any, run_cli: Callable[..., Result]
) -> None:
    path = tmp_path / "tagger.pth"
    torch.save(tagger.state_dict(), path, _use_new_zipfile_serialization=False)
    _assert_tagger(_inspect(run_cli, path), tagger)


def test_a_checkpoint_dict_is_read_through_its_state_dict_and_says_so(
    tmp_path: Path, tagger: Any, run_cli: Callable[..., Result]
) -> None:
    path = tmp_path / "checkpoint.bin"
    torch.save({"model_state_dict": tagger.state_dict(), "epoch": 3}, path)
    document = _inspect(run_cli, path)
    _assert_tagger(document, tagger)
    assert any("'model_state_dict'" in note and "'epoch'" in note for note in document["notes"])


def test_a_safetensors_file_gives_the_same_answer_as_the_state_dict(
    tmp_path: Path, tagger: Any, run_cli: Callable[..., Result]
) -> None:
    save_file = pytest.importorskip("safetensors.torch").save_file
    path = tmp_path / "tagger.safetensors"
    save_file(tagger.state_dict(), str(path), metadata={"format": "pt"})
    document = _inspect(run_cli, path)
    assert document["format"] == "safetensors"
    _assert_tagger(document, tagger)
    dtypes = {t["name"]: t["dtype"] for t in document["tensors"]}
    assert dtypes["head.weight"] == "F32"


def test_reading_a_safetensors_file_imports_no_framework_nor_numpy(tmp_path: Path, tagger: Any) -> None:
    save_file = pytest.importorskip("safetensors.torch").save_file
    path = tmp_path / "tagger.safetensors"
    save_file(tagger.state_dict(), str(path))
    code = (
        "import sys\nfrom rnncalc.cli import cli\n"
        f"cli.main(['inspect', {str(path)!r}, '-f', 'json'], standalone_mode=False)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'torch', 'numpy', 'safetensors', 'keras', 'tensorflow', 'h5py', 'onnx'}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.rstrip().endswith("[]")


def test_a_2_gb_safetensors_file_is_answered_from_its_header(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    # A sparse file: the header declares 2 GiB of float32 and the data is never read.
    rows = 2**29 // 1024
    header = json.dumps({"big.weight": {"dtype": "F32", "shape": [rows, 1024], "data_offsets": [0, 2**31]}})
    path = tmp_path / "big.safetensors"
    with open(path, "wb") as handle:
        handle.write(len(header).to_bytes(8, "little") + header.encode())
        handle.truncate(8 + len(header) + 2**31)
    document = _inspect(run_cli, path)
    assert document["total_params"] == 2**29


def test_an_onnx_export_yields_one_layer_per_node_with_the_initializers_counted(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    onnx = pytest.importorskip("onnx")
    torch.manual_seed(0)
    # ONNX's LSTM has no projection: the exported stack is the tagger's without proj_size.
    model = Tagger()
    model.encoder = nn.LSTM(6, 8, num_layers=2, bidirectional=True, batch_first=True)
    model.decoder = nn.GRU(16, 5, bias=False, batch_first=True)
    path = tmp_path / "tagger.onnx"
    torch.onnx.export(model, (torch.zeros(2, 3, dtype=torch.long),), str(path), dynamo=False)
    document = _inspect(run_cli, path)
    graph = onnx.load(str(path)).graph
    assert document["format"] == "onnx"
    assert document["total_params"] == sum(math.prod(init.dims) for init in graph.initializer)
    assert document["total_params"] == _numel(model)
    nodes = [node for node in graph.node if node.op_type in ("LSTM", "GRU", "RNN")]
    layers = document["recurrent"]
    assert [layer["prefix"] for layer in layers] == [node.name for node in nodes]
    assert [layer["spec"]["cell"] for layer in layers] == ["lstm", "lstm", "gru", "rnn"]
    encoder = model.encoder.state_dict()
    for k, layer in enumerate(layers[:2]):
        per_layer = sum(value.numel() for name, value in encoder.items() if f"_l{k}" in name)
        assert layer["params"] == per_layer
        assert layer["spec"]["input_size"] == (6 if k == 0 else 16)
        assert layer["spec"]["hidden_size"] == 8 and layer["spec"]["bidirectional"] is True
    decoder, refine = layers[2], layers[3]
    assert decoder["params"] == _numel(model.decoder)
    assert decoder["spec"]["bias"] is False
    assert decoder["spec"]["reset_after"] is True  # PyTorch exports linear_before_reset=1
    assert refine["spec"]["nonlinearity"] == "relu"
    assert refine["params"] == _numel(model.refine)


def test_the_table_shows_the_chain_in_every_convention_and_leaves_no_other_tensor(
    tmp_path: Path, tagger: Any, run_cli: Callable[..., Result]
) -> None:
    path = tmp_path / "tagger.pt"
    torch.save(tagger.state_dict(), path)
    result = run_cli("inspect", str(path))
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert f"{path}: PyTorch state dict, {_numel(tagger):,} parameters in" in text
    assert "as PyTorch" in text and "as Keras 3" in text
    # Keras has no LSTM projection: the table says why instead of a number.
    assert "encoder: not expressible in Keras 3:" in text
    # The embedding and the head are parts of the chain now, not "other tensors".
    assert "\nembed    embedding 40×6" in text and "\nhead     dense 4 → 2" in text
    assert "Other tensors" not in text
    markdown = run_cli("inspect", str(path), "-f", "markdown").stdout
    assert markdown.startswith(f"## {path}:") and "| encoder" in markdown


def test_a_pickled_whole_module_is_refused_in_one_line_naming_the_file(
    tmp_path: Path, tagger: Any, run_cli: Callable[..., Result]
) -> None:
    path = tmp_path / "whole.pt"
    torch.save(tagger, path)
    result = run_cli("inspect", str(path))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"rnncalc: error: {path}: holds pickled Python objects")
    assert "state_dict()" in result.stderr


def _corrupt(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("suffix", [".pt", ".safetensors", ".onnx", ".keras", ".h5", ".json", ".weird"])
def test_a_truncated_or_garbage_file_is_one_line_exit_2_naming_the_file(
    tmp_path: Path, tagger: Any, suffix: str, run_cli: Callable[..., Result]
) -> None:
    good = tmp_path / "good.pt"
    torch.save(tagger.state_dict(), good)
    truncated = _corrupt(tmp_path / f"truncated{suffix}", good.read_bytes()[:300])
    garbage = _corrupt(tmp_path / f"garbage{suffix}", b"\x00\x01not a model at all\xff" * 7)
    for path in (truncated, garbage):
        result = run_cli("inspect", str(path))
        assert result.exit_code == 2, (path, result.stdout, result.exception)
        assert result.stdout == ""
        assert result.stderr.startswith(f"rnncalc: error: {path}: ")
        assert result.stderr.count("\n") == 1, result.stderr
        assert "pickled" not in result.stderr  # garbage is not mistaken for a pickled module


def test_a_truncated_safetensors_file_says_where_its_data_ends(
    tmp_path: Path, tagger: Any, run_cli: Callable[..., Result]
) -> None:
    save_file = pytest.importorskip("safetensors.torch").save_file
    path = tmp_path / "tagger.safetensors"
    save_file(tagger.state_dict(), str(path))
    path.write_bytes(path.read_bytes()[:-100])
    result = run_cli("inspect", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"rnncalc: error: {path}: truncated: tensor ")


def test_a_missing_file_is_named(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    result = run_cli("inspect", str(tmp_path / "absent.pt"))
    assert result.exit_code == 2
    assert result.stderr == f"rnncalc: error: {tmp_path / 'absent.pt'}: no such file\n"


def test_several_files_give_a_json_list_in_their_order(
    tmp_path: Path, tagger: Any, run_cli: Callable[..., Result]
) -> None:
    save_file = pytest.importorskip("safetensors.torch").save_file
    first, second = tmp_path / "a.pt", tmp_path / "b.safetensors"
    torch.save(tagger.decoder.state_dict(), first)
    save_file(tagger.refine.state_dict(), str(second))
    documents = _inspect(run_cli, first, second)
    assert [d["file"] for d in documents] == [str(first), str(second)]
    assert [d["total_params"] for d in documents] == [_numel(tagger.decoder), _numel(tagger.refine)]
    assert [d["recurrent"][0]["prefix"] for d in documents] == ["", ""]


def test_an_onnx_gru_without_linear_before_reset_is_keras_reset_after_false(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    onnx = pytest.importorskip("onnx")
    np = pytest.importorskip("numpy")
    keras = pytest.importorskip("rnncalc.frameworks.keras").keras
    helper, hidden, features = onnx.helper, 5, 3
    weights = {
        "W": np.zeros((1, 3 * hidden, features), "float32"),
        "R": np.zeros((1, 3 * hidden, hidden), "float32"),
        "B": np.zeros((1, 6 * hidden), "float32"),
    }
    node = helper.make_node(
        "GRU", ["X", "W", "R", "B"], ["Y"], name="gru", hidden_size=hidden, direction="reverse"
    )  # linear_before_reset left at its default, 0
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [7, 2, features])],
        [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    path = tmp_path / "gru.onnx"
    onnx.save(helper.make_model(graph), str(path))
    (layer,) = _inspect(run_cli, path)["recurrent"]
    assert layer["spec"]["reset_after"] is False and layer["spec"]["bidirectional"] is False
    assert layer["params"] == sum(value.size for value in weights.values())
    assert any("reverse" in note for note in layer["notes"])
    real = keras.layers.GRU(hidden, reset_after=False)
    real.build((None, None, features))
    assert layer["conventions"]["keras"]["total_params"] == real.count_params()
    assert layer["conventions"]["torch"]["supported"] is False


def test_an_onnx_initializer_with_a_negative_dimension_is_refused(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    onnx = pytest.importorskip("onnx")
    bad = onnx.TensorProto(name="w", dims=[-2, 3], data_type=onnx.TensorProto.FLOAT)
    graph = onnx.helper.make_graph([], "g", [], [], [bad])
    path = tmp_path / "bad.onnx"
    onnx.save(onnx.helper.make_model(graph), str(path))
    result = run_cli("inspect", str(path))
    assert result.exit_code == 2
    assert result.stderr == f"rnncalc: error: {path}: initializer 'w' has a negative dimension (-2, 3)\n"


def test_an_onnx_model_with_external_data_is_read_without_its_data_file(
    tmp_path: Path, tagger: Any, run_cli: Callable[..., Result]
) -> None:
    onnx = pytest.importorskip("onnx")
    exported = tmp_path / "exported.onnx"
    torch.onnx.export(tagger.decoder, (torch.zeros(3, 2, 6),), str(exported), dynamo=False)
    model = onnx.load(str(exported))
    path = tmp_path / "external.onnx"
    onnx.save(model, str(path), save_as_external_data=True, location="weights.bin", size_threshold=0)
    (tmp_path / "weights.bin").unlink()  # dims live in the graph; the bytes are not needed
    document = _inspect(run_cli, path)
    assert document["total_params"] == _numel(tagger.decoder)
    assert document["recurrent"][0]["params"] == _numel(tagger.decoder)


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_the_human_formats_are_unchanged(
    tmp_path: Path,
    tagger: Any,
    fmt: str,
    run_cli: Callable[..., Result],
    golden: Callable[[str, str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    torch.save(tagger.state_dict(), "tagger.pt")
    result = run_cli("inspect", "tagger.pt", "-f", fmt)
    assert result.exit_code == 0, result.stderr
    golden(f"inspect/tagger.{'md' if fmt == 'markdown' else 'txt'}", result.stdout)


def test_rnn_cells_are_found_as_one_step_of_a_one_layer_stack(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    cells = nn.ModuleDict(
        {"lstm": nn.LSTMCell(3, 4), "gru": nn.GRUCell(4, 2, bias=False), "rnn": nn.RNNCell(2, 5)}
    )
    path = tmp_path / "cells.pt"
    torch.save(cells.state_dict(), path)
    document = _inspect(run_cli, path)
    assert document["total_params"] == _numel(cells) and document["other_params"] == 0
    found = {layer["prefix"]: layer for layer in document["recurrent"]}
    for name, cell in cells.items():
        assert found[name]["params"] == _numel(cell)
        assert found[name]["spec"]["cell"] == name
        assert (found[name]["spec"]["input_size"], found[name]["spec"]["hidden_size"]) == (
            cell.input_size,
            cell.hidden_size,
        )
        assert found[name]["spec"]["bias"] is cell.bias
        assert any(f"nn.{name.upper()}Cell" in note for note in found[name]["notes"])


def test_a_hostile_layer_index_is_noted_without_describing_every_layer(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    state = nn.LSTM(3, 4).state_dict()
    state["weight_ih_l99999999"] = state["weight_ih_l0"].clone()
    path = tmp_path / "hostile.pt"
    torch.save(state, path)
    document = _inspect(run_cli, path)
    assert document["recurrent"] == []
    assert document["total_params"] == sum(value.numel() for value in state.values())
    (note,) = document["notes"]
    assert note.endswith("not counted as a layer: 2 weight_ih tensors for 100000000 layers")
