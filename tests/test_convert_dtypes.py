"""convert moves a tensor with its values exact, or refuses it by name: a complex, integer or
boolean tensor is refused in every source format before anything is written (a complex one
used to lose its imaginary part to NumPy's ComplexWarning, and verify said ok); float64 values
that float32 cannot hold are rounded and said so on stderr, float16 and bfloat16 move exactly.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import Result

RNG = np.random.default_rng(0)
#: nn.LSTM(3, 4)'s state dict, by name.
LSTM = {
    "weight_ih_l0": RNG.standard_normal((16, 3)).astype(np.float32),
    "weight_hh_l0": RNG.standard_normal((16, 4)).astype(np.float32),
    "bias_ih_l0": RNG.standard_normal(16).astype(np.float32),
    "bias_hh_l0": RNG.standard_normal(16).astype(np.float32),
}

#: numpy's dtype names → safetensors'.
NAMES = {"float32": "F32", "float64": "F64", "complex64": "C64"}


def safetensors_file(path: Path, arrays: dict[str, Any], dtypes: dict[str, str] | None = None) -> Path:
    """The file the safetensors format defines (written by hand: numpy has no bfloat16)."""
    header: dict[str, Any] = {}
    data = b""
    for name, array in arrays.items():
        dtype = (dtypes or {}).get(name) or NAMES[array.dtype.name]
        raw = (
            array.tobytes()
            if dtype != "BF16"
            else (array.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        )
        header[name] = {
            "dtype": dtype,
            "shape": list(array.shape),
            "data_offsets": [len(data), len(data) + len(raw)],
        }
        data += raw
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def assert_refused(result: Result, destination: Path, *expected: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("rnncalc: error: "), result.stderr
    for text in expected:
        assert text in result.stderr
    assert not destination.exists()
    assert not list(destination.parent.glob(f".{destination.name}.*"))  # no temporary left


def test_a_complex_safetensors_tensor_is_refused_by_name(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    arrays = {**LSTM, "weight_ih_l0": (LSTM["weight_ih_l0"] * (1 + 1j)).astype(np.complex64)}
    source = safetensors_file(tmp_path / "c.safetensors", arrays)
    before = source.read_bytes()
    destination = tmp_path / "out.safetensors"
    result = run_cli("convert", str(source), "-o", str(destination), "--no-verify")
    assert_refused(result, destination, "tensor 'weight_ih_l0' is C64: convert moves real floating-point")
    assert source.read_bytes() == before


def test_an_onnx_complex_initializer_is_refused_by_name(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    model_path = tmp_path / "lstm.onnx"
    source = safetensors_file(tmp_path / "lstm.safetensors", LSTM)
    assert run_cli("convert", str(source), "-o", str(model_path), "--no-verify").exit_code == 0
    model = onnx.load(str(model_path))
    first = model.graph.initializer[0]
    values = numpy_helper.to_array(first).astype(np.complex64) * (1 + 1j)
    first.CopyFrom(numpy_helper.from_array(values, first.name))
    onnx.save(model, str(model_path))
    destination = tmp_path / "out.safetensors"
    result = run_cli("convert", str(model_path), "-o", str(destination), "--no-verify")
    assert_refused(result, destination, f"tensor '{first.name}' is complex64:")


def test_a_msgpack_complex_array_is_refused_by_name(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    serialization = pytest.importorskip("flax.serialization")
    state_path = tmp_path / "lstm.msgpack"
    source = safetensors_file(tmp_path / "lstm.safetensors", LSTM)
    assert run_cli("convert", str(source), "-o", str(state_path), "--no-verify").exit_code == 0
    state = serialization.msgpack_restore(state_path.read_bytes())
    node = state
    path = []
    while isinstance(node, dict):
        key = sorted(node)[0]
        path.append(str(key))
        parent, node = node, node[key]
    parent[key] = np.asarray(node).astype(np.complex64) * (1 + 1j)
    state_path.write_bytes(serialization.msgpack_serialize(state))
    destination = tmp_path / "out.safetensors"
    result = run_cli("convert", str(state_path), "-o", str(destination), "--no-verify")
    # The msgpack reader refuses it as it reads the state, naming the array and its dtype.
    assert_refused(result, destination, f"'{'.'.join(path)}' is a complex64, not a numeric array")


@pytest.mark.parametrize(
    ("dtype", "values"), [("I64", np.arange(48).reshape(16, 3)), ("BOOL", np.ones((16, 3), bool))]
)
def test_integer_and_boolean_tensors_are_refused_by_name(
    tmp_path: Path, run_cli: Callable[..., Result], dtype: str, values: Any
) -> None:
    source = safetensors_file(
        tmp_path / "i.safetensors", {**LSTM, "weight_ih_l0": values}, {"weight_ih_l0": dtype}
    )
    destination = tmp_path / "out.safetensors"
    result = run_cli("convert", str(source), "-o", str(destination), "--no-verify")
    assert_refused(result, destination, f"tensor 'weight_ih_l0' is {dtype}:")


def written_values(path: Path) -> dict[str, Any]:
    from safetensors.numpy import load_file

    return load_file(str(path))


def test_float64_values_float32_cannot_hold_are_rounded_and_said_so(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    pytest.importorskip("safetensors")
    arrays = {name: value.astype(np.float64) + 1e-9 for name, value in LSTM.items()}
    source = safetensors_file(tmp_path / "f64.safetensors", arrays)
    destination = tmp_path / "out.safetensors"
    result = run_cli("convert", str(source), "-o", str(destination), "--no-verify")
    assert result.exit_code == 0, result.stderr
    (note,) = result.stderr.splitlines()
    assert note.startswith(f"rnncalc: note: {source}: float64 values rounded to float32 in 4 tensors (")
    largest = max(float(np.abs(v.astype(np.float32).astype(np.float64) - v).max()) for v in arrays.values())
    assert note.endswith(f"largest change {largest:.3g}")
    for name, value in written_values(destination).items():
        np.testing.assert_array_equal(value, arrays[name].astype(np.float32))


@pytest.mark.parametrize(
    "dtypes", [{"weight_ih_l0": "F64"}, {"weight_ih_l0": "BF16"}, {"weight_ih_l0": "F16"}]
)
def test_values_float32_holds_exactly_move_exactly_and_silently(
    tmp_path: Path, run_cli: Callable[..., Result], dtypes: dict[str, str]
) -> None:
    pytest.importorskip("safetensors")
    exact = np.arange(48, dtype=np.float32).reshape(16, 3) / 8  # exact in bfloat16, float16, float64
    kind = {"F64": np.float64, "F16": np.float16, "BF16": np.float32}[dtypes["weight_ih_l0"]]
    source = safetensors_file(
        tmp_path / "x.safetensors", {**LSTM, "weight_ih_l0": exact.astype(kind)}, dtypes
    )
    destination = tmp_path / "out.safetensors"
    result = run_cli("convert", str(source), "-o", str(destination), "--no-verify")
    assert result.exit_code == 0 and result.stderr == "", result.stderr
    np.testing.assert_array_equal(written_values(destination)["weight_ih_l0"], exact)


def test_a_float64_value_beyond_float32_s_range_is_refused_by_name(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    arrays = {name: value.astype(np.float64) for name, value in LSTM.items()}
    arrays["bias_hh_l0"][3] = 1e39
    source = safetensors_file(tmp_path / "big.safetensors", arrays)
    destination = tmp_path / "out.safetensors"
    result = run_cli("convert", str(source), "-o", str(destination), "--no-verify")
    assert_refused(result, destination, "tensor 'bias_hh_l0' holds float64 values beyond float32's range")
