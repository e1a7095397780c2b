"""An independent cross-check of the ONNX convention with the graphs ``torch.onnx.export``
(TorchScript exporter, ``dynamo=False``) writes for PyTorch's own modules: recurrent operators,
their initializer shapes and attributes, and their numbers in onnxruntime."""

from __future__ import annotations

import io
import warnings
from typing import Any

import pytest

from rnncalc.core.spec import Cell, Nonlinearity, Spec
from rnncalc.frameworks.onnx import CONVENTION as ONNX

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

EXPORTED = {
    "lstm_2_layers": Spec(cell=Cell.LSTM, input_size=3, hidden_size=5, num_layers=2),
    "gru_bi_batch_first": Spec(
        cell=Cell.GRU, input_size=4, hidden_size=3, bidirectional=True, batch_first=True
    ),
    "rnn_relu_no_bias": Spec(
        cell=Cell.RNN, input_size=3, hidden_size=4, nonlinearity=Nonlinearity.RELU, bias=False
    ),
    "lstm_bi_2_layers": Spec(cell=Cell.LSTM, input_size=2, hidden_size=3, num_layers=2, bidirectional=True),
}


def _export(spec: Spec) -> tuple[Any, Any, Any]:
    """PyTorch's module for ``spec``, its exported ONNX model and an input (batch 2, time 4)."""
    from rnncalc.frameworks import torch as torch_adapter

    torch.manual_seed(0)
    module = torch_adapter.build(spec)
    x = torch.randn((2, 4, spec.input_size) if spec.batch_first else (4, 2, spec.input_size))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), buffer, dynamo=False)
    model = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(model, full_check=True)
    return module, model, x


@pytest.mark.parametrize("spec", EXPORTED.values(), ids=EXPORTED.keys())
def test_torch_onnx_export_writes_the_operators_the_report_describes(spec: Spec) -> None:
    _, model, _ = _export(spec)
    initializers = {i.name: tuple(i.dims) for i in model.graph.initializer}
    operators = [n for n in model.graph.node if n.op_type in ("RNN", "LSTM", "GRU")]
    layers = ONNX.report(spec).layers
    assert len(operators) == len(layers) == spec.num_layers
    for node, layer in zip(operators, layers, strict=True):
        assert node.op_type == layer.kind.split()[0]
        # Inputs X, W, R, then B or "" when there is no bias.
        shapes = [initializers.get(name) for name in node.input[1:4]]
        assert [s for s in shapes if s is not None] == [w.shape for w in layer.weights]
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attributes["hidden_size"] == spec.hidden_size
        assert attributes.get("direction", b"forward").decode() == (
            "bidirectional" if spec.bidirectional else "forward"
        )
        if spec.cell is Cell.GRU:
            assert attributes["linear_before_reset"] == 1
        if spec.nonlinearity is Nonlinearity.RELU:
            assert [a.decode() for a in attributes["activations"]] == ["Relu"] * spec.num_directions
    assert sum(_size(shape) for shape in initializers.values()) == ONNX.report(spec).total.value


def _size(shape: tuple[int, ...]) -> int:
    size = 1
    for dim in shape:
        size *= dim
    return size


@pytest.mark.parametrize("spec", EXPORTED.values(), ids=EXPORTED.keys())
def test_torchs_exported_graph_and_rnncalcs_graph_agree_on_torchs_weights(spec: Spec) -> None:
    """PyTorch's weights → canonical → ONNX's initializers (rnncalc's gate reorder and bias split).
    onnxruntime must give the same numbers for PyTorch's exported graph (its own conversion), for
    rnncalc's graph on the converted initializers, and the numpy reference in ONNX's layout."""
    from rnncalc.frameworks import torch as torch_adapter
    from rnncalc.frameworks.torch import CONVENTION as TORCH_CONVENTION

    module, model, x = _export(spec)
    sized = spec.replace(batch_size=2, seq_len=4)
    initializers = ONNX.from_canonical(
        sized, TORCH_CONVENTION.to_canonical(spec, torch_adapter.weights_numpy(module))
    )
    ours = ONNX.run_real(sized, initializers, x.numpy())
    expected = ONNX.reference_forward(sized, ONNX.to_canonical(sized, initializers), x.numpy())
    for name in ours:
        assert ours[name] == pytest.approx(expected[name], abs=1e-5), name
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    output, h_n = session.run(None, {session.get_inputs()[0].name: x.numpy()})[:2]
    # PyTorch's output is ONNX's Y with the directions concatenated; h_n is Y_h, time-major.
    y = ours["Y"]
    if spec.batch_first:  # Y [N, T, D, H] → [N, T, D*H]; Y_h [N, L*D, H] → [L*D, N, H]
        flat = y.reshape(y.shape[0], y.shape[1], -1)
        states = ours["Y_h"].transpose(1, 0, 2)
    else:  # Y [T, D, N, H] → [T, N, D*H]
        flat = y.transpose(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1)
        states = ours["Y_h"]
    assert output == pytest.approx(flat, abs=1e-5)
    assert h_n == pytest.approx(states, abs=1e-5)


def test_torch_onnx_export_refuses_a_projected_lstm_as_the_report_says() -> None:
    module = torch.nn.LSTM(3, 5, proj_size=2)
    with pytest.raises(Exception, match="projections"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(4, 2, 3),), io.BytesIO(), dynamo=False)
