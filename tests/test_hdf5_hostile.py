"""Hostile HDF5 inside ``.keras`` and legacy ``.h5`` files: a dataset whose bytes are not in the
file itself (external storage, a virtual dataset, an external or soft link) or pass through a
filter rnncalc does not read is refused by name in every reader, for ``inspect`` and
``convert``: one line, exit 2, nothing read from the other file, nothing written.

Each file starts as a real Keras-saved model; its weight file is rebuilt with h5py with one
variable replaced by the hostile dataset, which points at a marker file outside the model's
directory.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rnncalc.cli import cli
from rnncalc.io.tensors import WeightFileError

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

#: The variable replaced: the LSTM's kernel, as a .keras archive and a legacy .h5 name it.
KERNEL = "layers/lstm/cell/vars/0"
LEGACY_KERNEL = "model_weights/lstm/sequential/lstm/lstm_cell/kernel"
#: Bytes no output may hold: 12 float32 values whose bytes spell the marker.
MARKER = b"SECRET-BYTES" * 4


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A Keras LSTM saved as .keras and as legacy .h5."""
    directory = tmp_path_factory.mktemp("saved")
    model = keras.Sequential(
        [keras.Input((5, 3)), keras.layers.LSTM(4, return_sequences=True, name="lstm")], name="sequential"
    )
    model.save(directory / "m.keras")
    model.save(directory / "m.h5")
    return {"keras": directory / "m.keras", "h5": directory / "m.h5"}


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """The file outside the model's directory that a hostile dataset points at."""
    path = tmp_path / "secret.bin"
    path.write_bytes(MARKER * 100)
    with h5py.File(tmp_path / "secret.h5", "w") as handle:
        handle["d"] = np.frombuffer(MARKER * 4, dtype="<f4").reshape(3, 16)
        handle["group/d"] = handle["d"][()]
    return path


def _external(group: Any, name: str, shape: tuple[int, ...], secret: Path) -> None:
    group.create_dataset(name, shape=shape, dtype="<f4", external=[(str(secret), 0, 4 * int(np.prod(shape)))])


def _virtual(group: Any, name: str, shape: tuple[int, ...], secret: Path) -> None:
    layout = h5py.VirtualLayout(shape=shape, dtype="<f4")
    layout[:] = h5py.VirtualSource(str(secret.with_suffix(".h5")), "d", shape=shape)
    group.create_virtual_dataset(name, layout)


def _external_link(group: Any, name: str, shape: tuple[int, ...], secret: Path) -> None:
    group[name] = h5py.ExternalLink(str(secret.with_suffix(".h5")), "/d")


def _soft_link(group: Any, name: str, shape: tuple[int, ...], secret: Path) -> None:
    group.file["elsewhere"] = np.frombuffer(MARKER * 4, dtype="<f4").reshape(shape)
    group[name] = h5py.SoftLink("/elsewhere")


def _filter(code: Any, **options: Any) -> Callable[[Any, str, tuple[int, ...], Path], None]:
    def make(group: Any, name: str, shape: tuple[int, ...], secret: Path) -> None:
        values = np.frombuffer(MARKER * 4, dtype="<f4").reshape(shape)
        group.create_dataset(name, data=values, chunks=shape, compression=code, **options)

    return make


HOSTILE: dict[str, tuple[Callable[[Any, str, tuple[int, ...], Path], None], str]] = {
    "external storage": (_external, "in another file (HDF5 external storage)"),
    "virtual dataset": (_virtual, "a virtual dataset"),
    "external link": (_external_link, "an external link to"),
    "soft link": (_soft_link, "a soft link to /elsewhere"),
    "plugin filter": (_filter(307, allow_unknown_filter=True), "HDF5 filter 307"),
    "lzf filter": (_filter("lzf"), "HDF5 filter 32000"),
}


def _rebuilt(source: bytes, target: str, kernel: str, make: Callable[..., None], secret: Path) -> None:
    """The HDF5 file ``source`` written again to ``target`` with ``kernel`` made by ``make``."""
    with h5py.File(io.BytesIO(source), "r") as old, h5py.File(target, "w") as new:
        for key, value in old.attrs.items():
            new.attrs[key] = value
        for name in old:
            old.copy(old[name], new, name=name)
        shape = new[kernel].shape
        parent, _, leaf = kernel.rpartition("/")
        del new[kernel]
        make(new[parent], leaf, shape, secret)


def hostile_keras(
    saved: Path, directory: Path, make: Callable[..., None], secret: Path, compress: int
) -> Path:
    """A copy of the ``.keras`` archive ``saved`` whose weight file holds the hostile kernel;
    ``compress``: the weight member's zip method (a deflated member is read by h5py, a stored one
    by the standard-library reader first)."""
    weights = directory / "model.weights.h5"
    with zipfile.ZipFile(saved) as archive:
        _rebuilt(archive.read("model.weights.h5"), str(weights), KERNEL, make, secret)
        path = directory / "m.keras"
        with zipfile.ZipFile(path, "w") as out:
            for name in ("metadata.json", "config.json"):
                out.writestr(name, archive.read(name))
            out.write(weights, "model.weights.h5", compress_type=compress)
    weights.unlink()
    return path


def hostile_h5(saved: Path, directory: Path, make: Callable[..., None], secret: Path) -> Path:
    path = directory / "m.h5"
    _rebuilt(saved.read_bytes(), str(path), LEGACY_KERNEL, make, secret)
    return path


def _refused(args: list[str], name: str, reason: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnncalc: error: "), result.stderr
    assert name in lines[0] and reason in lines[0], lines[0]
    assert "SECRET" not in result.output


@pytest.mark.parametrize("compress", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_keras_archive_with_a_dataset_outside_it_is_refused_by_name_and_nothing_is_read(
    saved: dict[str, Path], secret: Path, tmp_path: Path, kind: str, compress: int
) -> None:
    make, reason = HOSTILE[kind]
    directory = tmp_path / "model"
    directory.mkdir()
    path = hostile_keras(saved["keras"], directory, make, secret, compress)
    before = path.read_bytes()
    _refused(["inspect", str(path)], KERNEL, reason)
    for target in ("o.safetensors", "o.keras", "o.onnx"):
        _refused(["convert", str(path), "-o", str(directory / target)], KERNEL, reason)
    assert sorted(p.name for p in directory.iterdir()) == ["m.keras"]
    assert path.read_bytes() == before


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_convert_s_own_openers_refuse_the_same_datasets_by_name(
    saved: dict[str, Path], secret: Path, tmp_path: Path, kind: str
) -> None:
    """convert's openers (h5py) refuse without the inspect reader's help."""
    from rnncalc.frameworks.keras_files import open_keras_archive, open_keras_h5

    make, reason = HOSTILE[kind]
    archive = hostile_keras(saved["keras"], tmp_path, make, secret, zipfile.ZIP_STORED)
    legacy = hostile_h5(saved["h5"], tmp_path, make, secret)
    for opener, path, name in ((open_keras_archive, archive, KERNEL), (open_keras_h5, legacy, LEGACY_KERNEL)):
        with pytest.raises(WeightFileError) as raised:
            opener(str(path))
        assert name in str(raised.value) and reason in str(raised.value)


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_legacy_h5_with_a_dataset_outside_it_is_refused_by_name(
    saved: dict[str, Path], secret: Path, tmp_path: Path, kind: str
) -> None:
    make, reason = HOSTILE[kind]
    directory = tmp_path / "model"
    directory.mkdir()
    path = hostile_h5(saved["h5"], directory, make, secret)
    _refused(["inspect", str(path)], LEGACY_KERNEL, reason)
    _refused(["convert", str(path), "-o", str(directory / "o.safetensors")], LEGACY_KERNEL, reason)
    assert sorted(p.name for p in directory.iterdir()) == ["m.h5"]


def test_the_rebuilt_file_is_read_when_its_kernel_is_an_ordinary_dataset(
    saved: dict[str, Path], secret: Path, tmp_path: Path
) -> None:
    """The rebuilding itself is not what the readers refuse: a plain kernel converts."""

    def plain(group: Any, name: str, shape: tuple[int, ...], secret: Path) -> None:
        group.create_dataset(name, data=np.ones(shape, dtype="<f4"))

    path = hostile_keras(saved["keras"], tmp_path, plain, secret, zipfile.ZIP_STORED)
    result = CliRunner().invoke(cli, ["convert", str(path), "-o", str(tmp_path / "o.safetensors")])
    assert result.exit_code == 0, result.output


# --- damaged metadata: one line, bounded, whatever h5py raises ------------------------------------


def _patched_member(saved: Path, target: Path, patch: Callable[[bytearray], None]) -> Path:
    """A copy of the archive ``saved`` whose weight member's bytes ``patch`` edits in place."""
    with zipfile.ZipFile(saved) as archive, zipfile.ZipFile(target, "w") as out:
        for info in archive.infolist():
            data = bytearray(archive.read(info))
            if info.filename == "model.weights.h5":
                patch(data)
            out.writestr(info, bytes(data))
    return target


def _heap_length(length: int) -> Callable[[bytearray], None]:
    def patch(data: bytearray) -> None:
        at = data.index(b"HEAP")  # the root group's local heap: its data segment size follows
        data[at + 8 : at + 16] = length.to_bytes(8, "little")

    return patch


def _tree_signature(data: bytearray) -> None:
    at = data.index(b"TREE")
    data[at : at + 4] = b"EERT"


@pytest.mark.parametrize(
    ("patch", "h5py_raises"),
    [
        (_heap_length(2**63), RuntimeError),
        (_heap_length(2**64 - 1), RuntimeError),
        (_heap_length(2**40), RuntimeError),
        (_tree_signature, RuntimeError),
    ],
    ids=["heap 2**63", "heap 2**64-1", "heap 1 TiB", "B-tree signature"],
)
def test_damaged_metadata_is_one_line_whatever_h5py_raises(
    saved: dict[str, Path], tmp_path: Path, patch: Callable[[bytearray], None], h5py_raises: type
) -> None:
    from rnncalc.io.hdf5_meta import Unsupported, read_datasets

    path = _patched_member(saved["keras"], tmp_path / "m.keras", patch)
    with zipfile.ZipFile(path) as archive:
        weights = archive.read("model.weights.h5")
    # The standard-library reader declines without allocating what the header claims...
    with pytest.raises(Unsupported):
        read_datasets(io.BytesIO(weights), "layers")
    # ... and h5py, which reads the file then, raises (RuntimeError for the B-tree: not OSError).
    with pytest.raises(h5py_raises), h5py.File(io.BytesIO(weights), "r") as handle:
        handle.visititems(lambda name, item: None)
    for args in (["inspect", str(path)], ["convert", str(path), "-o", str(tmp_path / "o.safetensors")]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "model.weights.h5 is not readable HDF5" in lines[0], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]
