"""Flax NNX's weight files for ``rnncalc convert``: the msgpack state Flax's checkpointing guide
writes without Orbax, read and written.

Imported by :class:`~rnncalc.frameworks.flax.FlaxConvention`'s file methods only, so that
importing the registry stays cheap. ``rnncalc inspect`` reads no Flax file: a state is
recognised by matching its names and shapes against the convention's report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rnncalc.core.errors import ConversionError
from rnncalc.io.tensor_data import TensorData, TensorFormat
from rnncalc.io.tensors import WeightFileError, require_module

if TYPE_CHECKING:
    from rnncalc.convert.plan import Plan
    from rnncalc.convert.write import Pairs


def tensor_formats() -> tuple[TensorFormat, ...]:
    """Msgpack states, read and written (``--to flax``)."""
    return (
        TensorFormat("flax msgpack", "Flax NNX state (flax.serialization msgpack)", (".msgpack",),
                     open_msgpack_state, target="flax", write=write_msgpack_state),
    )  # fmt: skip


def open_msgpack_state(path: str) -> TensorData:
    """A Flax NNX state written by ``flax.serialization.msgpack_serialize`` of
    ``nnx.to_pure_dict(nnx.state(model, nnx.Param))``: nested dicts flattened to the dotted
    paths ``nnx.to_flat_state`` gives (``layers.0.cell.dense_i.kernel``)."""
    import numpy as np

    from rnncalc.frameworks.flax import CONVENTION

    serialization = require_module("flax.serialization", CONVENTION.install_hint, path)
    try:
        with open(path, "rb") as handle:
            state = serialization.msgpack_restore(handle.read())
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    except Exception as error:  # msgpack's errors share no base class with ours
        raise WeightFileError(path, f"not a Flax msgpack state: {error}") from None
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(f"{prefix}{key}.", value)
        else:
            flat[prefix.rstrip(".")] = node

    walk("", state)
    return TensorData(list(flat), lambda name: np.asarray(flat[name], dtype=np.float32), lambda: None)


def write_msgpack_state(plan: Plan, pairs: Pairs, path: str) -> None:
    """``flax.serialization.msgpack_serialize(nnx.to_pure_dict(nnx.state(model, nnx.Param)))``
    of the Flax convention's model; restore with ``nnx.replace_by_pure_dict`` and
    ``nnx.update`` (Flax's checkpointing guide, without Orbax)."""
    import jax.numpy as jnp
    from flax import nnx, serialization

    from rnncalc.convert.write import checked
    from rnncalc.frameworks.flax import CONVENTION

    arrays = dict(checked(plan, pairs))
    model = CONVENTION.build(plan.spec)
    state = nnx.state(model, nnx.Param)
    for key, variable in nnx.to_flat_state(state):
        variable.set_value(jnp.asarray(arrays.pop(".".join(map(str, key)))))
    if arrays:
        raise ConversionError(f"internal: the Flax model has no parameter {next(iter(arrays))}")
    with open(path, "wb") as handle:
        handle.write(serialization.msgpack_serialize(nnx.to_pure_dict(state)))
