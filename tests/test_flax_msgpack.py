"""Flax msgpack states written a tensor at a time are the bytes ``flax.serialization`` writes,
and read lazily they hold what ``flax.serialization.msgpack_restore`` reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("flax")

import msgpack
from flax import nnx, serialization
from streaming import converted_pairs, one_at_a_time

from rnncalc.convert import make_plan
from rnncalc.core.errors import ConversionError
from rnncalc.core.spec import Cell, MergeMode, Nonlinearity, Spec
from rnncalc.frameworks import flax_msgpack
from rnncalc.frameworks.flax import CONVENTION as FLAX
from rnncalc.frameworks.flax_files import open_msgpack_state, write_msgpack_state
from rnncalc.frameworks.writing import Plan, target_rows
from rnncalc.io.mapped import MappedArray
from rnncalc.io.tensors import WeightFileError

SPECS = {
    # Eleven layers: the nnx.List's integer keys sort 0, 1, 2, ..., 10, not as strings.
    "11-layer GRU": Spec(cell=Cell.GRU, hidden_size=3, input_size=2, num_layers=11),
    "LSTM": Spec(cell=Cell.LSTM, hidden_size=5, input_size=4),
    "2-layer ReLU RNN": Spec(
        cell=Cell.RNN, hidden_size=40, input_size=30, num_layers=2, nonlinearity=Nonlinearity.RELU
    ),
    "summed bidirectional LSTM": Spec(
        cell=Cell.LSTM, hidden_size=70, input_size=6, bidirectional=True, merge_mode=MergeMode.SUM
    ),
}  # fmt: skip


def flax_state(spec: Spec, seed: int = 2) -> Any:
    """The Flax model's parameter state, every value drawn at random."""
    state = nnx.state(FLAX.build(spec, seed=1), nnx.Param)
    rng = np.random.default_rng(seed)
    for _, variable in nnx.to_flat_state(state):
        variable.set_value(rng.uniform(-0.5, 0.5, variable.shape).astype(np.float32))
    return state


def flax_bytes(state: Any) -> bytes:
    """What Flax's checkpointing guide (without Orbax) writes for ``state``."""
    return serialization.msgpack_serialize(nnx.to_pure_dict(state))  # type: ignore[no-any-return]


def flat_values(state: Any) -> dict[str, Any]:
    return {
        ".".join(map(str, key)): np.asarray(variable.get_value())
        for key, variable in nnx.to_flat_state(state)
    }


def flax_plan(state: Any, directory: Path) -> Plan:
    """A plan from ``state``'s Flax file to another ``.msgpack`` file (the writer is given the
    values, never this file)."""
    source = directory / "source.msgpack"
    source.write_bytes(flax_bytes(state))
    return make_plan(str(source), str(directory / "target.msgpack"))


def in_report_order(plan: Plan, values: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """``values`` as a conversion yields them, each a fresh copy (so that holding one is seen)."""
    for name, _ in target_rows(plan):
        yield name, values[name].copy()


def restored_flat(path: Path) -> dict[str, Any]:
    """``msgpack_restore`` of the file, flattened to dotted names."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}{key}.", value)
        else:
            flat[prefix.rstrip(".")] = node

    walk("", serialization.msgpack_restore(path.read_bytes()))
    return flat


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_the_streamed_state_is_byte_for_byte_what_flax_serializes(spec: Spec, tmp_path: Path) -> None:
    state = flax_state(spec)
    plan = flax_plan(state, tmp_path)
    path = tmp_path / "written.msgpack"
    write_msgpack_state(plan, one_at_a_time(in_report_order(plan, flat_values(state))), str(path))
    assert path.read_bytes() == flax_bytes(state)


def test_flax_splits_arrays_at_the_chunk_size_rnncalc_splits_them_at() -> None:
    assert flax_msgpack.MAX_CHUNK_SIZE == serialization.MAX_CHUNK_SIZE


def test_arrays_over_the_chunk_size_are_written_in_flax_s_chunks(tmp_path: Path, monkeypatch: Any) -> None:
    spec = SPECS["summed bidirectional LSTM"]  # (6, 70) kernels of 1680 bytes, (70, 70) of 19600
    state = flax_state(spec)
    plan = flax_plan(state, tmp_path)
    for module in (serialization, flax_msgpack):
        monkeypatch.setattr(module, "MAX_CHUNK_SIZE", 1000)  # 250 values a chunk, 79 for a (70, 70)
    path = tmp_path / "chunked.msgpack"
    write_msgpack_state(plan, one_at_a_time(in_report_order(plan, flat_values(state))), str(path))
    expected = flax_bytes(state)
    assert b"__msgpack_chunked_array__" in expected
    assert path.read_bytes() == expected


def test_a_pytorch_checkpoint_converts_to_flax_s_bytes_one_tensor_at_a_time(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.LSTM(5, 7, bidirectional=True)
    source = tmp_path / "lstm.pt"
    torch.save(module.state_dict(), source)
    plan = make_plan(str(source), str(tmp_path / "lstm.msgpack"))
    path = tmp_path / "streamed.msgpack"
    write_msgpack_state(plan, one_at_a_time(converted_pairs(plan)), str(path))
    # Flax's own file for the same values: the model built, each parameter set, serialized.
    values = dict(converted_pairs(plan))
    state = nnx.state(FLAX.build(plan.spec), nnx.Param)
    for key, variable in nnx.to_flat_state(state):
        variable.set_value(values[".".join(map(str, key))])
    assert path.read_bytes() == flax_bytes(state)


@pytest.mark.parametrize("length", [1, 2, 3, 4, 8, 15, 16, 17, 255, 256, 65535, 65536])
def test_ext_and_bin_headers_are_the_ones_msgpack_packs(length: int) -> None:
    payload = bytes(length)
    assert flax_msgpack.ext_header(length, 1) + payload == msgpack.packb(msgpack.ExtType(1, payload))
    assert flax_msgpack.bin_header(length) + payload == msgpack.packb(payload, use_bin_type=True)


def written_by_flax(tmp_path: Path) -> dict[str, Path]:
    """Files ``flax.serialization`` wrote: models' states, and a tree of other dtypes."""
    import jax.numpy as jnp

    files = {}
    for label, spec in SPECS.items():
        files[label] = tmp_path / f"{label}.msgpack"
        files[label].write_bytes(flax_bytes(flax_state(spec)))
    rng = np.random.default_rng(3)
    tree = {
        "half": rng.standard_normal((3, 5)).astype(np.float16),
        "double": {"7": rng.standard_normal(300).astype(np.float64)},  # a str key that is digits
        "empty": {},
        "long": rng.standard_normal((2, 70000)).astype(np.float32),  # an ext32 and a bin32
        "brain": jnp.asarray(rng.standard_normal((4, 3)), dtype=jnp.bfloat16),
        "scalar": np.ones((), np.float32),  # a 0-dim array (an ndarray ext, not a scalar's)
        "steps": np.arange(5, dtype=np.int32),
    }
    files["float types"] = tmp_path / "floats.msgpack"
    files["float types"].write_bytes(serialization.msgpack_serialize(tree))
    return files


def test_the_lazy_reader_finds_every_array_of_files_flax_wrote(tmp_path: Path) -> None:
    for label, path in written_by_flax(tmp_path).items():
        expected = restored_flat(path)
        data = open_msgpack_state(str(path))
        assert list(data) == list(expected), label
        assert set(flax_msgpack.scan(path.read_bytes())) == set(expected), label
        for name, value in expected.items():
            if value.dtype.kind != "f" and value.dtype.name != "bfloat16":  # convert moves floats only
                with pytest.raises(ConversionError, match=f"'{name}' is {value.dtype.name}"):
                    data[name]
                continue
            read = data[name]
            assert read.dtype == np.float32 and read.shape == value.shape, (label, name)
            # A float32 array is the file's bytes, marked so that convert lets its pages go.
            assert isinstance(read, MappedArray) == (value.dtype == np.float32), (label, name)
            np.testing.assert_array_equal(read, value.astype(np.float32))
            data.release(name)
            np.testing.assert_array_equal(read, value.astype(np.float32))  # paged in again


@pytest.mark.parametrize("kind", ["chunked", "numpy scalar", "more entries than the scan walks"])
def test_files_the_scan_does_not_read_are_restored_whole_by_flax(
    kind: str, tmp_path: Path, monkeypatch: Any
) -> None:
    rng = np.random.default_rng(4)
    tree: dict[str, Any]
    if kind == "chunked":
        monkeypatch.setattr(serialization, "MAX_CHUNK_SIZE", 100)
        tree = {"cell": {"kernel": rng.standard_normal((9, 7)).astype(np.float32)}}
    elif kind == "numpy scalar":  # flax packs an np.generic as ext 3, which the scan leaves
        tree = {"cell": {"kernel": rng.standard_normal((9, 7)).astype(np.float32)}, "scale": np.float32(2)}
    else:
        monkeypatch.setattr(flax_msgpack, "MAX_ENTRIES", 1)
        tree = {"cell": {"kernel": rng.standard_normal((9, 7)).astype(np.float32)}}
    path = tmp_path / f"{kind}.msgpack"
    path.write_bytes(serialization.msgpack_serialize(tree))
    with pytest.raises(flax_msgpack.NotScanned):
        flax_msgpack.scan(path.read_bytes())
    data = open_msgpack_state(str(path))
    assert next(iter(data)) == "cell.kernel"
    np.testing.assert_array_equal(data["cell.kernel"], np.asarray(tree["cell"]["kernel"], dtype=np.float32))


@pytest.mark.parametrize("damage", ["truncated", "trailing bytes", "empty"])
def test_a_damaged_state_is_refused_with_msgpack_s_reason(damage: str, tmp_path: Path) -> None:
    whole = flax_bytes(flax_state(SPECS["LSTM"]))
    path = tmp_path / "damaged.msgpack"
    path.write_bytes({"truncated": whole[:-3], "trailing bytes": whole + b"\x00", "empty": b""}[damage])
    with pytest.raises(WeightFileError, match="not a Flax msgpack state"):
        open_msgpack_state(str(path))
