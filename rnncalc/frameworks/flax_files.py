"""Flax NNX's weight files for ``rnncalc convert``: the msgpack state Flax's checkpointing guide
writes without Orbax, read and written.

Imported by :class:`~rnncalc.frameworks.flax.FlaxConvention`'s file methods only, so that
importing the registry stays cheap. ``rnncalc inspect`` reads no Flax file: a state is
recognised by matching its names and shapes against the convention's report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rnncalc.core.errors import FrameworkMissingError
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
    paths ``nnx.to_flat_state`` gives (``layers.0.cell.dense_i.kernel``).

    The file is memory-mapped and its arrays found by :func:`~rnncalc.frameworks.flax_msgpack.scan`,
    each served as a view of its bytes (released page by page as a conversion moves on); a
    file the scan does not read (chunked arrays, other dtypes) is decoded whole by
    ``flax.serialization.msgpack_restore``."""
    import mmap

    import numpy as np

    from rnncalc.frameworks.flax_msgpack import NotScanned, scan
    from rnncalc.io.mapped import mapped

    try:
        with open(path, "rb") as handle:
            file_map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    except ValueError:  # an empty file cannot be mapped: msgpack_restore says what is wrong
        return _restored_msgpack_state(path)
    try:
        arrays = scan(file_map)
    except (NotScanned, RecursionError):
        return _restored_msgpack_state(path)

    def view(name: str) -> Any:
        """The array's values in the mapped file (not copied; None when it has none)."""
        offset, dtype, shape = arrays[name]
        values = np.frombuffer(file_map, dtype=dtype, count=math.prod(shape), offset=offset)
        return values.reshape(shape) if values.size else None

    def read(name: str) -> Any:
        values = view(name)
        if values is None:
            return np.zeros(arrays[name][2], dtype=np.float32)
        return mapped(values) if values.dtype == np.float32 else values

    return TensorData(list(arrays), read, lambda: None, view)


def _restored_msgpack_state(path: str) -> TensorData:
    """The state decoded whole by ``flax.serialization.msgpack_restore`` (any tree it reads)."""
    import numpy as np

    from rnncalc.frameworks.flax import CONVENTION

    serialization = require_module("flax.serialization", CONVENTION.install_hint, path)
    try:
        with open(path, "rb") as handle:
            state = serialization.msgpack_restore(handle.read())
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    except Exception as error:  # msgpack's errors share no base class with ours
        reason = str(error) or type(error).__name__  # msgpack's StackError says nothing
        raise WeightFileError(path, f"not a Flax msgpack state: {reason}") from None
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(f"{prefix}{key}.", value)
        else:
            flat[prefix.rstrip(".")] = node

    walk("", state)
    return TensorData(list(flat), lambda name: np.asarray(flat[name]), lambda: None)


def write_msgpack_state(plan: Plan, pairs: Pairs, path: str) -> None:
    """The bytes ``flax.serialization.msgpack_serialize(nnx.to_pure_dict(nnx.state(model,
    nnx.Param)))`` writes for the Flax convention's model holding ``pairs``; restore with
    ``nnx.replace_by_pure_dict`` and ``nnx.update`` (Flax's checkpointing guide, without Orbax).

    Neither the model nor the tree is built: the file's structure follows from the target's
    names and shapes (:func:`~rnncalc.frameworks.flax_msgpack.layout`), so it is written
    first and each array's values go to their place as they arrive (the file's key order,
    sorted, is not the report's), one tensor held at a time."""
    import numpy as np

    from rnncalc.convert.stream import target_rows
    from rnncalc.convert.write import checked
    from rnncalc.frameworks.flax import CONVENTION
    from rnncalc.frameworks.flax_msgpack import layout

    try:
        planned = layout(target_rows(plan))
    except ImportError:
        hint = CONVENTION.install_hint
        raise FrameworkMissingError(f"writing a Flax state needs msgpack: {hint}") from None
    with open(path, "wb") as handle:
        for offset, data in planned.pieces:
            handle.seek(offset)
            handle.write(data)
        for name, array in checked(plan, pairs):
            flat = np.ascontiguousarray(array, dtype=np.float32).reshape(-1)
            del array  # not held while the next tensor is made
            for offset, first, end in planned.arrays[name]:
                handle.seek(offset)
                handle.write(flat[first:end].data)
            del flat
