"""ONNX files as both of PyTorch's exporters write them (``torch.onnx.export`` with
``dynamo=True``, the default, and ``dynamo=False``, TorchScript), at two opsets each, of a bare
recurrent module and of one inside a module that returns only its output.

The dynamo exporter keeps shape constants (a Reshape's shape, int64) and the zero initial
states as initializers: inspect must count the module's parameters only (``sum(p.numel())``,
from PyTorch), and convert must move the stack; each converted file is loaded by its own
framework and run, and its output equals the PyTorch module's (1e-5). The dynamo exporter
writes opset 18 and later itself (an earlier opset is a version conversion), the TorchScript
exporter 14 to 20.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")  # the dynamo exporter's translation

from test_convert_directions import BATCH, STEPS, TARGETS, _input  # noqa: E402

from rnncalc.convert import convert  # noqa: E402
from rnncalc.core.errors import ConversionError  # noqa: E402
from rnncalc.core.spec import Cell, Spec  # noqa: E402

#: (dynamo, opset): the dynamo exporter's own opsets start at 18.
EXPORTERS = ((True, 18), (True, 20), (False, 14), (False, 17))
CELLS = {Cell.RNN: "RNN", Cell.LSTM: "LSTM", Cell.GRU: "GRU"}
ATOL = 1e-5


class OutputOnly(torch.nn.Module):  # type: ignore[name-defined,misc]
    """A recurrent layer inside a module returning its output sequence only."""

    def __init__(self, recurrent: Any) -> None:
        super().__init__()
        self.encoder = recurrent

    def forward(self, x: Any) -> Any:
        return self.encoder(x)[0]


def spec_of(cell: Cell) -> Spec:
    """Two bidirectional layers: the first's input 3, the second's 2*4."""
    return Spec(cell=cell, input_size=3, hidden_size=4, num_layers=2, bidirectional=True)


def module_of(cell: Cell, wrapped: bool) -> Any:
    torch.manual_seed(0)
    recurrent = getattr(torch.nn, CELLS[cell])(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    return OutputOnly(recurrent) if wrapped else recurrent


def export(module: Any, path: Path, *, dynamo: bool, opset: int) -> None:
    """``torch.onnx.export`` of ``module`` on the batch-first input the targets run."""
    x = torch.from_numpy(_input(spec_of(Cell.LSTM)))
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(path), dynamo=dynamo, opset_version=opset)


def torch_output(module: Any) -> Any:
    with torch.no_grad():
        out = module(torch.from_numpy(_input(spec_of(Cell.LSTM))))
    return (out[0] if isinstance(out, tuple) else out).numpy()


def parameter_count(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())


def assert_exported_file_inspects_and_converts(
    run_json: Callable[..., Any], tmp_path: Path, cell: Cell, wrapped: bool, dynamo: bool, opset: int,
    targets: tuple[str, ...],
) -> None:  # fmt: skip
    module = module_of(cell, wrapped)
    source = tmp_path / "exported.onnx"
    export(module, source, dynamo=dynamo, opset=opset)
    assert onnx.load(str(source)).opset_import[0].version == opset
    document = run_json("inspect", str(source))
    assert document["total_params"] == parameter_count(module)
    assert document["other_params"] == 0
    expected = torch_output(module)
    for target in targets:
        suffix, load = TARGETS[target]
        destination = tmp_path / f"converted{suffix}"
        done = convert(str(source), str(destination))
        assert done.plan.spec.replace(batch_first=False) == spec_of(cell)
        got = load(spec_of(cell), destination, _input(spec_of(cell)))
        assert got.shape == expected.shape == (BATCH, STEPS, 8)
        np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)


#: Each exporter setting with each cell it writes as an operator, bare and wrapped taking
#: turns, converted to a PyTorch state dict; the dynamo opset 18 wrapped LSTM is the
#: every-target test below, the fuller sweep is under -m slow.
DEFAULT_CASES = [
    (Cell.GRU, False, True, 18),
    (Cell.LSTM, False, True, 20),
    (Cell.GRU, True, True, 20),
    (Cell.RNN, False, False, 14),
    (Cell.LSTM, True, False, 14),
    (Cell.GRU, False, False, 14),
    (Cell.RNN, True, False, 17),
    (Cell.LSTM, False, False, 17),
    (Cell.GRU, True, False, 17),
]


def case_id(case: tuple[Cell, bool, bool, int]) -> str:
    cell, wrapped, dynamo, opset = case
    exporter = "dynamo" if dynamo else "torchscript"
    return f"{exporter}-opset{opset}-{cell.value}-{'wrapped' if wrapped else 'bare'}"


@pytest.mark.parametrize(
    ("cell", "wrapped", "dynamo", "opset"), DEFAULT_CASES, ids=map(case_id, DEFAULT_CASES)
)
def test_an_exported_stack_counts_the_modules_parameters_and_converts_to_its_outputs(
    run_json: Callable[..., Any], tmp_path: Path, cell: Cell, wrapped: bool, dynamo: bool, opset: int
) -> None:
    assert_exported_file_inspects_and_converts(run_json, tmp_path, cell, wrapped, dynamo, opset, ("pt",))


def test_a_dynamo_export_converts_to_every_target_with_the_modules_outputs(
    run_json: Callable[..., Any], tmp_path: Path
) -> None:
    assert_exported_file_inspects_and_converts(run_json, tmp_path, Cell.LSTM, True, True, 18, tuple(TARGETS))


@pytest.mark.slow
@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "wrapped"])
@pytest.mark.parametrize("cell", [Cell.LSTM, Cell.GRU], ids=["lstm", "gru"])
@pytest.mark.parametrize(("dynamo", "opset"), EXPORTERS)
def test_every_exporter_setting_cell_and_wrapping_converts_to_every_target(
    run_json: Callable[..., Any], tmp_path: Path, cell: Cell, wrapped: bool, dynamo: bool, opset: int
) -> None:
    # Flax's GRUCell has no recurrent bias: a PyTorch GRU's nonzero b_hn is refused (convert.md).
    targets = tuple(target for target in TARGETS if not (cell is Cell.GRU and target == "flax"))
    assert_exported_file_inspects_and_converts(run_json, tmp_path, cell, wrapped, dynamo, opset, targets)


@pytest.mark.slow
@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "wrapped"])
@pytest.mark.parametrize("opset", [14, 17, 18, 20])
def test_every_torchscript_rnn_export_converts_to_every_target(
    run_json: Callable[..., Any], tmp_path: Path, wrapped: bool, opset: int
) -> None:
    assert_exported_file_inspects_and_converts(
        run_json, tmp_path, Cell.RNN, wrapped, False, opset, tuple(TARGETS)
    )


def test_a_dynamo_export_of_nn_rnn_has_no_operator_and_convert_says_why(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    """The dynamo exporter unrolls ``nn.RNN`` into MatMul/Add per time step (torch 2.13): no
    RNN operator holds the layer, so nothing is inferred and nothing is written."""
    source = tmp_path / "rnn.onnx"
    export(module_of(Cell.RNN, False), source, dynamo=True, opset=18)
    assert not any(node.op_type == "RNN" for node in onnx.load(str(source)).graph.node)
    result = run_cli("convert", str(source), "-o", str(tmp_path / "out.pt"))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "no LSTM, GRU or RNN operator" in result.stderr and "dynamo=False" in result.stderr
    assert not (tmp_path / "out.pt").exists()
    with pytest.raises(ConversionError, match="no recurrent layer"):
        convert(str(source), str(tmp_path / "out.pt"))


def test_integer_and_initial_state_initializers_are_constants_and_float_weights_of_any_op_are_not(
    run_json: Callable[..., Any], tmp_path: Path
) -> None:
    """Told apart by use, not by name: an int64 shape, int32 sequence lengths, a float initial
    state feeding LSTM's initial_h and initial_c and a float bound of Clip are constants; a
    float tensor feeding MatMul is a parameter even when named like a constant (``val_7``),
    and so is one no node uses."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = {
        "W": rng.standard_normal((1, 8, 3)).astype(np.float32),
        "R": rng.standard_normal((1, 8, 2)).astype(np.float32),
        "val_7": rng.standard_normal((2, 5)).astype(np.float32),
        "unused": np.ones(3, np.float32),
    }
    constants = {
        "h0": np.zeros((1, 1, 2), np.float32),
        "shape": np.array([4, 2], np.int64),
        "lens": np.array([4], np.int32),
        "bound": np.array(6.0, np.float32),
    }
    nodes = [
        helper.make_node("LSTM", ["X", "W", "R", "", "lens", "h0", "h0"], ["Y"], hidden_size=2),
        helper.make_node("Reshape", ["Y", "shape"], ["Y2"]),
        helper.make_node("MatMul", ["Y2", "val_7"], ["Z0"]),
        helper.make_node("Clip", ["Z0", "", "bound"], ["Z"]),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 1, 3])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [4, 5])],
        [numpy_helper.from_array(v, k) for k, v in {**weights, **constants}.items()],
    )  # fmt: skip
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), str(path))
    document = run_json("inspect", str(path))
    assert document["total_params"] == sum(v.size for v in weights.values())
    assert {t["name"] for t in document["tensors"]} == set(weights)
    assert any("h0, shape, lens, bound" in note for note in document["notes"])


def test_a_model_named_with_an_upper_case_extension_inspects_and_converts(
    run_json: Callable[..., Any], tmp_path: Path
) -> None:
    module = module_of(Cell.GRU, False)
    source = tmp_path / "MODEL.ONNX"
    export(module, source, dynamo=False, opset=17)
    document = run_json("inspect", str(source))
    assert (document["format"], document["total_params"]) == ("onnx", parameter_count(module))
    _, load = TARGETS["pt"]
    destination = tmp_path / "OUT.PT"
    convert(str(source), str(destination))
    got = load(spec_of(Cell.GRU), destination, _input(spec_of(Cell.GRU)))
    np.testing.assert_allclose(got, torch_output(module), atol=ATOL, rtol=0)
