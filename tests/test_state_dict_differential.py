"""rnncalc's reading of ``.pt`` state dicts (the zip guard, then ``torch.load`` memory-mapped
when every member is stored) against plain ``torch.load(weights_only=True)``: state dicts
``torch.save`` writes (several dtypes, 0-dim and empty tensors, non-contiguous tensors and
views sharing one storage), re-zipped with deflate, then mutated (truncated, a byte flipped,
bytes appended). Both read the same tensors (names, shapes, dtypes; values exactly, as
float32), or both refuse; a tensor convert does not move is refused by name.

The default suite draws the same cases every run (conftest.py); ``-m slow`` draws fresh ones.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnncalc.core.errors import ConversionError
from rnncalc.io.tensors import WeightFileError

torch = pytest.importorskip("torch")
from rnncalc.frameworks.torch_files import open_state_dict  # noqa: E402
from rnncalc.io.state_dict import read_state_dict  # noqa: E402

DTYPES = [torch.float32, torch.float16, torch.float64, torch.bfloat16, torch.int64]
SHAPES = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
SETTINGS = settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def library(path: Path) -> dict[str, Any] | None:
    """What ``torch.load`` reads, or None when it refuses (or reads something not a state dict).
    A compressed member that fails its CRC-32 counts as refused: torch checks no CRC and reads
    a damaged deflate stream as whatever its buffer held, a different value each run."""
    if damaged(path):
        return None
    try:
        loaded = torch.load(str(path), weights_only=True)
    except Exception:  # torch raises many kinds on a bad file
        return None
    ok = isinstance(loaded, dict) and loaded and all(isinstance(v, torch.Tensor) for v in loaded.values())
    return loaded if ok else None


def damaged(path: Path) -> bool:
    """True for a zip (torch.load tells one by its first bytes) that rnncalc refuses on purpose
    where torch may read it: one the zip module cannot read (torch's reader passes over some
    damage to the central directory, but the members' sizes cannot be checked), or with a
    compressed member that does not inflate to its size and CRC-32."""
    if path.read_bytes()[:4] != b"PK\x03\x04":
        return False
    try:
        archive = zipfile.ZipFile(path)
    except Exception:  # BadZipFile, EOFError, ValueError...
        return True
    with archive:
        if all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist()):
            return False
        try:
            return archive.testzip() is not None
        except Exception:  # zlib.error, BadZipFile, EOFError: a damaged stream
            return True


def assert_same(path: Path) -> None:
    theirs = library(path)
    try:
        contents = read_state_dict(str(path), torch)
    except WeightFileError:
        assert theirs is None, f"rnncalc refused what torch.load reads: {sorted(theirs)}"
        return
    assert theirs is not None, f"rnncalc read what torch.load refuses: {contents}"
    assert [(t.name, t.shape, t.dtype) for t in contents.tensors] == [
        (name, tuple(value.shape), str(value.dtype).removeprefix("torch.")) for name, value in theirs.items()
    ]
    data = open_state_dict(str(path))
    for name, value in theirs.items():
        if value.dtype == torch.int64:
            with pytest.raises(WeightFileError, match=re.escape(f"tensor {name!r} is int64:")):
                data[name]
            continue
        mine = data[name]
        assert mine.dtype.name == "float32" and mine.shape == tuple(value.shape)
        assert torch.equal(torch.from_numpy(mine.copy()), value.float()), name


@st.composite
def state_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A few tensors of random dtypes and shapes, some of them views of one another."""
    state: dict[str, Any] = {}
    for index in range(draw(st.integers(1, 4))):
        dtype, shape = draw(st.sampled_from(DTYPES)), draw(SHAPES)
        base = (torch.arange(max(1, 2 * int(torch.Size(shape).numel())), dtype=torch.float64) * 0.37 - 3).to(
            dtype
        )
        how = draw(st.sampled_from(["whole", "offset", "transposed", "shared"]))
        count = int(torch.Size(shape).numel())
        if how == "offset":  # a view starting inside its storage
            value = base[1 : 1 + count].reshape(shape)
        elif how == "transposed" and len(shape) >= 2:  # non-contiguous
            value = base[:count].reshape(shape[::-1]).transpose(0, -1)
        elif how == "shared" and state:  # another view of an earlier tensor's storage
            earlier = next(iter(state.values()))
            value = earlier.reshape(-1)[: earlier.numel() // 2]
        else:
            value = base[:count].reshape(shape).clone()
        state[f"rnn.weight_{index}"] = value
    return state


def rezipped(path: Path, out: Path) -> None:
    """``path``'s members written again, deflated: what a user's zip tool makes of a .pt."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))


def mutated(data: st.DataObject, raw: bytes) -> bytes:
    draw = data.draw
    kind = draw(st.sampled_from(["none", "none", "truncate", "flip", "append"]))
    if kind == "truncate":
        return raw[: draw(st.integers(0, len(raw) - 1))]
    if kind == "flip":
        position = draw(st.integers(0, len(raw) - 1))
        return raw[:position] + bytes([raw[position] ^ (1 << draw(st.integers(0, 7)))]) + raw[position + 1 :]
    if kind == "append":
        return raw + bytes(draw(st.integers(1, 64)))
    return raw


def check_one(tmp_path: Path, data: st.DataObject) -> None:
    saved = tmp_path / "saved.pt"
    torch.save(data.draw(state_dicts()), saved)
    if data.draw(st.booleans()):
        rezipped(saved, tmp_path / "deflated.pt")
        saved = tmp_path / "deflated.pt"
    case = tmp_path / "case.pt"
    case.write_bytes(mutated(data, saved.read_bytes()))
    assert_same(case)


@SETTINGS
@given(st.data())
def test_the_state_dict_reader_agrees_with_torch_load(tmp_path: Path, data: st.DataObject) -> None:
    check_one(tmp_path, data)


@pytest.mark.slow
@settings(SETTINGS, max_examples=1500, derandomize=False)
@given(st.data())
def test_the_state_dict_reader_agrees_with_torch_load_on_many_more_files(
    tmp_path: Path, data: st.DataObject
) -> None:
    check_one(tmp_path, data)


def test_a_deflated_state_dict_reads_its_values_not_its_compressed_bytes(tmp_path: Path) -> None:
    """torch.load(mmap=True) maps a deflated storage's compressed bytes as its values (torch
    2.13): rnncalc maps only archives whose members are all stored."""
    state = {"weight_ih_l0": torch.arange(64.0).reshape(16, 4)}
    torch.save(state, tmp_path / "stored.pt")
    rezipped(tmp_path / "stored.pt", tmp_path / "deflated.pt")
    assert not torch.equal(
        torch.load(tmp_path / "deflated.pt", weights_only=True, mmap=True)["weight_ih_l0"],
        state["weight_ih_l0"],
    )
    assert_same(tmp_path / "deflated.pt")


@pytest.mark.parametrize(
    ("value", "described"),
    [
        (torch.ones(16, 3).to_sparse(), "float32 (sparse_coo)"),
        (torch.ones(16, 3, dtype=torch.complex64), "complex64"),
        (torch.ones(16, 3, dtype=torch.bool), "bool"),
        (torch.ones(16, 3).to(torch.float8_e4m3fn), "float8_e4m3fn"),
        (torch.empty(16, 3, device="meta"), "float32 (meta)"),
    ],
)
def test_a_tensor_convert_does_not_move_is_listed_by_inspect_and_refused_by_name(
    tmp_path: Path, value: Any, described: str
) -> None:
    path = tmp_path / "odd.pt"
    torch.save({"weight_ih_l0": value}, path)
    (tensor,) = read_state_dict(str(path), torch).tensors
    assert (tensor.name, tensor.shape, tensor.dtype) == ("weight_ih_l0", (16, 3), described)
    with pytest.raises(
        (WeightFileError, ConversionError), match=re.escape(f"tensor 'weight_ih_l0' is {described}:")
    ):
        open_state_dict(str(path))["weight_ih_l0"]
