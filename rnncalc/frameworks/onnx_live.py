"""An ``onnx.ModelProto`` in memory, read as the ``.onnx`` file it would be saved to is read:
its initializers and recurrent nodes, the values served from the message itself.

Imported by :meth:`~rnncalc.core.convention.Convention.read_object` for an object whose class
comes from ``onnx``: onnx is imported already.
"""

from __future__ import annotations

from typing import Any

from rnncalc.frameworks.inspection import Inspection, LiveObject, label, type_name
from rnncalc.frameworks.onnx_files import find_layers, recorded_parts
from rnncalc.io.onnx_file import model_contents
from rnncalc.io.tensor_data import TensorData
from rnncalc.io.tensors import WeightFileError


def read_object(obj: Any) -> LiveObject:
    """The model's initializers (as tensors) and its LSTM/GRU/RNN nodes."""
    import onnx
    from onnx import numpy_helper

    if not isinstance(obj, onnx.ModelProto):
        raise TypeError(f"rnncalc reads an onnx.ModelProto, not {type_name(obj)}")
    file = label(obj)
    contents = model_contents(file, obj, onnx)
    recurrent, notes, tensors, owners = find_layers(file, contents)
    inspection = Inspection(
        file=file,
        format="onnx.ModelProto",
        convention="onnx",
        tensors=tensors,
        recurrent=tuple(recurrent),
        notes=tuple(notes),
        layer_of=owners,
        order=contents.order,
        recorded=recorded_parts(contents),
    )
    initializers = {init.name: init for init in obj.graph.initializer}

    def read(name: str) -> Any:
        import numpy as np

        initializer = initializers[name]
        if initializer.data_location == onnx.TensorProto.EXTERNAL:
            raise WeightFileError(file, f"initializer {name!r} keeps its values in an external file")
        return np.asarray(numpy_helper.to_array(initializer), dtype=np.float32)

    return LiveObject(inspection, TensorData(list(initializers), read, lambda: None), "onnx", contents)
