"""``rnncalc inspect`` on hostile files, without any framework: one line naming the file, exit 2."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result


def _safetensors(path: Path, header: Any, data: bytes = b"") -> Path:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def _refused(run_cli: Callable[..., Result], path: Path) -> str:
    result = run_cli("inspect", str(path))
    assert result.exit_code == 2, result.stdout
    assert result.stdout == ""
    assert result.stderr.startswith(f"rnncalc: error: {path}: ")
    assert result.stderr.count("\n") == 1
    return result.stderr.removeprefix(f"rnncalc: error: {path}: ").rstrip("\n")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ([1, 2], "not a safetensors file: header is not a JSON object"),
        ({"w": {"dtype": "F99", "shape": [2], "data_offsets": [0, 8]}}, "tensor 'w': unknown dtype 'F99'"),
        ({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, "tensor 'w': shape [-2] is not"),
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, "tensor 'w': data_offsets [0, 4] do"),
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}, "tensor 'w': data_offsets [0] is not"),
        (
            {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}},
            "truncated: tensor 'w' ends at byte 16",
        ),
        ({"w": "F32"}, "tensor 'w': entry is not an object"),
    ],
)
def test_a_malformed_safetensors_header_is_refused_naming_the_tensor(
    tmp_path: Path, header: Any, message: str, run_cli: Callable[..., Result]
) -> None:
    path = _safetensors(tmp_path / "bad.safetensors", header, bytes(8))
    assert _refused(run_cli, path).startswith(message)


def test_a_safetensors_header_length_beyond_the_bound_is_refused_before_reading_it(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    assert _refused(run_cli, path) == (
        "not a safetensors file: header length 1000000000000 exceeds 100000000"
    )


def test_a_valid_header_with_metadata_is_read_with_the_standard_library(
    tmp_path: Path, run_json: Callable[..., Any]
) -> None:
    header = {
        "__metadata__": {"format": "pt"},
        "rnn.weight_ih_l0": {"dtype": "BF16", "shape": [12, 3], "data_offsets": [0, 72]},
        "rnn.weight_hh_l0": {"dtype": "BF16", "shape": [12, 4], "data_offsets": [72, 168]},
    }
    path = _safetensors(tmp_path / "gru.safetensors", header, bytes(168))
    document = run_json("inspect", str(path))
    assert document["total_params"] == 84
    (layer,) = document["recurrent"]
    assert layer["spec"]["cell"] == "gru" and layer["spec"]["bias"] is False
    assert [t["dtype"] for t in document["tensors"]] == ["BF16", "BF16"]


def test_models_nested_too_deeply_are_refused_with_the_path(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    document: dict[str, Any] = {"class_name": "InputLayer", "config": {"name": "input"}}
    for depth in range(40):
        document = {"class_name": "Sequential", "config": {"name": f"m{depth}", "layers": [document]}}
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(document))
    assert _refused(run_cli, path).endswith("models nested more than 16 deep")


def test_json_nested_past_the_parser_s_limit_is_refused(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    path = tmp_path / "deeper.json"
    path.write_text(
        '{"class_name": "Sequential", "config": {"layers": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    )
    assert _refused(run_cli, path).startswith("not a Keras model JSON: maximum recursion depth")


def test_a_directory_that_is_no_checkpoint_is_refused_naming_what_rnncalc_reads(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    assert _refused(run_cli, tmp_path).startswith(
        "a directory rnncalc does not read; it reads sharded safetensors checkpoint, Orbax checkpoint "
        "directories and .bin, .ckpt"
    )


@pytest.mark.parametrize(
    ("suffix", "module", "extra"),
    [(".pt", "torch", "torch"), (".h5", "h5py", "inspect"), (".onnx", "onnx", "inspect")],
)
def test_a_missing_reader_package_is_one_line_with_the_install_command(
    tmp_path: Path, suffix: str, module: str, extra: str
) -> None:
    import subprocess
    import sys

    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"whatever")
    code = (
        f"import sys; sys.modules[{module!r}] = None  # as if not installed\n"
        "from rnncalc.cli import main; sys.argv = ['rnncalc', 'inspect', sys.argv[1]]; main()"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    hint = f"pip install 'rnncalc[{extra}]' (or pip install {module})"
    assert proc.stderr == f"rnncalc: error: {path}: reading it needs {module}: {hint}\n"


def test_a_keras_archive_whose_config_would_inflate_past_the_bound_is_refused(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    import zipfile

    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", b" " * 100_000_001)  # deflates to about 100 kB
    assert path.stat().st_size < 1_000_000
    assert _refused(run_cli, path).startswith("zip member 'config.json' would inflate ")
    assert _refused(run_cli, path).endswith(" bytes to 100,000,001 (over 100:1): refused as a zip bomb")


def test_a_model_json_without_input_shapes_notes_the_layer_instead_of_guessing(
    tmp_path: Path, run_json: Callable[..., Any]
) -> None:
    # What an unbuilt Sequential (no Input, never called) serialises: no build_config anywhere.
    document = {
        "class_name": "Sequential",
        "config": {
            "name": "unbuilt",
            "layers": [
                {"class_name": "LSTM", "config": {"name": "lstm", "units": 4}},
                {"class_name": "Dense", "config": {"name": "head", "units": 2}},
            ],
        },
    }
    path = tmp_path / "unbuilt.json"
    path.write_text(json.dumps(document))
    result = run_json("inspect", str(path))
    assert result["total_params"] == 0 and result["recurrent"] == []
    assert result["notes"] == [
        "LSTM 'lstm': its config records no input shape; not counted",
        "Dense 'head': its config records no input shape; not counted",
    ]
