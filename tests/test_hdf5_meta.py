"""The standard-library HDF5 metadata reader lists exactly what h5py lists, or declines."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnncalc.io.hdf5_meta import Unsupported, read_datasets

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")


def _h5py_listing(path: Path, group: str) -> list[tuple[str, tuple[int, ...], str]]:
    found: list[tuple[str, tuple[int, ...], str]] = []
    with h5py.File(path, "r") as handle:
        handle[group].visititems(
            lambda name, item: (
                found.append((f"{group}/{name}", tuple(item.shape), str(item.dtype)))
                if isinstance(item, h5py.Dataset)
                else None
            )
        )
    return sorted(found)


def _listing(path: Path, group: str, origin: int = 0) -> list[tuple[str, tuple[int, ...], str]]:
    with open(path, "rb") as handle:
        return [(t.name, t.shape, t.dtype) for t in read_datasets(handle, group, origin)]


def test_a_file_in_h5py_s_default_format_is_listed_exactly_as_h5py_lists_it(tmp_path: Path) -> None:
    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as handle:
        layers = handle.create_group("layers")
        # 300 members make a group B-tree of more than one level.
        for index in range(300):
            layers.create_dataset(f"dense_{index}/vars/0", shape=(index % 7 + 1, 3), dtype="float32")
        layers.create_dataset("scalar", data=np.int64(3))
        layers.create_dataset("counts", shape=(2, 0, 4), dtype="uint8")
        layers.create_dataset("half", shape=(5,), dtype="float16")
        layers.create_dataset("deep/a/b/c/d", shape=(1, 2, 3, 4, 5), dtype="float64")
        # Enough attributes to push messages into a continuation block.
        for index in range(64):
            layers["half"].attrs[f"attribute_{index}"] = np.arange(index + 1)
        handle.create_group("optimizer").create_dataset("vars/0", shape=(9,), dtype="int32")
    assert _listing(path, "layers") == _h5py_listing(path, "layers")
    assert _listing(path, "optimizer") == _h5py_listing(path, "optimizer")
    assert _listing(path, "absent") == []


def test_a_file_inside_another_is_read_from_its_origin(tmp_path: Path) -> None:
    inner = tmp_path / "inner.h5"
    with h5py.File(inner, "w") as handle:
        handle.create_dataset("layers/lstm/cell/vars/0", shape=(8, 24), dtype="float32")
    outer = tmp_path / "outer.bin"
    outer.write_bytes(b"x" * 1234 + inner.read_bytes())
    assert _listing(outer, "layers", origin=1234) == _h5py_listing(inner, "layers")


def test_the_newer_hdf5_format_is_declined_so_the_caller_uses_h5py(tmp_path: Path) -> None:
    path = tmp_path / "latest.h5"
    with h5py.File(path, "w", libver="latest") as handle:
        handle.create_dataset("layers/dense/vars/0", shape=(2, 3), dtype="float32")
    with pytest.raises(Unsupported):
        _listing(path, "layers")


@pytest.mark.parametrize("data", [b"", b"\x89HDF\r\n\x1a\n", b"\x89HDF\r\n\x1a\n" + bytes(200), b"junk" * 50])
def test_truncated_or_garbage_bytes_are_declined_not_misread(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.h5"
    path.write_bytes(data)
    with pytest.raises(Unsupported):
        _listing(path, "layers")
