"""Sharded safetensors as Hugging Face writes them (``model.safetensors.index.json`` with its
``weight_map``, ``model-0000i-of-0000n.safetensors`` shards), split by hand as
huggingface_hub's ``split_torch_state_dict_into_shards`` does and written by
``safetensors.torch.save_file``: inspect and convert take the index or its directory, and an
index naming anything but its own shards, exactly, is one line naming the key.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from rnncalc.convert import convert  # noqa: E402

ATOL = 1e-5
INDEX = "model.safetensors.index.json"


def shard(model: Any, directory: Path, shards: int = 2) -> dict[str, Any]:
    """The model's state dict in ``shards`` files and an index, as huggingface_hub names them;
    returns the index document."""
    directory.mkdir(exist_ok=True)
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    names = list(state)
    weight_map = {}
    for number in range(shards):
        file = f"model-{number + 1:05d}-of-{shards:05d}.safetensors"
        part = names[number::shards]
        safetensors_torch.save_file({name: state[name] for name in part}, str(directory / file))
        weight_map.update(dict.fromkeys(part, file))
    total = sum(tensor.numel() * tensor.element_size() for tensor in state.values())
    document = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (directory / INDEX).write_text(json.dumps(document))
    return document


def lstm() -> Any:
    torch.manual_seed(0)
    return torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)


def test_inspect_reads_the_index_or_its_directory_as_the_unsharded_file(
    tmp_path: Path, run_json: Callable[..., Any]
) -> None:
    model = lstm()
    shard(model, tmp_path / "sharded")
    safetensors_torch.save_file(
        {k: v.detach().contiguous() for k, v in model.state_dict().items()},
        str(tmp_path / "whole.safetensors"),
    )
    whole = run_json("inspect", str(tmp_path / "whole.safetensors"))
    for source in (tmp_path / "sharded", tmp_path / "sharded" / INDEX):
        document = run_json("inspect", str(source))
        assert document["format"] == "sharded safetensors"
        assert document["total_params"] == sum(t.numel() for t in model.state_dict().values())
        assert document["recurrent"] == whole["recurrent"]
        assert sorted(document["tensors"], key=lambda t: t["name"]) == sorted(
            whole["tensors"], key=lambda t: t["name"]
        )


def test_an_index_is_known_by_its_content_and_its_suffix_in_any_case(
    tmp_path: Path, run_json: Callable[..., Any]
) -> None:
    shard(lstm(), tmp_path)
    shutil.copy(tmp_path / INDEX, tmp_path / "MODEL.SAFETENSORS.INDEX.JSON")
    shutil.copy(tmp_path / INDEX, tmp_path / "weights.json")
    shutil.copy(tmp_path / INDEX, tmp_path / "index")
    for name in ("MODEL.SAFETENSORS.INDEX.JSON", "weights.json", "index"):
        assert run_json("inspect", str(tmp_path / name))["format"] == "sharded safetensors", name


@pytest.mark.parametrize("target", [".keras", ".onnx", ".pt"])
def test_convert_from_a_sharded_directory_runs_as_the_torch_module_does(target: str, tmp_path: Path) -> None:
    model = torch.nn.GRU(3, 5, num_layers=2, batch_first=True)
    shard(model, tmp_path / "sharded", shards=3)
    destination = tmp_path / f"converted{target}"
    convert(str(tmp_path / "sharded"), str(destination))
    x = np.random.default_rng(7).standard_normal((2, 5, 3)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x))[0].numpy()
    if target == ".keras":
        keras = pytest.importorskip("keras")
        got = np.asarray(keras.models.load_model(destination)(x))
    elif target == ".onnx":
        onnxruntime = pytest.importorskip("onnxruntime")
        session = onnxruntime.InferenceSession(str(destination), providers=["CPUExecutionProvider"])
        (y, *_) = session.run(None, {session.get_inputs()[0].name: x.transpose(1, 0, 2)})
        got = y.transpose(2, 0, 1, 3).reshape(2, 5, -1)
    else:
        fresh = torch.nn.GRU(3, 5, num_layers=2, batch_first=True)
        fresh.load_state_dict(torch.load(destination, weights_only=True), strict=True)
        with torch.no_grad():
            got = fresh(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)


# --- Hostile indexes -----------------------------------------------------------------------------


def one_line(result: Result) -> str:
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    return result.stderr


def _outside(directory: Path, document: dict[str, Any]) -> None:
    """The first tensor's shard named ``../x.safetensors``, a valid shard holding it there."""
    name, file = next(iter(document["weight_map"].items()))
    shutil.copy(directory / file, directory.parent / "x.safetensors")
    document["weight_map"][name] = "../x.safetensors"


def _absolute(directory: Path, document: dict[str, Any]) -> None:
    name, file = next(iter(document["weight_map"].items()))
    document["weight_map"][name] = str(directory / file)


def _symlink_out(directory: Path, document: dict[str, Any]) -> None:
    name, file = next(iter(document["weight_map"].items()))
    shutil.copy(directory / file, directory.parent / "elsewhere.safetensors")
    os.symlink(directory.parent / "elsewhere.safetensors", directory / "link.safetensors")
    document["weight_map"][name] = "link.safetensors"


def _missing_shard(directory: Path, document: dict[str, Any]) -> None:
    (directory / "model-00002-of-00002.safetensors").unlink()


def _in_two_shards(directory: Path, document: dict[str, Any]) -> None:
    """Shard 1 also holds a tensor the index puts in shard 2."""
    second = next(name for name, file in document["weight_map"].items() if file.startswith("model-00002"))
    first = [name for name, file in document["weight_map"].items() if file.startswith("model-00001")]
    state = safetensors_torch.load_file(str(directory / "model-00002-of-00002.safetensors"))
    kept = safetensors_torch.load_file(str(directory / "model-00001-of-00002.safetensors"))
    assert set(kept) == set(first)
    safetensors_torch.save_file(
        {**kept, second: state[second]}, str(directory / "model-00001-of-00002.safetensors")
    )


def _missing_from_its_shard(directory: Path, document: dict[str, Any]) -> None:
    document["weight_map"]["encoder.weight_ih_l9"] = "model-00001-of-00002.safetensors"


def _named_twice(directory: Path, document: dict[str, Any]) -> None:
    """The same key twice in weight_map, each naming another shard (JSON allows it)."""
    text = json.dumps(document)
    name, file = next(iter(document["weight_map"].items()))
    other = "model-00002-of-00002.safetensors" if "00001" in file else "model-00001-of-00002.safetensors"
    (directory / INDEX).write_text(
        text.replace('"weight_map": {', f'"weight_map": {{"{name}": "{other}", ', 1)
    )


HOSTILE: dict[str, tuple[Callable[[Path, dict[str, Any]], None], str]] = {
    "outside": (_outside, "weight_map['weight_ih_l0']: shard '../x.safetensors' is not a file name"),
    "absolute": (_absolute, "weight_map['weight_ih_l0']: shard '/"),
    "symlink": (_symlink_out, "weight_map['weight_ih_l0']: shard 'link.safetensors' leads outside"),
    "missing shard": (_missing_shard, "shard 'model-00002-of-00002.safetensors': no such file"),
    "in two shards": (_in_two_shards, "shard 'model-00001-of-00002.safetensors' holds it, but the index"),
    "missing from its shard": (
        _missing_from_its_shard,
        "weight_map['encoder.weight_ih_l9']: not in shard 'model-00001-of-00002.safetensors'",
    ),
    "named twice": (_named_twice, "weight_map['weight_ih_l0']: named twice"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_index_is_one_line_naming_the_key_and_nothing_is_written(
    case: str, tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    directory = tmp_path / "sharded"
    model = torch.nn.LSTM(3, 4)
    document = shard(model, directory)
    change, message = HOSTILE[case]
    change(directory, document)
    if case != "named twice":
        (directory / INDEX).write_text(json.dumps(document))
    before = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}
    destination = tmp_path / "out.keras"
    for command in (("inspect", str(directory)), ("convert", str(directory / INDEX), "-o", str(destination))):
        stderr = one_line(run_cli(*command))
        assert f"{directory / INDEX}: " in stderr and message in stderr, stderr
    assert not destination.exists()
    assert {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()} == before


def test_an_index_over_the_size_limit_is_refused_before_it_is_parsed(
    tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rnncalc.io import safetensors_index

    shard(lstm(), tmp_path)
    monkeypatch.setattr(safetensors_index, "MAX_INDEX_BYTES", 100)
    assert "too large for a safetensors index" in one_line(run_cli("inspect", str(tmp_path / INDEX)))


def test_a_total_size_that_disagrees_with_the_shards_is_said_and_one_that_is_no_size_refused(
    tmp_path: Path, run_cli: Callable[..., Result], run_json: Callable[..., Any]
) -> None:
    document = shard(lstm(), tmp_path)
    document["metadata"]["total_size"] = 10**15
    (tmp_path / INDEX).write_text(json.dumps(document))
    assert any(
        "metadata.total_size says 1000000000000000 bytes" in n
        for n in run_json("inspect", str(tmp_path))["notes"]
    )
    document["metadata"]["total_size"] = -1
    (tmp_path / INDEX).write_text(json.dumps(document))
    assert "metadata.total_size: -1 is not a number of bytes" in one_line(run_cli("inspect", str(tmp_path)))
