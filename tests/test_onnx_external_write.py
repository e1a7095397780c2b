"""``rnncalc convert`` to ONNX past protobuf's 2 GiB: the model and an external data file
beside it (``DESTINATION.data``, as ``onnx.save(..., save_as_external_data=True)`` lays it out),
both moved into place whole. The limit is lowered here (``onnx_files.PROTOBUF_LIMIT``) so that
a small model takes that path; ``onnx.load``, ``onnx.checker`` and onnxruntime read the result,
and its outputs are the PyTorch module's. The real 2 GiB model runs under ``-m slow``
(tests/test_onnx_stream.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

from streaming import converted_pairs  # noqa: E402

from rnncalc.frameworks import onnx_files  # noqa: E402

X = np.random.default_rng(5).standard_normal((6, 2, 3)).astype(np.float32)


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any model over 2 KiB is written with external data (the GRU below: 3.4 KiB inline, its
    graph alone 1.2 KiB)."""
    monkeypatch.setattr(onnx_files, "PROTOBUF_LIMIT", 2048)


def state_dict(directory: Path) -> tuple[Path, Any]:
    torch.manual_seed(0)
    module = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    path = directory / "gru.pt"
    torch.save(module.state_dict(), path)
    return path, module


def assert_runs_as(path: Path, module: Any) -> None:
    """``onnx.load`` reads the external data, the checker passes the model by path, and
    onnxruntime's Y and Y_h are the module's output and final states."""
    stored = onnx.load(str(path), load_external_data=False).graph.initializer
    assert stored and all(t.data_location == onnx.TensorProto.EXTERNAL and not t.raw_data for t in stored)
    assert {e.value for t in stored for e in t.external_data if e.key == "location"} == {f"{path.name}.data"}
    onnx.checker.check_model(str(path), full_check=True)
    loaded = onnx.load(str(path))
    expected = dict(module.state_dict())
    assert sum(onnx.numpy_helper.to_array(t).size for t in loaded.graph.initializer) == sum(
        v.numel() for v in expected.values()
    )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    y, h = session.run(None, {"X": X})
    with torch.no_grad():
        output, h_n = module(torch.from_numpy(X))
    np.testing.assert_allclose(y.transpose(0, 2, 1, 3).reshape(6, 2, 8), output.numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(h, h_n.numpy(), atol=1e-6, rtol=0)


@pytest.mark.usefixtures("small_limit")
def test_a_model_over_the_limit_is_written_with_external_data_that_onnx_and_onnxruntime_run(
    run_cli: Callable[..., Any], run_json: Callable[..., Any], tmp_path: Path
) -> None:
    source, module = state_dict(tmp_path)
    destination = tmp_path / "gru.onnx"
    result = run_cli("convert", str(source), "-o", str(destination))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gru.onnx", "gru.onnx.data", "gru.pt"]
    assert destination.stat().st_size < 2048 < (tmp_path / "gru.onnx.data").stat().st_size
    assert_runs_as(destination, module)
    # rnncalc reads its own external data back: the count, and the values exactly.
    count = sum(p.numel() for p in module.parameters())
    assert run_json("inspect", str(destination))["total_params"] == count
    back = tmp_path / "back.pt"
    assert run_cli("convert", str(destination), "-o", str(back)).exit_code == 0
    again = torch.load(back, weights_only=True)
    for name, value in module.state_dict().items():
        assert torch.equal(again[name], value), name


@pytest.mark.usefixtures("small_limit")
def test_an_existing_data_file_is_replaced_only_with_force(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    source, module = state_dict(tmp_path)
    destination = tmp_path / "gru.onnx"
    data = tmp_path / "gru.onnx.data"
    data.write_bytes(b"someone else's data")
    result = run_cli("convert", str(source), "-o", str(destination))
    assert result.exit_code == 2
    assert result.stderr == f"rnncalc: error: -o: {data} exists; pass --force to replace it\n"
    assert data.read_bytes() == b"someone else's data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gru.onnx.data", "gru.pt"]
    assert run_cli("convert", str(source), "-o", str(destination), "--force").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gru.onnx", "gru.onnx.data", "gru.pt"]
    assert_runs_as(destination, module)


@pytest.mark.usefixtures("small_limit")
def test_a_write_that_fails_midway_leaves_neither_the_model_nor_its_data(tmp_path: Path) -> None:
    from rnncalc.convert import make_plan
    from rnncalc.io.atomic import atomic_path

    source, _ = state_dict(tmp_path)
    plan = make_plan(str(source), str(tmp_path / "gru.onnx"))

    def failing(pairs: Iterator[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
        yield next(pairs)
        yield next(pairs)
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"), atomic_path(plan.destination, False) as temporary:
        onnx_files.write_onnx(plan, failing(converted_pairs(plan)), temporary)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gru.pt"]


@pytest.mark.usefixtures("small_limit")
def test_the_external_data_writer_holds_one_tensor_at_a_time(tmp_path: Path) -> None:
    from streaming import one_at_a_time

    from rnncalc.convert import make_plan
    from rnncalc.io.atomic import atomic_path

    source, module = state_dict(tmp_path)
    plan = make_plan(str(source), str(tmp_path / "gru.onnx"))
    with atomic_path(plan.destination, False) as temporary:
        onnx_files.write_onnx(plan, one_at_a_time(converted_pairs(plan)), temporary)
    assert_runs_as(tmp_path / "gru.onnx", module)


@pytest.mark.usefixtures("small_limit")
def test_verify_of_a_model_past_the_protobuf_limit_runs_the_written_file_and_its_data(
    run_cli: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--verify`` runs the written model in an onnxruntime session on the file, which reads
    its external data: no in-memory model, which protobuf cannot hold past 2 GiB (lowered here
    for building one too, so that building it would fail)."""
    from rnncalc.frameworks import onnx as onnx_convention

    monkeypatch.setattr(onnx_convention, "PROTOBUF_LIMIT", 2048)
    source, module = state_dict(tmp_path)
    destination = tmp_path / "gru.onnx"
    result = run_cli("convert", str(source), "-o", str(destination), "--verify")
    assert result.exit_code == 0, result.stderr
    assert ", target file run by onnxruntime: " in result.stdout and result.stdout.endswith(": ok\n")
    assert (tmp_path / "gru.onnx.data").exists()
    assert_runs_as(destination, module)
