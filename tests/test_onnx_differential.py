"""rnncalc's ONNX reader (its protobuf wire walk, :mod:`rnncalc.io.protobuf_wire` and
:mod:`rnncalc.io.onnx_file`, and the tensor values ``convert`` reads) against ``onnx.load``.

A corpus of valid models written by ``onnx`` (several dtypes and shapes; ``raw_data``,
``float_data``, ``int64_data``, ``double_data``; external data beside the model), and the same
files mutated: truncated, bytes flipped, a length field set to a huge value. For each, rnncalc
and onnx give the same initializers (names, dims, types, and values as float32, exactly) or
both refuse; rnncalc refuses only with its one-line :class:`WeightFileError`, never another
exception. The library's reading is ``onnx.load`` with its external data, then
``numpy_helper.to_array`` of each initializer, whose shape must be its dims (ONNX's rule:
dimensions are not negative; its strings are UTF-8), as float32 (rnncalc's weights: a finite
value past its range is refused, not made inf), and ``helper.get_attribute_value`` of the
recurrent operators' attributes (which rnncalc reads too); bytes that parse as a model with an
empty graph (an empty file does) are not a model for either. Mutations are drawn by
hypothesis: the same cases every default run, fresh ones under ``-m slow``.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

np = pytest.importorskip("numpy")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from rnncalc.core.errors import ConversionError  # noqa: E402
from rnncalc.frameworks.onnx_files import open_onnx  # noqa: E402
from rnncalc.io.onnx_file import read_onnx  # noqa: E402
from rnncalc.io.protobuf_wire import LEN, WireError, fields  # noqa: E402
from rnncalc.io.tensors import WeightFileError  # noqa: E402


def initializers() -> list[Any]:
    rng = np.random.default_rng(11)
    values = rng.standard_normal((2, 3, 4))
    return [
        numpy_helper.from_array(values.astype(np.float32), "W"),
        numpy_helper.from_array(values[0].astype(np.float16), "half"),
        numpy_helper.from_array(values[1].astype(np.float64), "double"),
        numpy_helper.from_array(np.arange(-3, 5, dtype=np.int64), "int64"),
        numpy_helper.from_array(np.arange(6, dtype=np.int32).reshape(2, 3), "int32"),
        numpy_helper.from_array(np.array(2.5, np.float32), "scalar"),
        numpy_helper.from_array(np.zeros((0, 3), np.float32), "empty"),
        helper.make_tensor("float_data", TensorProto.FLOAT, (3, 4), values[0, :3].astype(np.float32).ravel()),
        helper.make_tensor("int64_data", TensorProto.INT64, (4,), [7, -1, 2**40, 0]),
        helper.make_tensor("double_data", TensorProto.DOUBLE, (2, 2), [0.5, -1.25, 3.0, 1e30]),
    ]


def model(tensors: list[Any]) -> Any:
    node = helper.make_node("LSTM", ["X", "W", "W"], ["Y"], hidden_size=1, name="lstm")
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 1, 4])], [], tensors
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def write_corpus(directory: Path) -> dict[str, Path]:
    """Every valid model of the corpus, each in its own directory (external data beside it)."""
    corpus = {}
    for name, external in (("inline", False), ("external", True)):
        folder = directory / name
        folder.mkdir()
        path = folder / "model.onnx"
        if external:
            onnx.save(model(initializers()), str(path), save_as_external_data=True,
                      location="model.onnx.data", size_threshold=0)  # fmt: skip
        else:
            onnx.save(model(initializers()), str(path))
        corpus[name] = path
    return corpus


def library(path: Path) -> dict[str, tuple[tuple[int, ...], str, Any]] | None:
    """What onnx reads: name → (dims, type, values as float32); None when it refuses."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for tensor in onnx.load(str(path), load_external_data=False).graph.initializer:
                entries = [text for entry in tensor.external_data for text in (entry.key, entry.value)]
                if any(isinstance(text, bytes) for text in (tensor.name, *entries)):
                    return None  # not UTF-8, which onnx.proto's strings are: protobuf gives bytes
            loaded = onnx.load(str(path))
            for node in loaded.graph.node:  # the recurrent operators' attributes, as rnncalc reads them
                if node.op_type in ("LSTM", "GRU", "RNN") and node.domain in ("", "ai.onnx"):
                    for attribute in node.attribute:
                        helper.get_attribute_value(attribute)
            if not loaded.graph.node and not loaded.graph.initializer:
                return None  # any bytes that parse to an empty graph (b""): not a model, for both
            found = {}
            for tensor in loaded.graph.initializer:
                values = numpy_helper.to_array(tensor)
                if values.shape != tuple(tensor.dims):
                    return None
                kind = TensorProto.DataType.Name(tensor.data_type).lower()
                single = np.asarray(values, dtype=np.float32)
                if np.any(np.isfinite(values) & ~np.isfinite(single)):
                    return None
                found[tensor.name] = (tuple(tensor.dims), kind, single)
            return found
    except Exception:
        return None


def rnncalc(path: Path) -> dict[str, tuple[tuple[int, ...], str, Any]] | None:
    """What rnncalc reads: inspect's tensors and convert's values; None when it refuses (with a
    WeightFileError of one line: any other exception fails the test)."""
    try:
        contents = read_onnx(str(path), onnx)
        data = open_onnx(str(path))
        try:
            values = {name: converted(data, name) for name in data}
        finally:
            data.close()
    except WeightFileError as error:
        assert "\n" not in str(error)
        return None
    return {tensor.name: (tensor.shape, tensor.dtype, values[tensor.name]) for tensor in contents.tensors}


#: The initializer types convert moves (as ``TensorProto.DataType.Name(...).lower()`` names them).
FLOATS = ("float", "float16", "bfloat16", "double")


def converted(data: Any, name: str) -> Any:
    """A tensor's values as convert reads them: float32, or None where convert refuses a tensor
    that is not real floating point, by its name."""
    try:
        return np.array(data[name])
    except ConversionError as error:
        assert repr(name) in str(error) and "\n" not in str(error)
        return None


def assert_agree(path: Path) -> bool:
    """Both read the same tensors, or both refuse; True when they read."""
    expected, got = library(path), rnncalc(path)
    assert (expected is None) == (got is None), f"onnx read {expected is not None}, rnncalc {got is not None}"
    if expected is None or got is None:
        return False
    assert list(got) == list(expected)
    for name, (dims, kind, values) in expected.items():
        assert got[name][:2] == (dims, kind), name
        if got[name][2] is None:
            assert kind not in FLOATS, name
            continue
        assert got[name][2].shape == values.shape and got[name][2].dtype == np.float32, name
        np.testing.assert_array_equal(got[name][2], values, err_msg=name)
    return True


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.mark.parametrize("name", ["inline", "external"])
def test_every_valid_model_of_the_corpus_reads_as_onnx_loads_it(corpus: dict[str, Path], name: str) -> None:
    assert assert_agree(corpus[name])
    assert {t.name for t in read_onnx(str(corpus[name]), onnx).tensors} == {t.name for t in initializers()}


def length_fields(data: bytes) -> list[tuple[int, int]]:
    """``(start, end)`` of every length varint of the model's, its graph's and its
    initializers' length-delimited fields: where a length edit lands."""
    found: list[tuple[int, int]] = []

    def walk(start: int, end: int, depth: int) -> None:
        for field in fields(data, start, end):
            if field.wire_type != LEN:
                continue
            key_end = field.begin + 1 if data[field.begin] < 0x80 else field.begin + 2
            found.append((key_end, field.start))
            if depth < 2 and field.number in (7, 5):  # ModelProto.graph, GraphProto.initializer
                walk(field.start, field.end, depth + 1)

    with contextlib.suppress(WireError):  # the edits so far may have broken the walk
        walk(0, len(data), 0)
    return found


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@st.composite
def mutations(draw: st.DrawFn, size: int) -> list[tuple[str, int, int]]:
    """A few edits of a file of ``size`` bytes: ``("flip", position, xor)``, ``("cut", length,
    0)`` or ``("length", index, value)`` (the index-th length field set to ``value``)."""
    edit = st.one_of(
        st.tuples(st.just("flip"), st.integers(0, size - 1), st.integers(1, 255)),
        st.tuples(st.just("cut"), st.integers(0, size - 1), st.just(0)),
        st.tuples(
            st.just("length"),
            st.integers(0, 200),
            st.sampled_from([0, 1, 2**31 - 1, 2**31, 2**32 + 3, 2**62, 2**64 - 1]),
        ),
    )
    return draw(st.lists(edit, min_size=1, max_size=3))


def mutated(data: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, where, value in edits:
        if kind == "flip" and where < len(out):
            out[where] ^= value
        elif kind == "cut":
            del out[where:]
        elif kind == "length":
            spans = length_fields(bytes(out))
            if spans:
                start, end = spans[where % len(spans)]
                out[start:end] = varint(value)
    return bytes(out)


def assert_mutation_agrees(
    source: Path, edits: list[tuple[str, int, int]], data_cut: int | None = None
) -> None:
    """The model at ``source`` edited, beside a copy of its external data (cut to ``data_cut``
    bytes when given), read both ways."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / source.name
        copy.write_bytes(mutated(source.read_bytes(), edits))
        data = source.parent / "model.onnx.data"
        if data.exists():
            shutil.copy(data, Path(folder) / data.name)
            if data_cut is not None:
                with open(Path(folder) / data.name, "r+b") as handle:
                    handle.truncate(data_cut)
        assert_agree(copy)


@pytest.mark.parametrize("cut", [0, 1, 95, 96, 303, 307])
def test_a_cut_external_data_file_reads_as_onnx_loads_it_or_both_refuse(
    corpus: dict[str, Path], cut: int
) -> None:
    """The data file cut short: inside a tensor or right after ``W`` (96), or inside the
    scalar (303, 307) that the empty tensor at 308, the file's end, follows."""
    assert (corpus["external"].parent / "model.onnx.data").stat().st_size == 308
    assert_mutation_agrees(corpus["external"], [], cut)


@pytest.mark.parametrize("name", ["inline", "external"])
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_a_mutated_model_reads_as_onnx_loads_it_or_both_refuse(
    corpus: dict[str, Path], name: str, data: st.DataObject
) -> None:
    source = corpus[name]
    assert_mutation_agrees(source, data.draw(mutations(source.stat().st_size)))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["inline", "external"])
# A busy machine slows the drawing of cases, not what is checked.
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_many_fresh_mutations_read_as_onnx_loads_them_or_both_refuse(
    corpus: dict[str, Path], name: str, data: st.DataObject
) -> None:
    source = corpus[name]
    assert_mutation_agrees(source, data.draw(mutations(source.stat().st_size)))


def test_a_double_beyond_float32s_range_is_refused_by_name_not_made_infinite(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    onnx.save(model([*initializers(), numpy_helper.from_array(np.array([1.0, 1e300]), "huge")]), str(path))
    assert library(path) is None
    data = open_onnx(str(path))
    assert data["double"].dtype == np.float32
    with pytest.raises(ConversionError, match="'huge' holds float64 values beyond float32's range"):
        data["huge"]
