"""A Flax NNX module in memory, read from its attributes: each ``nnx.RNN`` (or
``nnx.Bidirectional``) under any attribute path is a recurrent layer whose spec its cell states
(``in_features``, ``hidden_features``, the cell's class, a ``SimpleCell``'s ``activation_fn``,
the ``merge_fn``), checked against the state's parameters (``nnx.state(module, nnx.Param)``),
which are named by their dotted paths as a msgpack state's nested dicts flatten
(``encoder.cell.ii.kernel``). The parameters of anything else stay among the other tensors.

Imported by :meth:`~rnncalc.core.convention.Convention.read_object` for an object whose class
comes from ``flax``: Flax is imported already.
"""

from __future__ import annotations

import inspect
from typing import Any

from rnncalc.core.spec import Cell, MergeMode, Nonlinearity
from rnncalc.frameworks.flax import CONVENTION
from rnncalc.frameworks.inspection import (
    Inspection,
    LiveObject,
    RecurrentLayer,
    label,
    layer_for,
    spec_or_none,
    type_name,
)
from rnncalc.io.tensor_data import TensorData
from rnncalc.io.tensors import FileContents, Tensor


def read_object(obj: Any) -> LiveObject:
    """The parameters by dotted path, and a recurrent layer for each recurrent module."""
    from flax import nnx

    if not isinstance(obj, nnx.Module):
        raise TypeError(f"rnncalc reads a Flax nnx.Module, not {type_name(obj)}")
    values = {
        ".".join(str(key) for key in path): variable.value
        for path, variable in nnx.to_flat_state(nnx.state(obj, nnx.Param))
    }
    tensors = tuple(Tensor(name, tuple(int(d) for d in v.shape), str(v.dtype)) for name, v in values.items())
    by_name = {tensor.name: tensor for tensor in tensors}
    modules = list(nnx.iter_modules(obj))
    # The RNNs of a Bidirectional are read with it, not on their own.
    held = {id(m.forward_rnn) for _, m in modules if isinstance(m, nnx.Bidirectional)}
    held |= {id(m.backward_rnn) for _, m in modules if isinstance(m, nnx.Bidirectional)}
    recurrent: list[RecurrentLayer] = []
    notes: list[str] = []
    for path, module in modules:
        if not isinstance(module, (nnx.RNN, nnx.Bidirectional)) or id(module) in held:
            continue
        prefix = ".".join(str(key) for key in path)
        fields, why = _fields(module, nnx)
        spec = spec_or_none(fields) if fields else None
        if spec is None:
            notes.append(f"{prefix or '(top level)'} ({type(module).__name__}): {why or 'not a valid spec'}; "
                         "left among the other tensors")  # fmt: skip
            continue
        rows = [row for layer in CONVENTION.report(spec).layers for row in layer.weights]
        names = [f"{prefix}.{row.path}" if prefix else row.path for row in rows]
        if any(
            by_name.get(name) is None or by_name[name].shape != row.shape
            for name, row in zip(names, rows, strict=True)
        ):
            model = CONVENTION.model_name(spec)
            label_ = prefix or "(top level)"
            notes.append(f"{label_}: its parameters are not those of {model}; left among the other tensors")
            continue
        recurrent.append(layer_for(prefix, spec, tuple(by_name[name] for name in names)))
    order = {tensor.name: index for index, tensor in enumerate(tensors)}
    recurrent.sort(key=lambda layer: order[layer.tensors[0].name])
    inspection = Inspection(
        file=label(obj),
        format="flax.nnx.Module",
        convention="flax",
        tensors=tensors,
        recurrent=tuple(recurrent),
        notes=tuple(notes),
    )

    def read(name: str) -> Any:
        import numpy as np

        return np.asarray(values[name], dtype=np.float32)

    return LiveObject(
        inspection, TensorData(list(values), read, lambda: None), "flax msgpack", FileContents(tensors)
    )


def _fields(module: Any, nnx: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Spec fields from an ``nnx.RNN``'s or ``nnx.Bidirectional``'s attributes, or why not."""
    bidirectional = isinstance(module, nnx.Bidirectional)
    rnns = (module.forward_rnn, module.backward_rnn) if bidirectional else (module,)
    found = [_cell_fields(rnn, nnx, bidirectional) for rnn in rnns]
    why = next((reason for fields, reason in found if fields is None), None)
    if why is not None:
        return None, why
    if bidirectional and found[0] != found[1]:
        return None, "its two directions differ"
    fields = {**(found[0][0] or {}), "bidirectional": bidirectional}  # stated, as a saved state's reader does
    if bidirectional:
        # The merges Flax's convention builds (frameworks/flax.py, _build_layer); its default
        # concatenates.
        import jax.numpy as jnp

        merges = {
            id(
                inspect.signature(nnx.Bidirectional.__init__).parameters["merge_fn"].default
            ): MergeMode.CONCAT,
            id(jnp.add): MergeMode.SUM,
            id(jnp.multiply): MergeMode.MUL,
        }
        merge = merges.get(id(module.merge_fn))
        if merge is None:
            return (
                None,
                f"merge_fn {getattr(module.merge_fn, '__name__', '?')!r} is not one rnncalc describes",
            )
        fields.update(bidirectional=True, merge_mode=merge)
    return fields, None


def _cell_fields(rnn: Any, nnx: Any, in_bidirectional: bool) -> tuple[dict[str, Any] | None, str | None]:
    """Spec fields from one ``nnx.RNN``'s cell: its class (exactly ``SimpleCell``, ``LSTMCell``
    or ``GRUCell``, whose parameters the convention describes), sizes and activations."""
    cells = {nnx.SimpleCell: Cell.RNN, nnx.LSTMCell: Cell.LSTM, nnx.GRUCell: Cell.GRU}
    cell = rnn.cell
    kind = cells.get(type(cell))
    if kind is None:
        return None, f"its cell {type(cell).__name__} is not one rnncalc describes"
    if rnn.reverse and not in_bidirectional:
        return None, "reverse=True: one direction, run from the last step to the first"
    fields: dict[str, Any] = {
        "cell": kind,
        "hidden_size": cell.hidden_features,
        "input_size": cell.in_features,
    }
    if kind is Cell.RNN:
        if getattr(cell, "residual", False):
            return None, "residual=True adds the input to the new state, which rnncalc does not describe"
        nonlinearity = {id(nnx.tanh): Nonlinearity.TANH, id(nnx.relu): Nonlinearity.RELU}.get(
            id(cell.activation_fn)
        )
        if nonlinearity is None:
            return None, f"activation_fn {getattr(cell.activation_fn, '__name__', '?')!r} is not tanh or relu"
        fields["nonlinearity"] = nonlinearity
    elif cell.gate_fn is not nnx.sigmoid or cell.activation_fn is not nnx.tanh:
        return None, "its gate_fn or activation_fn is not Flax's default (sigmoid, tanh)"
    return fields, None
