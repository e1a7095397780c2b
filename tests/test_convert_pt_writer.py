"""The PyTorch writer of ``rnncalc convert``: one tensor at a time, and a file ``torch.load``
reads as it reads ``torch.save``'s (checked against ``torch.save``'s own bytes and
``torch.load`` with and without ``mmap``)."""

from __future__ import annotations

import contextlib
import io
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streaming import HeldTooLong, converted_pairs, one_at_a_time

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")

from rnncalc.convert import convert, make_plan  # noqa: E402
from rnncalc.frameworks import torch_zip  # noqa: E402
from rnncalc.frameworks.torch_files import write_state_dict  # noqa: E402

MODULES = {
    "bidirectional 2-layer LSTM": lambda: torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True),
    "GRU without biases": lambda: torch.nn.GRU(5, 2, bias=False),
    "projected LSTM": lambda: torch.nn.LSTM(3, 6, num_layers=2, proj_size=2),
}


def saved_module(name: str, directory: Path) -> tuple[Any, Path]:
    torch.manual_seed(0)
    module = MODULES[name]()
    path = directory / "source.pt"
    torch.save(module.state_dict(), path)
    return module, path


@contextlib.contextmanager
def stream(source: Path, destination: Path) -> Iterator[tuple[Any, Iterator[tuple[str, Any]]]]:
    """The plan and the converted pairs, as :func:`rnncalc.convert.write_plan` makes them."""
    plan = make_plan(str(source), str(destination))
    yield plan, converted_pairs(plan)


@pytest.mark.parametrize("mmap", [False, True], ids=["read", "mmap"])
@pytest.mark.parametrize("module_name", list(MODULES))
def test_the_writer_holds_one_tensor_at_a_time_and_torch_loads_the_source_values(
    module_name: str, mmap: bool, tmp_path: Path
) -> None:
    module, source = saved_module(module_name, tmp_path)
    destination = tmp_path / "converted.pt"
    with stream(source, destination) as (plan, pairs):
        write_state_dict(plan, one_at_a_time(pairs), str(destination))
    loaded = torch.load(destination, weights_only=True, mmap=mmap)
    expected = module.state_dict()
    assert list(loaded) == list(expected)
    for name, tensor in expected.items():
        assert loaded[name].dtype == torch.float32
        assert torch.equal(loaded[name], tensor), name
    twin = MODULES[module_name]()
    twin.load_state_dict(loaded, strict=True)
    x = torch.randn(6, 1, module.input_size)
    with torch.no_grad():
        assert torch.equal(twin(x)[0], module(x)[0])


def test_a_writer_that_keeps_every_tensor_fails_the_streaming_check(tmp_path: Path) -> None:
    """The check the test above relies on can fail: the dict ``torch.save`` needed is caught."""
    _, source = saved_module("bidirectional 2-layer LSTM", tmp_path)
    with stream(source, tmp_path / "converted.pt") as (_, pairs), pytest.raises(HeldTooLong):
        dict(one_at_a_time(pairs))


def state_dict() -> dict[str, Any]:
    torch.manual_seed(1)
    return {
        "layer.weight": torch.randn(8, 3),
        "layer.bias": torch.randn(8),
        "cube": torch.randn(2, 3, 4),
        "scale": torch.tensor(0.5),
        "nothing": torch.empty(0, 3),
    }


def written(state: dict[str, Any], path: Path, arrays: dict[str, Any] | None = None) -> zipfile.ZipFile:
    arrays = arrays or {name: tensor.numpy() for name, tensor in state.items()}
    rows = [(name, tuple(tensor.shape)) for name, tensor in state.items()]
    torch_zip.write_torch_zip(rows, iter(list(arrays.items())), str(path))
    return zipfile.ZipFile(path)


def test_every_record_is_byte_for_byte_the_one_torch_save_writes_but_the_serialization_id(
    tmp_path: Path,
) -> None:
    state = state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    saved = zipfile.ZipFile(buffer)
    ours = written(state, tmp_path / "state.pt")
    assert ours.namelist() == [name for name in saved.namelist() if name != "archive/.data/serialization_id"]
    for name in ours.namelist():
        assert ours.read(name) == saved.read(name), name


def test_the_file_is_a_valid_zip_of_stored_records_whose_data_starts_at_64_byte_boundaries(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.pt"
    archive = written(state_dict(), path)
    assert archive.testzip() is None
    content = path.read_bytes()
    for info in archive.infolist():
        assert info.compress_type == zipfile.ZIP_STORED
        # APPNOTE.TXT 4.3.7: the data follows a 30-byte header, the name and the extra field.
        signature, name_length, extra_length = struct.unpack_from("<I22xHH", content, info.header_offset)
        assert signature == 0x04034B50
        start = info.header_offset + 30 + name_length + extra_length
        assert start % 64 == 0, info.filename
        assert content[start : start + info.file_size] == archive.read(info)


def test_non_contiguous_and_float64_arrays_are_written_as_float32_in_c_order_block_by_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch_zip, "BLOCK_BYTES", 16)  # a few rows per block
    rng = np.random.default_rng(2)
    state = {"transposed": torch.empty(7, 5), "fortran": torch.empty(6, 4), "double": torch.empty(9)}
    arrays = {
        "transposed": rng.standard_normal((5, 7)).astype(np.float32).T,
        "fortran": np.asfortranarray(rng.standard_normal((6, 4)).astype(np.float32)),
        "double": rng.standard_normal(9),
    }
    path = tmp_path / "state.pt"
    assert written(state, path, arrays).testzip() is None
    for mmap in (False, True):
        loaded = torch.load(path, weights_only=True, mmap=mmap)
        for name, array in arrays.items():
            assert loaded[name].is_contiguous()
            np.testing.assert_array_equal(loaded[name].numpy(), array.astype(np.float32))


@pytest.mark.parametrize("count", [2, 4])
def test_pairs_more_or_fewer_than_the_declared_tensors_are_refused(count: int, tmp_path: Path) -> None:
    rows = [(f"t{index}", (2,)) for index in range(3)]
    pairs = ((f"t{index}", np.zeros(2, np.float32)) for index in range(count))
    with pytest.raises(ValueError, match="declared"):
        torch_zip.write_torch_zip(rows, pairs, str(tmp_path / "state.pt"))


def test_convert_moves_a_valid_zip_into_place_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    module, source = saved_module("bidirectional 2-layer LSTM", tmp_path)
    convert(str(source), str(tmp_path / "converted.pt"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["converted.pt", "source.pt"]
    assert zipfile.ZipFile(tmp_path / "converted.pt").testzip() is None
    loaded = torch.load(tmp_path / "converted.pt", weights_only=True)
    assert all(torch.equal(loaded[name], tensor) for name, tensor in module.state_dict().items())
