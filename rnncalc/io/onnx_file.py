"""Read an ONNX model's initializers and recurrent nodes with the ``onnx`` package.

External data (tensors stored beside the ``.onnx`` file) is not loaded: an initializer's dims
are in the graph itself, so its size is known without its bytes.
"""

from __future__ import annotations

from rnncalc.io.tensors import FileContents, Node, Tensor, WeightFileError, require_module

ONNX_HINT = "pip install 'rnncalc[inspect]' (or pip install onnx)"
#: ONNX operators holding a recurrent layer (https://onnx.ai/onnx/operators/).
RECURRENT_OPS = ("LSTM", "GRU", "RNN")


def read_onnx(path: str) -> FileContents:
    """The initializers (as tensors) and the LSTM/GRU/RNN nodes of an ONNX model."""
    onnx = require_module("onnx", ONNX_HINT)
    try:
        model = onnx.load(path, load_external_data=False)
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    except Exception as error:  # protobuf's DecodeError and onnx's own errors share no base class
        raise WeightFileError(path, f"not a readable ONNX model: {type(error).__name__}: {error}") from None
    graph = model.graph
    if not graph.node and not graph.initializer:
        raise WeightFileError(path, "not an ONNX model: the graph has no nodes and no initializers")
    tensors = tuple(
        Tensor(
            init.name,
            tuple(int(d) for d in init.dims),
            onnx.TensorProto.DataType.Name(init.data_type).lower(),
        )
        for init in graph.initializer
    )
    negative = next((tensor for tensor in tensors if any(d < 0 for d in tensor.shape)), None)
    if negative is not None:
        raise WeightFileError(
            path, f"initializer {negative.name!r} has a negative dimension {negative.shape}"
        )
    nodes = tuple(
        Node(
            name=node.name,
            op_type=node.op_type,
            inputs=tuple(node.input),
            attributes={a.name: _attribute(onnx.helper.get_attribute_value(a)) for a in node.attribute},
        )
        for node in graph.node
        if node.op_type in RECURRENT_OPS and node.domain in ("", "ai.onnx")
    )
    return FileContents(format="onnx", convention="onnx", tensors=tensors, nodes=nodes)


def _attribute(value: object) -> object:
    """Attribute values as plain Python: bytes become text, repeated values lists."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [_attribute(item) for item in value]
    return value
