"""The streaming ONNX writer: the bytes ``onnx.save`` writes for the whole model, written one
tensor at a time, checked by ``onnx.checker`` and run by onnxruntime; a model over protobuf's
2 GiB written with external data (-m slow; tests/test_onnx_external_write.py lowers the limit)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

from click.testing import CliRunner  # noqa: E402
from streaming import converted_pairs, one_at_a_time  # noqa: E402

from rnncalc.cli import cli  # noqa: E402
from rnncalc.convert import make_plan  # noqa: E402
from rnncalc.core.errors import ConversionError  # noqa: E402
from rnncalc.core.spec import Cell, Nonlinearity, Spec  # noqa: E402
from rnncalc.frameworks import get  # noqa: E402
from rnncalc.frameworks.onnx import build, spec_graph  # noqa: E402
from rnncalc.frameworks.onnx_files import onnx_layout, write_onnx  # noqa: E402
from rnncalc.frameworks.writing import Plan, target_rows  # noqa: E402

SPECS = [
    Spec(cell=Cell.LSTM, input_size=3, hidden_size=4, num_layers=2, bidirectional=True),
    Spec(cell=Cell.GRU, input_size=5, hidden_size=6, batch_first=True, bias=False, reset_after=False),
    Spec(cell=Cell.RNN, input_size=2, hidden_size=3, num_layers=3, nonlinearity=Nonlinearity.RELU),
]


def onnx_plan(spec: Spec) -> Plan:
    """A plan writing ``spec`` to ONNX; the writer reads only its spec and target."""
    from rnncalc.frameworks.writing import Source

    convention = get("onnx")
    target = convention.tensor_formats()[0]
    source = Source("source", target, convention, spec, ())
    return Plan(source, "model.onnx", target, convention)


def random_weights(plan: Plan) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    return {name: rng.uniform(-1, 1, shape).astype(np.float32) for name, shape in target_rows(plan)}


def run_onnx(model: str | bytes, x: Any) -> list[Any]:
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    return list(session.run(None, {"X": x}))


def write_streamed(spec: Spec, directory: Path) -> tuple[Any, dict[str, Any], Path]:
    """The plan, random weights and the file the streaming writer made of them."""
    plan = onnx_plan(spec)
    weights = random_weights(plan)
    path = directory / "streamed.onnx"
    write_onnx(plan, iter(weights.items()), str(path))
    return plan, weights, path


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.cell.value)
def test_the_streamed_file_is_byte_for_byte_the_model_onnx_save_writes(spec: Spec, tmp_path: Path) -> None:
    plan, weights, path = write_streamed(spec, tmp_path)
    whole = build(spec_graph(spec), weights)
    onnx.save(whole, tmp_path / "whole.onnx")
    assert path.read_bytes() == (tmp_path / "whole.onnx").read_bytes()
    assert path.stat().st_size == onnx_layout(plan).size


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.cell.value)
def test_the_streamed_file_passes_the_checker_loads_its_weights_and_runs(spec: Spec, tmp_path: Path) -> None:
    _, weights, path = write_streamed(spec, tmp_path)
    onnx.checker.check_model(str(path), full_check=True)
    loaded = onnx.load(path)
    assert [init.name for init in loaded.graph.initializer] == list(weights)
    for init in loaded.graph.initializer:
        np.testing.assert_array_equal(onnx.numpy_helper.to_array(init), weights[init.name])
    assert spec.input_size is not None
    x = np.random.default_rng(4).standard_normal((2, 3, spec.input_size)).astype(np.float32)
    whole = build(spec_graph(spec), weights).SerializeToString()
    for streamed, expected in zip(run_onnx(str(path), x), run_onnx(whole, x), strict=True):
        np.testing.assert_array_equal(streamed, expected)


def test_a_pytorch_checkpoint_converts_into_onnx_one_tensor_at_a_time(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    source = tmp_path / "gru.pt"
    torch.save(module.state_dict(), source)
    plan = make_plan(str(source), str(tmp_path / "gru.onnx"))
    write_onnx(plan, one_at_a_time(converted_pairs(plan)), plan.destination)
    x = np.random.default_rng(5).standard_normal((6, 2, 3)).astype(np.float32)
    y, h = run_onnx(plan.destination, x)
    expected, expected_h = module(torch.from_numpy(x))
    # Y is [time, directions, batch, hidden]; PyTorch concatenates the directions.
    np.testing.assert_allclose(y.transpose(0, 2, 1, 3).reshape(6, 2, 8), expected.detach(), atol=1e-6)
    np.testing.assert_allclose(h, expected_h.detach(), atol=1e-6)


def sparse_state_dict(path: Path, hidden: int) -> None:
    """A safetensors ``nn.LSTM(hidden, hidden)`` state dict of zeros, as a sparse file: the
    header written, the data a hole (https://github.com/huggingface/safetensors, "Format")."""
    header: dict[str, Any] = {}
    offset = 0
    for name, shape in (
        ("weight_ih_l0", [4 * hidden, hidden]),
        ("weight_hh_l0", [4 * hidden, hidden]),
        ("bias_ih_l0", [4 * hidden]),
        ("bias_hh_l0", [4 * hidden]),
    ):
        size = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(text)) + text)
        handle.truncate(8 + len(text) + offset)


@pytest.mark.slow
def test_a_model_over_protobufs_2_gib_is_written_with_its_weights_in_external_data(tmp_path: Path) -> None:
    # W and R of an LSTM with 8192 inputs and units are 1 GiB each: over 2**31 - 1 bytes.
    source = tmp_path / "big.safetensors"
    sparse_state_dict(source, 8192)
    destination = tmp_path / "big.onnx"
    result = CliRunner().invoke(cli, ["convert", str(source), "-o", str(destination), "--no-verify"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.onnx", "big.onnx.data", "big.safetensors"]
    weights = 4 * (2 * 4 * 8192 * 8192 + 2 * 4 * 8192)  # W, R and B, float32
    assert weights <= (tmp_path / "big.onnx.data").stat().st_size < weights + 3 * 4096
    assert destination.stat().st_size < 4096
    onnx.checker.check_model(str(destination))
    stored = onnx.load(str(destination), load_external_data=False).graph.initializer
    assert [tuple(t.dims) for t in stored] == [(1, 32768, 8192), (1, 32768, 8192), (1, 65536)]
    assert all(t.data_location == onnx.TensorProto.EXTERNAL for t in stored)


# --- The reader: initializers mapped from the file ----------------------------------------------


def assert_reads_what_onnx_loads(path: Path) -> None:
    """Every initializer ``open_onnx`` serves equals ``numpy_helper.to_array`` of ``onnx.load``'s
    (as float32; one of integers is refused by name); float32 ones with ``raw_data`` are windows
    onto the file, not loaded copies."""
    from rnncalc.frameworks.onnx_files import open_onnx
    from rnncalc.io.mapped import MappedArray

    model = onnx.load(path, load_external_data=False)
    data = open_onnx(str(path))
    assert list(data) == [init.name for init in model.graph.initializer]
    for init in model.graph.initializer:
        expected = onnx.numpy_helper.to_array(init, base_dir=str(path.parent))
        if expected.dtype.kind != "f":  # convert moves floating-point values only: by name
            refused = f"tensor '{init.name}' is {expected.dtype.name}: "
            with pytest.raises(ConversionError, match=refused):
                data[init.name]
            continue
        value = data[init.name]
        np.testing.assert_array_equal(value, expected.astype(np.float32))
        assert value.dtype == np.float32
        if init.data_type == onnx.TensorProto.FLOAT and init.raw_data:
            assert isinstance(value, MappedArray)
    data.close()


def test_the_reader_maps_a_torch_onnx_export_from_the_file(tmp_path: Path) -> None:
    import io
    import warnings

    torch.manual_seed(0)
    module = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(5, 2, 3),), buffer, dynamo=False)
    (tmp_path / "export.onnx").write_bytes(buffer.getvalue())
    assert_reads_what_onnx_loads(tmp_path / "export.onnx")


def test_the_reader_maps_rnncalcs_own_file(tmp_path: Path) -> None:
    plan = onnx_plan(SPECS[0])
    write_onnx(plan, iter(random_weights(plan).items()), str(tmp_path / "own.onnx"))
    assert_reads_what_onnx_loads(tmp_path / "own.onnx")


def test_the_reader_decodes_every_other_storage_of_an_initializer(tmp_path: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(6)
    values = rng.standard_normal((3, 4))
    initializers = [
        numpy_helper.from_array(values.astype(np.float16), "half"),
        numpy_helper.from_array(values, "double"),
        numpy_helper.from_array(np.arange(6, dtype=np.int64), "integers"),
        helper.make_tensor("float_data", TensorProto.FLOAT, (3, 4), values.astype(np.float32).ravel()),
        numpy_helper.from_array(np.zeros((0, 4), np.float32), "empty"),
        numpy_helper.from_array(values.astype(np.float32), "external"),
    ]
    graph = helper.make_graph([], "g", [], [], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    # onnx.save writes the tensors marked external beside the model.
    onnx.external_data_helper.set_external_data(model.graph.initializer[-1], "weights.bin")
    model.graph.initializer[-1].data_location = TensorProto.EXTERNAL
    onnx.save(model, tmp_path / "stored.onnx")
    stored = onnx.load(tmp_path / "stored.onnx", load_external_data=False)
    assert [init.data_location for init in stored.graph.initializer] == [0] * 5 + [1]
    assert_reads_what_onnx_loads(tmp_path / "stored.onnx")


def test_the_reader_merges_a_graph_given_twice_as_protobuf_does(tmp_path: Path) -> None:
    # Two serialized ModelProtos end to end are one message whose graphs merge (protobuf
    # encoding, "Last One Wins": embedded messages are merged, repeated fields concatenated).
    from onnx import helper, numpy_helper

    parts = []
    for name in ("first", "second"):
        value = np.full((2, 2), len(name), np.float32)
        graph = helper.make_graph([], "g", [], [], [numpy_helper.from_array(value, name)])
        parts.append(helper.make_model(graph).SerializeToString())
    (tmp_path / "twice.onnx").write_bytes(b"".join(parts))
    assert [i.name for i in onnx.load(tmp_path / "twice.onnx").graph.initializer] == ["first", "second"]
    assert_reads_what_onnx_loads(tmp_path / "twice.onnx")


def test_a_truncated_model_is_refused_as_onnx_load_refuses_it(tmp_path: Path) -> None:
    from rnncalc.io.onnx_file import read_onnx
    from rnncalc.io.tensors import WeightFileError

    plan = onnx_plan(SPECS[0])
    write_onnx(plan, iter(random_weights(plan).items()), str(tmp_path / "whole.onnx"))
    cut = tmp_path / "cut.onnx"
    cut.write_bytes((tmp_path / "whole.onnx").read_bytes()[:-700])  # inside the last tensor
    with pytest.raises(Exception) as loaded:
        onnx.load(cut)
    with pytest.raises(WeightFileError) as read:
        read_onnx(str(cut), onnx)
    why = f"{type(loaded.value).__name__}: {loaded.value}"
    assert str(read.value) == f"{cut}: not a readable ONNX model: {why}"


# --- The wire format, against protobuf's own encoder -------------------------------------------


@settings(derandomize=True, max_examples=200)
@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_varints_are_what_protobuf_writes_and_read_back(value: int) -> None:
    from rnncalc.io.protobuf_wire import VARINT, Field, fields, read_varint, varint

    # TensorProto.dims is a repeated int64, field 1, not packed in onnx.proto (proto2): key, varint.
    encoded = onnx.TensorProto(dims=[value]).SerializeToString()
    assert encoded == bytes([1 << 3 | VARINT]) + varint(value)
    assert read_varint(encoded, 1, len(encoded)) == (value, len(encoded))
    assert list(fields(encoded, 0, len(encoded))) == [Field(1, VARINT, 0, 1, len(encoded), value)]


def test_a_length_delimited_field_is_framed_as_protobuf_frames_it_and_cut_short_is_an_error() -> None:
    from rnncalc.io.protobuf_wire import LEN, Field, WireError, fields, length_prefix

    encoded = onnx.TensorProto(name="weights").SerializeToString()  # TensorProto.name: field 8
    assert encoded == length_prefix(8, 7) + b"weights"
    assert list(fields(encoded, 0, len(encoded))) == [Field(8, LEN, 0, 2, 9)]
    with pytest.raises(WireError):
        list(fields(encoded, 0, len(encoded) - 1))
