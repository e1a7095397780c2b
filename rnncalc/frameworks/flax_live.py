"""A Flax NNX module in memory, read as the msgpack state of its parameters
(``nnx.state(module, nnx.Param)``) is read by ``rnncalc convert``: the stack is the spec whose
Flax report has exactly the state's paths and shapes, and the module's attributes say what the
shapes do not (a ``SimpleCell``'s ``activation_fn``).

Imported by :meth:`~rnncalc.core.convention.Convention.read_object` for an object whose class
comes from ``flax``: Flax is imported already.
"""

from __future__ import annotations

from typing import Any

from rnncalc.convert.match import match_stack
from rnncalc.core.spec import Cell, Nonlinearity
from rnncalc.frameworks.flax import CONVENTION
from rnncalc.inspect.common import layer_for
from rnncalc.inspect.live import LiveObject, label, type_name
from rnncalc.inspect.model import Inspection
from rnncalc.io.tensor_data import TensorData
from rnncalc.io.tensors import Tensor

#: The note :func:`~rnncalc.convert.match.match_stack` adds where the weights leave an RNN's
#: nonlinearity open, which a live ``nnx.SimpleCell`` states.
ASSUMED = "nonlinearity (tanh or relu) is not recorded in the weights; tanh assumed"


def read_object(obj: Any) -> LiveObject:
    """The parameters by dotted path (``layers.0.cell.dense_i.kernel``, the names a msgpack
    state's nested dicts flatten to), matched against the Flax convention's report."""
    from flax import nnx

    if not isinstance(obj, nnx.Module):
        raise TypeError(f"rnncalc reads a Flax nnx.Module, not {type_name(obj)}")
    values = {
        ".".join(str(key) for key in path): variable.value
        for path, variable in nnx.to_flat_state(nnx.state(obj, nnx.Param))
    }
    tensors = tuple(Tensor(name, tuple(int(d) for d in v.shape), str(v.dtype)) for name, v in values.items())
    matched = match_stack(CONVENTION, {tensor.name: tensor.shape for tensor in tensors})
    file = label(obj)
    recurrent, notes = [], []
    if matched is None:
        notes.append("the parameters are not one Flax NNX recurrent stack as rnncalc builds it")
    else:
        spec, assumed = matched
        activation = _activation(obj, nnx)
        if spec.cell is Cell.RNN and activation is not None:
            spec = spec.replace(nonlinearity=activation)
            assumed = tuple(note for note in assumed if note != ASSUMED)
        by_name = {tensor.name: tensor for tensor in tensors}
        ordered = tuple(
            by_name[row.path] for layer in CONVENTION.report(spec).layers for row in layer.weights
        )
        recurrent.append(layer_for("", spec, ordered, assumed))
    inspection = Inspection(
        file=file,
        format="flax.nnx.Module",
        convention="flax",
        tensors=tensors,
        recurrent=tuple(recurrent),
        notes=tuple(notes),
    )

    def read(name: str) -> Any:
        import numpy as np

        return np.asarray(values[name], dtype=np.float32)

    return LiveObject(inspection, TensorData(list(values), read, lambda: None), "flax msgpack")


def _activation(obj: Any, nnx: Any) -> Nonlinearity | None:
    """The nonlinearity every ``nnx.SimpleCell`` in ``obj`` applies, when all apply the same one
    rnncalc knows (``nnx.tanh``, the default, or ``nnx.relu``); else None."""
    known = {id(nnx.tanh): Nonlinearity.TANH, id(nnx.relu): Nonlinearity.RELU}
    found = {
        known.get(id(module.activation_fn))
        for _, module in nnx.iter_modules(obj)
        if isinstance(module, nnx.SimpleCell)
    }
    return found.pop() if len(found) == 1 else None
