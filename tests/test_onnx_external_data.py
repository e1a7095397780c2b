"""ONNX models whose tensors live in external data files (``onnx.save(...,
save_as_external_data=True)``): read from inside the model's directory only, within the data
file's real size.

Each hostile model is the real exported model with its external data moved or its entries
edited so that, were the location followed, the bytes found would be a valid tensor: a reader
that follows them converts and exits 0, so the tests catch it. Every refusal is one line on
stderr naming the initializer and the location, exit 2, no destination written.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

#: Batch-first input of the exported module.
X = np.random.default_rng(3).standard_normal((2, 5, 3)).astype(np.float32)


def exported(directory: Path) -> tuple[Path, Any]:
    """A bidirectional two-layer LSTM exported by torch (TorchScript exporter) and saved by
    ``onnx.save`` with every initializer in ``model.onnx.data`` beside it."""
    torch.manual_seed(0)
    module = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.from_numpy(X),), buffer, dynamo=False)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.onnx"
    model = onnx.load_from_string(buffer.getvalue())
    onnx.save(model, str(path), save_as_external_data=True, location="model.onnx.data", size_threshold=0)
    return path, module


def torch_output(module: Any) -> Any:
    with torch.no_grad():
        return module(torch.from_numpy(X))[0].numpy()


def edited(path: Path, **entries: str) -> None:
    """The model at ``path`` with the external data entries of every initializer changed."""
    model = onnx.load(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        current = {entry.key: entry.value for entry in tensor.external_data}
        current.update(entries)
        del tensor.external_data[:]
        for key, value in current.items():
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
    path.write_bytes(model.SerializeToString())


def test_a_model_with_external_data_in_its_directory_inspects_and_converts(
    run_json: Callable[..., Any], tmp_path: Path
) -> None:
    from rnncalc.convert import convert

    path, module = exported(tmp_path / "model")
    stored = onnx.load(str(path), load_external_data=False).graph.initializer
    assert all(t.data_location == onnx.TensorProto.EXTERNAL and not t.raw_data for t in stored)
    assert run_json("inspect", str(path))["total_params"] == sum(p.numel() for p in module.parameters())
    destination = tmp_path / "out.pt"
    convert(str(path), str(destination))
    converted = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    converted.load_state_dict(torch.load(destination, weights_only=True), strict=True)
    np.testing.assert_allclose(torch_output(converted), torch_output(module), atol=1e-6, rtol=0)


def outside(path: Path) -> Path:
    """The model's data moved to ``secret.bin`` beside the model's directory (not in it)."""
    secret = path.parent.parent / "secret.bin"
    shutil.move(path.parent / "model.onnx.data", secret)
    return secret


def parent_location(path: Path) -> str:
    outside(path)
    return "../secret.bin"


def absolute_location(path: Path) -> str:
    return str(outside(path))


def symlink_out(path: Path) -> str:
    os.symlink(outside(path), path.parent / "link.data")
    return "link.data"


def symlink_inside(path: Path) -> str:
    """A link that stays inside the directory is refused too: rnncalc follows no link."""
    os.symlink("model.onnx.data", path.parent / "link.data")
    return "link.data"


def directory_link(path: Path) -> str:
    secret = outside(path)
    os.symlink(secret.parent, path.parent / "up")
    return f"up/{secret.name}"


def dotted(path: Path) -> str:
    outside(path)
    return "./sub/../../secret.bin"


def fifo(path: Path) -> str:
    os.mkfifo(path.parent / "pipe.data")
    return "pipe.data"


def a_directory(path: Path) -> str:
    (path.parent / "dir.data").mkdir()
    return "dir.data"


LOCATIONS: dict[str, tuple[Callable[[Path], str], str]] = {
    "parent": (parent_location, "leaves the model's directory"),
    "absolute": (absolute_location, "is an absolute path"),
    "symlink-out": (symlink_out, "symbolic link"),
    "symlink-inside": (symlink_inside, "symbolic link"),
    "directory-link": (directory_link, "symbolic link"),
    "dot-dot-in-the-middle": (dotted, "leaves the model's directory"),
    "fifo": (fifo, "is not a regular file"),
    "directory": (a_directory, "is not a regular file"),
}

RANGES: dict[str, tuple[dict[str, str], str]] = {
    "offset-past-the-end": ({"offset": str(10**6)}, "past the end"),
    "huge-length": ({"length": str(2**70)}, "the file has"),
    "huge-offset": ({"offset": str(2**64 - 8), "length": "8"}, "past the end"),
    "negative-offset": ({"offset": "-4"}, "negative offset"),
    "length-not-the-tensors": ({"offset": "0", "length": "4"}, "the tensor's type and dims need"),
    "not-a-number": ({"offset": "0x10"}, "not a number"),
}


def assert_refused(run_cli: Callable[..., Any], path: Path, tmp_path: Path, words: str) -> None:
    for command in (("inspect", str(path)), ("convert", str(path), "-o", str(tmp_path / "out.pt"))):
        result = run_cli(*command)
        assert result.exit_code == 2, (command, result.output)
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
        assert str(path) in result.stderr and "initializer '" in result.stderr and words in result.stderr
        assert not (tmp_path / "out.pt").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX links and FIFOs")
@pytest.mark.parametrize("case", LOCATIONS)
def test_external_data_outside_the_models_directory_or_through_a_link_is_refused(
    run_cli: Callable[..., Any], tmp_path: Path, case: str
) -> None:
    path, _ = exported(tmp_path / "model")
    make, words = LOCATIONS[case]
    location = make(path)
    edited(path, location=location)
    assert_refused(run_cli, path, tmp_path, words)
    assert repr(location) in run_cli("inspect", str(path)).stderr


@pytest.mark.parametrize("case", RANGES)
def test_external_data_ranges_past_the_data_file_or_not_the_tensors_size_are_refused(
    run_cli: Callable[..., Any], tmp_path: Path, case: str
) -> None:
    path, _ = exported(tmp_path / "model")
    entries, words = RANGES[case]
    edited(path, **entries)
    assert_refused(run_cli, path, tmp_path, words)


def test_missing_external_data_is_a_note_for_inspect_and_refused_by_convert(
    run_cli: Callable[..., Any], run_json: Callable[..., Any], tmp_path: Path
) -> None:
    path, module = exported(tmp_path / "model")
    (path.parent / "model.onnx.data").unlink()
    document = run_json("inspect", str(path))
    assert document["total_params"] == sum(p.numel() for p in module.parameters())
    assert any("'model.onnx.data' is not beside the model" in note for note in document["notes"])
    result = run_cli("convert", str(path), "-o", str(tmp_path / "out.pt"))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "external data 'model.onnx.data' does not exist" in result.stderr
    assert not (tmp_path / "out.pt").exists()
