"""rnncalc's HDF5 readers against h5py, on files h5py writes and on those files damaged.

Valid files (float16/32/64, shapes with and without zeros, contiguous, chunked, compact and
filtered layouts) must give the same names, shapes and dtypes from the standard-library reader
(:func:`rnncalc.io.hdf5_meta.read_datasets`) as from h5py, and the same values, exactly, from
convert's opener (:func:`rnncalc.frameworks.keras_files.open_keras_h5`, which maps contiguous
float32 datasets from the file) as from h5py. Damaged files (truncated, a byte changed, an
8-byte field set to a huge number) must give the same, or be refused: the standard-library
reader declines (``Unsupported``, then h5py reads the file) or refuses (``Refused``) and never
raises anything else, and what it lists is what h5py lists; convert's opener raises the
one-line :class:`~rnncalc.io.tensors.WeightFileError` where h5py fails, and reads the values h5py
reads where it does not.

Not held: that the standard-library reader declines every file HDF5 refuses. It reads the
messages it needs; about 2% of random one-byte damages land in what HDF5 checks and it does not
(attributes, fill values, reserved bytes of an object header), and ``inspect`` then lists the
shapes it read while ``convert``, which reads through h5py, refuses the file in one line.

Hypothesis draws the files: the same cases every run in the default suite, fresh ones under
``pytest -m slow``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnncalc.io.hdf5_meta import Refused, Unsupported, read_datasets
from rnncalc.io.tensors import WeightFileError

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

GROUP = "model_weights"
LAYOUTS = ("contiguous", "chunked", "compact", "gzip", "shuffle+fletcher32")
Listing = list[tuple[str, tuple[int, ...], str]]


@st.composite
def datasets(draw: Any) -> list[tuple[str, Any, str]]:
    """(name, values, layout) of one to nine datasets in groups one to three deep."""
    found = []
    for index in range(draw(st.integers(1, 9))):
        dtype = draw(st.sampled_from(["<f2", "<f4", "<f8", ">f4"]))
        shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=3)))
        layout = draw(st.sampled_from(LAYOUTS))
        if not shape or 0 in shape:
            layout = "contiguous" if layout != "compact" else "compact"
        values = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape) * np.asarray(0.37 + index, dtype)
        depth = draw(st.integers(1, 3))
        name = "/".join([f"layer_{index}", *(["cell", "vars"][: depth - 1]), str(index)])
        found.append((name, values, layout))
    return found


def write(path: Path, content: list[tuple[str, Any, str]]) -> None:
    with h5py.File(path, "w") as handle:
        group = handle.create_group(GROUP)
        for name, values, layout in content:
            options: dict[str, Any] = {}
            if layout == "compact":
                space = (
                    h5py.h5s.create_simple(values.shape) if values.shape else h5py.h5s.create(h5py.h5s.SCALAR)
                )
                plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
                plist.set_layout(h5py.h5d.COMPACT)
                parent = group.require_group(name.rpartition("/")[0]) if "/" in name else group
                leaf = name.rpartition("/")[2]
                dataset = h5py.h5d.create(
                    parent.id, leaf.encode(), h5py.h5t.py_create(values.dtype), space, plist
                )
                dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(values))
                continue
            if layout != "contiguous":
                options["chunks"] = tuple(max(1, d // 2) for d in values.shape)
            if layout == "gzip":
                options["compression"] = "gzip"
            if layout == "shuffle+fletcher32":
                options.update(shuffle=True, fletcher32=True)
            group.create_dataset(name, data=values, **options)


def h5py_listing(data: bytes) -> Listing:
    """What h5py lists under the group: every dataset found by visiting, then opened by name
    (as Keras and rnncalc open them)."""
    with h5py.File(io.BytesIO(data), "r") as handle:
        if GROUP not in handle:
            return []
        names: list[str] = []
        handle[GROUP].visititems(
            lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None
        )
        found = []
        for name in names:
            item = handle[f"{GROUP}/{name}"]
            found.append((f"{GROUP}/{name}", tuple(int(d) for d in item.shape), str(item.dtype)))
        return sorted(found)


def h5py_values(path: Path) -> dict[str, Any]:
    with h5py.File(path, "r") as handle:
        if GROUP not in handle:
            return {}
        names: list[str] = []
        handle[GROUP].visititems(
            lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None
        )
        return {
            f"{GROUP}/{name}": np.asarray(handle[f"{GROUP}/{name}"][()], dtype=np.float32) for name in names
        }


def own_listing(data: bytes) -> Listing:
    """The standard-library reader's listing, in h5py's dtype names."""
    return sorted((t.name, t.shape, t.dtype) for t in read_datasets(io.BytesIO(data), GROUP))


def own_values(path: Path) -> dict[str, Any]:
    from rnncalc.frameworks.keras_files import open_keras_h5

    data = open_keras_h5(str(path))
    try:
        return {name: np.array(data[name]) for name in data}
    finally:
        data.close()


def _same_values(first: dict[str, Any], second: dict[str, Any]) -> None:
    assert list(first) == list(second) or sorted(first) == sorted(second)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


def check_valid(path: Path) -> None:
    data = path.read_bytes()
    assert own_listing(data) == h5py_listing(data)
    _same_values(own_values(path), h5py_values(path))


def _mutations(size: int) -> Any:
    """A damage to a file of ``size`` bytes: (kind, position, value)."""
    return st.one_of(
        st.tuples(st.just("truncate"), st.integers(0, size - 1), st.just(0)),
        st.tuples(st.just("byte"), st.integers(0, size - 1), st.integers(0, 255)),
        st.tuples(
            st.just("field"),
            st.integers(0, size - 8),
            st.sampled_from([0, 1, 2**31, 2**32 - 1, 2**40, 2**63, 2**64 - 1, size, size + 1]),
        ),
    )


def damaged(data: bytes, mutation: tuple[str, int, int]) -> bytes:
    kind, at, value = mutation
    if kind == "truncate":
        return data[:at]
    changed = bytearray(data)
    if kind == "byte":
        changed[at] = value
    else:
        changed[at : at + 8] = value.to_bytes(8, "little")
    return bytes(changed)


def check_damaged(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        expected: Listing | None = h5py_listing(data)
    except Exception:  # h5py maps HDF5's errors to any of several exceptions
        expected = None
    try:
        listing: Listing | None = own_listing(data)
    except (Unsupported, Refused):
        listing = None
    if listing is not None and expected is not None:
        assert listing == expected
    try:
        values: dict[str, Any] | None = h5py_values(path)
    except Exception:
        values = None
    try:
        got: dict[str, Any] | None = own_values(path)
    except WeightFileError as error:
        assert "\n" not in str(error)
        got = None
    if values is None:
        assert got is None
    elif got is not None:
        _same_values(got, values)


SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(content=datasets())
def test_valid_files_read_as_h5py_reads_them(tmp_path: Path, content: list[tuple[str, Any, str]]) -> None:
    path = tmp_path / "valid.h5"
    write(path, content)
    check_valid(path)


@SETTINGS
@given(content=datasets(), data=st.data())
def test_damaged_files_read_as_h5py_reads_them_or_are_refused(
    tmp_path: Path, content: list[tuple[str, Any, str]], data: Any
) -> None:
    path = tmp_path / "valid.h5"
    write(path, content)
    original = path.read_bytes()
    for _ in range(8):
        mutation = data.draw(_mutations(len(original)))
        check_damaged(tmp_path / "damaged.h5", damaged(original, mutation))


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(content=datasets(), data=st.data())
def test_many_damaged_files_read_as_h5py_reads_them_or_are_refused(
    tmp_path: Path, content: list[tuple[str, Any, str]], data: Any
) -> None:
    path = tmp_path / "valid.h5"
    write(path, content)
    original = path.read_bytes()
    check_valid(path)
    for _ in range(20):
        check_damaged(tmp_path / "damaged.h5", damaged(original, data.draw(_mutations(len(original)))))


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
def test_keras_saved_files_and_their_damaged_copies_read_as_h5py_reads_them(
    tmp_path: Path, dtype: str
) -> None:
    keras = pytest.importorskip("keras")
    model = keras.Sequential(
        [
            keras.Input((5, 3)),
            keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True, dtype=dtype)),
            keras.layers.GRU(6, dtype=dtype),
            keras.layers.Dense(2, dtype=dtype),
        ]
    )
    path = tmp_path / "m.h5"
    model.save(path)
    check_valid(path)
    original = path.read_bytes()
    for at in range(0, len(original), max(1, len(original) // 40)):
        check_damaged(tmp_path / "damaged.h5", damaged(original, ("byte", at, original[at] ^ 0x41)))
        check_damaged(tmp_path / "damaged.h5", damaged(original, ("truncate", at, 0)))
