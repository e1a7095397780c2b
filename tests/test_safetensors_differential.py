"""rnncalc's safetensors header reader against the safetensors library: files the library
writes (several dtypes, shapes with no dimension and with a zero dimension), then mutated
(truncated, a byte flipped, bytes appended, the header edited: offsets overlapping or leaving a
gap, another dtype, another shape). Each is read by both: the same tensors (names, dtypes,
shapes from ``safe_open``; values, exactly, from ``safetensors.numpy.load_file``), or both refuse.

The default suite draws the same cases every run (the profile in conftest.py); ``-m slow``
draws fresh ones.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnncalc.core.errors import ConversionError
from rnncalc.io.safetensors_header import DTYPE_BITS, read_safetensors
from rnncalc.io.tensor_data import open_safetensors
from rnncalc.io.tensors import WeightFileError

safetensors = pytest.importorskip("safetensors")
from safetensors import safe_open  # noqa: E402
from safetensors.numpy import load_file, save_file  # noqa: E402

DTYPES = ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool", "complex64"]
SHAPES = st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple)
SETTINGS = settings(
    max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def library(path: Path) -> dict[str, tuple[str, list[int]]] | None:
    """What the library reads: name → (dtype, shape), or None when it refuses the file."""
    try:
        with safe_open(str(path), "np") as handle:
            names = handle.keys()  # a safe_open handle is no dict
            return {
                name: (handle.get_slice(name).get_dtype(), handle.get_slice(name).get_shape())
                for name in names
            }
    except Exception:  # SafetensorError, and whatever else a bad file raises
        return None


def ours(path: Path) -> dict[str, tuple[str, list[int]]] | None:
    try:
        contents = read_safetensors(str(path))
    except WeightFileError:
        return None
    return {tensor.name: (tensor.dtype, list(tensor.shape)) for tensor in contents.tensors}


def assert_same(path: Path) -> None:
    """Both refuse, or both read the same tensors; values compared for each float tensor."""
    theirs, mine = library(path), ours(path)
    assert mine == theirs, (path.read_bytes()[:300], mine, theirs)
    if mine is None:
        return
    try:
        arrays = load_file(str(path))
    except Exception:  # a dtype numpy has no type for (F4...): the header counts
        return
    data = open_safetensors(str(path))
    for name, array in arrays.items():
        if array.dtype.kind == "f":
            np.testing.assert_array_equal(data[name], array.astype(np.float32), strict=True)
        else:  # complex, integer, boolean: listed by inspect, refused by convert, by name
            with pytest.raises(ConversionError, match=re.escape(f"tensor {name!r} is ")):
                data[name]


def header_of(raw: bytes) -> tuple[dict[str, Any], bytes]:
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + length]), raw[8 + length :]


def with_header(header: dict[str, Any], data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


@st.composite
def written(draw: st.DrawFn, tmp: Path) -> bytes:
    """The bytes of a file ``safetensors.numpy.save_file`` writes for a few random arrays."""
    count = draw(st.integers(0, 4))
    arrays = {}
    for index in range(count):
        dtype, shape = draw(st.sampled_from(DTYPES)), draw(SHAPES)
        values = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) * 0.37 - 1
        arrays[f"t{index}.weight"] = np.asarray(values.astype(dtype) if dtype != "bool" else values > 0)
    path = tmp / "written.safetensors"
    save_file(arrays, str(path), metadata=draw(st.sampled_from([None, {"format": "np"}])))
    return path.read_bytes()


def mutate(data: st.DataObject, raw: bytes) -> bytes:
    """``raw`` edited in one of the ways a damaged or hostile file differs from a written one."""
    draw = data.draw
    kind = draw(
        st.sampled_from(["none", "truncate", "flip", "append", "offsets", "dtype", "shape", "length"])
    )
    header, payload = header_of(raw)
    names = [name for name in header if name != "__metadata__"]
    if kind == "truncate":
        return raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    if kind == "flip":
        position = draw(st.integers(0, len(raw) - 1))
        return raw[:position] + bytes([raw[position] ^ (1 << draw(st.integers(0, 7)))]) + raw[position + 1 :]
    if kind == "append":
        return raw + bytes(draw(st.integers(1, 9)))
    if kind == "length":
        return struct.pack("<Q", draw(st.integers(0, 2**64 - 1))) + raw[8:]
    if not names:
        return raw
    name = draw(st.sampled_from(names))
    entry = header[name]
    if kind == "offsets":  # overlapping, leaving a gap, reversed, past the end
        begin, end = entry["data_offsets"]
        entry["data_offsets"] = [
            max(0, begin + draw(st.integers(-8, 8))),
            max(0, end + draw(st.integers(-8, 8))),
        ]
    elif kind == "dtype":
        entry["dtype"] = draw(st.sampled_from([*DTYPE_BITS, "F8_E4M3FN", "C128", "f32", 3]))
    elif kind == "shape":
        entry["shape"] = draw(
            st.sampled_from([[], [0], [1, 0], [2**40, 2**40, 0], [2**64], [-1], [1.0], [True], "2"])
        )
    return with_header(header, payload)


@SETTINGS
@given(st.data())
def test_the_header_reader_agrees_with_the_library(tmp_path: Path, data: st.DataObject) -> None:
    raw = mutate(data, data.draw(written(tmp_path)))
    path = tmp_path / "case.safetensors"
    path.write_bytes(raw)
    assert_same(path)


@pytest.mark.slow
@settings(SETTINGS, max_examples=3000, derandomize=False)
@given(st.data())
def test_the_header_reader_agrees_with_the_library_on_many_more_files(
    tmp_path: Path, data: st.DataObject
) -> None:
    raw = mutate(data, data.draw(written(tmp_path)))
    path = tmp_path / "case.safetensors"
    path.write_bytes(raw)
    assert_same(path)


F32 = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}


@pytest.mark.parametrize(
    ("header", "data"),
    [
        ({"a": F32, "b": F32}, bytes(4)),  # overlapping: both at bytes 0-4
        ({"a": F32}, bytes(5)),  # a trailing byte no tensor covers
        ({"a": {**F32, "data_offsets": [4, 8]}}, bytes(8)),  # a gap before the first tensor
        ({"a": {"dtype": "F4", "shape": [2], "data_offsets": [0, 1]}}, bytes(1)),  # two 4-bit floats
        ({"a": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}, bytes(2)),  # not on a byte
        ({"a": {"dtype": "F6_E2M3", "shape": [4], "data_offsets": [0, 3]}}, bytes(3)),
        ({"a": {**F32, "shape": [2**40, 2**40, 0], "data_offsets": [0, 0]}}, b""),  # overflows first
        ({"__metadata__": {"a": 1}, "a": F32}, bytes(4)),
        ({"__metadata__": None, "a": {**F32, "extra": 1}}, bytes(4)),
        ({"a": {**F32, "shape": []}, "e": {**F32, "shape": [0, 3], "data_offsets": [4, 4]}}, bytes(4)),
    ],
)
def test_the_cases_the_reader_once_got_wrong_agree_with_the_library(
    tmp_path: Path, header: dict[str, Any], data: bytes
) -> None:
    path = tmp_path / "case.safetensors"
    path.write_bytes(with_header(header, data))
    assert_same(path)


@pytest.mark.parametrize(
    "text",
    [
        b'{"__metadata__": {}, "__metadata__": {}}',  # the library refuses a repeated __metadata__
        b'{"a": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 0]}}',  # not JSON
        b'{"\\ud800": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}',  # no UTF-8 name
        b' {"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}\n  ',  # spaces are fine
    ],
)
def test_json_the_parsers_read_differently_is_read_as_the_library_reads_it(
    tmp_path: Path, text: bytes
) -> None:
    path = tmp_path / "case.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text)
    assert_same(path)
