"""rnncalc's msgpack reader against Flax's own (``flax.serialization.msgpack_restore``, which
is ``msgpack.unpackb`` with Flax's ext hook): for valid states and for mutated ones, both give
the same tensors (names, dtypes, shapes, values bit for bit) or both refuse, rnncalc in one line.

A state here is what Flax writes for a model: nested maps of numeric arrays. What Flax restores
that is no such state (a top-level scalar, a string leaf, a complex array) counts as Flax
refusing. Valid states are drawn by hypothesis, derandomized in the default suite; fresh seeds
run under ``pytest -m slow``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("flax")

import jax.numpy as jnp  # noqa: E402
from flax import serialization  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rnncalc.core.errors import ConversionError  # noqa: E402
from rnncalc.frameworks.flax_files import open_msgpack_state, read_msgpack_state  # noqa: E402
from rnncalc.io.tensors import WeightFileError  # noqa: E402

FAST = settings(derandomize=True, max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(derandomize=False, max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))

DTYPES = ["float32", "float16", "float64", "bfloat16", "int32", "uint8", "int64", "bool"]


def array(dtype: str, shape: tuple[int, ...], seed: int) -> Any:
    values = np.random.default_rng(seed).standard_normal(shape) * 100
    if dtype == "bfloat16":
        return np.asarray(jnp.asarray(values, dtype=jnp.bfloat16))
    return values.astype(dtype)


ARRAYS = st.builds(
    array,
    st.sampled_from(DTYPES),
    st.lists(st.integers(0, 5), max_size=3).map(tuple),  # () is a 0-dim array
    st.integers(0, 2**32 - 1),
)
NAMES = st.text(alphabet="abcdkernlbis_019", min_size=1, max_size=8)


def maps(children: Any) -> Any:
    """A map of str keys, or of integer keys as an ``nnx.List``'s (never both: Flax sorts them)."""
    return st.dictionaries(NAMES, children, max_size=4) | st.dictionaries(
        st.integers(0, 300), children, max_size=4
    )


STATES = st.recursive(st.dictionaries(NAMES, ARRAYS, min_size=1, max_size=4), maps, max_leaves=12)


def flax_reads(data: bytes) -> dict[str, Any] | None:
    """Flax's reading of ``data`` flattened to dotted names, or None when it refuses (or reads
    something that is not a state of numeric arrays)."""
    try:
        state = serialization.msgpack_restore(data)
    except Exception:
        return None
    if not isinstance(state, Mapping):
        return None
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Mapping[Any, Any]) -> bool:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, Mapping):
                if not walk(f"{name}.", value):
                    return False
            elif (
                not isinstance(value, np.ndarray | np.generic)
                or (value.dtype.kind not in "biuf" and value.dtype.name != "bfloat16")  # ml_dtypes: V
                or name in flat
            ):
                return False
            else:
                flat[name] = np.asarray(value)
        return True

    if not walk("", state):
        return None
    return flat


def moved(value: Any) -> bool:
    """True when convert moves ``value``: real floating point that float32 holds (1e39 would
    become inf, so convert refuses it by name)."""
    if value.dtype.kind != "f" and value.dtype.name != "bfloat16":
        return False
    with np.errstate(over="ignore"):
        return not (np.isfinite(value.astype(np.float32)) != np.isfinite(value)).any()


def converted(values: Any, name: str) -> Any:
    """An array as convert reads it: float32, or None where convert refuses an array that is not
    real floating point, by its name."""
    try:
        return np.array(values[name])
    except ConversionError as error:
        assert repr(name) in str(error) and "\n" not in str(error)
        return None


def rnncalc_reads(data: bytes, directory: str) -> dict[str, Any] | str:
    """rnncalc's reading of ``data``: name → (dtype, shape, float32 values), or its refusal."""
    path = Path(directory) / "state.msgpack"
    path.write_bytes(data)
    try:
        contents = read_msgpack_state(str(path))
        values = open_msgpack_state(str(path))
        return {t.name: (t.dtype, t.shape, converted(values, t.name)) for t in contents.tensors}
    except WeightFileError as error:
        return str(error)


def assert_same_reading(data: bytes) -> None:
    expected = flax_reads(data)
    with tempfile.TemporaryDirectory() as directory:
        got = rnncalc_reads(data, directory)
    if expected is None:
        assert isinstance(got, str), "Flax refuses what rnncalc reads"
        assert "\n" not in got and got.startswith(f"{directory}/state.msgpack: ")
        return
    assert not isinstance(got, str), got
    assert list(got) == list(expected)
    for name, value in expected.items():
        dtype, shape, read = got[name]
        assert (dtype, shape) == (value.dtype.name, value.shape), name
        assert (read is not None) == moved(value), name
        if read is None:
            continue
        assert read.dtype == np.float32
        np.testing.assert_array_equal(read, value.astype(np.float32))  # NaN where Flax has NaN


@FAST
@given(state=STATES, chunked=st.booleans())
def test_valid_states_are_read_as_flax_reads_them(state: dict[Any, Any], chunked: bool) -> None:
    # A small chunk size makes flax split arrays as it splits those over 1 GiB.
    with mock.patch.object(serialization, "MAX_CHUNK_SIZE", 16 if chunked else serialization.MAX_CHUNK_SIZE):
        data = serialization.msgpack_serialize(state)
    assert flax_reads(data) is not None
    assert_same_reading(data)


def mutated(data: bytes, kind: str, where: int, value: int) -> bytes:
    position = where % len(data)
    if kind == "truncated":
        return data[:position]
    if kind == "flipped":
        return data[:position] + bytes([data[position] ^ (value % 255 + 1)]) + data[position + 1 :]
    if kind == "huge length":  # four bytes of 0xff: a str, bin, map, ext length near 2**32
        return data[:position] + b"\xff\xff\xff\xff" + data[position + 4 :]
    return data[:position] + bytes([value % 256]) + data[position:]  # a byte inserted


MUTATIONS = st.tuples(
    st.sampled_from(["truncated", "flipped", "huge length", "inserted"]),
    st.integers(0, 2**16),
    st.integers(0, 2**16),
)


def assert_mutated_reads_the_same(state: dict[Any, Any], mutations: list[tuple[str, int, int]]) -> None:
    """``state`` as Flax writes it, with each of ``mutations`` applied, reads alike in both."""
    data = serialization.msgpack_serialize(state)
    for kind, where, value in mutations:
        data = mutated(data, kind, where, value) or data[:1]
    assert_same_reading(data)


@FAST
@given(state=STATES, mutations=st.lists(MUTATIONS, min_size=1, max_size=3))
def test_mutated_states_are_read_as_flax_reads_them_or_refused_by_both(
    state: dict[Any, Any], mutations: list[tuple[str, int, int]]
) -> None:
    assert_mutated_reads_the_same(state, mutations)


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("empty", b""),
        ("a bin32 declaring 4 GiB", b"\x81\xa1k\xc7\x10\x01\x93\x91\x01\xa7float32\xc6\xff\xff\xff\xff"),
        ("a map32 declaring 2**32 - 1 entries", b"\xdf\xff\xff\xff\xff"),
        ("an array32 shape of 2**32 - 1 dims", b"\x81\xa1k\xc9\xff\xff\xff\xff\x01\x93\xdd\xff\xff\xff\xff"),
        (
            "a key twice",
            b"\x82\xa1k\xd6\x01\x93\x90\xa4bool\xc4\x01\x01\xa1k\xd6\x01\x93\x90\xa4bool\xc4\x01\x00",
        ),
        ("a top-level array", serialization.msgpack_serialize(np.zeros(3, np.float32))),
        ("a string leaf", serialization.msgpack_serialize({"name": "lstm"})),
        ("a complex array", serialization.msgpack_serialize({"w": np.zeros(2, np.complex64)})),
        ("a float64 beyond float32", serialization.msgpack_serialize({"w": np.array([1.0, 1e39])})),
        ("a dtype numpy has no use for", b"\x81\xa1k\xd7\x01\x93\x91\x01\xa6object\xc4\x00"),
    ],
)
def test_hostile_states_are_read_as_flax_reads_them_or_refused_in_one_line(label: str, data: bytes) -> None:
    assert_same_reading(data)


def test_declared_lengths_allocate_nothing_before_they_are_checked(tmp_path: Path) -> None:
    import tracemalloc

    path = tmp_path / "huge.msgpack"
    # One ndarray ext whose bin claims 4 GiB of float32 values in a 40-byte file.
    path.write_bytes(
        b"\x81\xa1k\xc9\xff\xff\xff\xf0\x01\x93\x91\xce\x3f\xff\xff\xff\xa7float32\xc6\xff\xff\xff\xfc"
    )
    tracemalloc.start()
    with pytest.raises(WeightFileError, match="not a Flax msgpack state"):
        read_msgpack_state(str(path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 10_000_000


@pytest.mark.slow
@SLOW
@given(state=STATES, mutations=st.lists(MUTATIONS, min_size=1, max_size=3))
def test_mutated_states_agree_with_flax_at_length(
    state: dict[Any, Any], mutations: list[tuple[str, int, int]]
) -> None:
    assert_mutated_reads_the_same(state, mutations)


@pytest.mark.slow
@SLOW
@given(state=STATES, chunked=st.booleans())
def test_valid_states_agree_with_flax_at_length(state: dict[Any, Any], chunked: bool) -> None:
    with mock.patch.object(serialization, "MAX_CHUNK_SIZE", 16 if chunked else serialization.MAX_CHUNK_SIZE):
        data = serialization.msgpack_serialize(state)
    assert_same_reading(data)
