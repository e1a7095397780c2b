"""The ONNX facts the convention relies on, read from onnx's operator schemas and onnxruntime:
input order and optionality, the attributes rnncalc writes, and what onnxruntime refuses (so a
future release that lifts a limit fails here and the docs get updated)."""

from __future__ import annotations

import re

import pytest

from rnncalc.core.spec import Cell, Spec
from rnncalc.frameworks.onnx import CONVENTION as ONNX
from rnncalc.frameworks.onnx import OP_TYPES, OPSET

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")
np = pytest.importorskip("numpy")


@pytest.mark.parametrize("cell", list(Cell), ids=lambda c: c.value)
def test_the_operator_takes_x_w_r_and_an_optional_b_and_returns_y_and_y_h(cell: Cell) -> None:
    schema = onnx.defs.get_schema(OP_TYPES[cell], OPSET)
    optional = onnx.defs.OpSchema.FormalParameterOption.Optional
    inputs = [(i.name, i.option == optional) for i in schema.inputs]
    assert inputs[:4] == [("X", False), ("W", False), ("R", False), ("B", True)]
    outputs = [o.name for o in schema.outputs]
    assert outputs == (["Y", "Y_h", "Y_c"] if cell is Cell.LSTM else ["Y", "Y_h"])
    assert {"hidden_size", "direction", "layout", "activations"} <= set(schema.attributes)


def test_the_lstm_has_peepholes_and_the_gru_linear_before_reset_defaults_to_0() -> None:
    lstm = onnx.defs.get_schema("LSTM", OPSET)
    assert [i.name for i in lstm.inputs][-1] == "P"
    peepholes = next(i.description for i in lstm.inputs if i.name == "P")
    # onnx 1.23's text says "3*hidde_size" (sic).
    assert re.search(r"\[num_directions, 3\*hidde?n?_size\]", peepholes)
    gru = onnx.defs.get_schema("GRU", OPSET)
    assert gru.attributes["linear_before_reset"].default_value.i == 0
    # The reset gate's recurrent bias is added outside the product when linear_before_reset = 0.
    assert "(rt (.) Ht-1)*(Rh^T) + Rbh + Wbh" in gru.doc


def _single_operator(spec: Spec, layout: int, x_shape: list[int]) -> bytes:
    from onnx import helper, numpy_helper

    weights = {w.name: np.zeros(w.shape, np.float32) for w in ONNX.report(spec).weights}
    outputs = ["Y", "Y_h"]
    node = helper.make_node(
        OP_TYPES[spec.cell], ["X", *weights], outputs, hidden_size=spec.hidden_size, layout=layout
    )
    graph = helper.make_graph(
        [node],
        "probe",
        [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in outputs],
        [numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    return bytes(model.SerializeToString())


def test_onnxruntime_refuses_batch_first_operators() -> None:
    spec = Spec(cell=Cell.LSTM, input_size=3, hidden_size=2)
    with pytest.raises(Exception, match=r"layout == 1\) are not supported"):
        onnxruntime.InferenceSession(_single_operator(spec, 1, [2, 4, 3]), providers=["CPUExecutionProvider"])


def test_onnxruntime_refuses_an_input_without_a_batch_axis() -> None:
    spec = Spec(cell=Cell.GRU, input_size=3, hidden_size=2)
    with pytest.raises(Exception, match="rank 3"):
        onnxruntime.InferenceSession(_single_operator(spec, 0, [4, 3]), providers=["CPUExecutionProvider"])
