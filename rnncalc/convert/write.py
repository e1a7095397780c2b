"""Write converted tensors in the target's file format, atomically.

Every writer receives the target's ``(name, array)`` pairs in report order. ``.safetensors``
is written by a small standard-library writer as the pairs arrive (the header is known in
advance from the target's report), so it holds one layer at a time; ``torch.save``,
``model.save`` (Keras), the ONNX protobuf and Flax's msgpack need the whole state at once.

Files are written to a temporary file in the destination's directory and moved into place
only when complete (``os.link`` without ``--force``, which fails rather than replace a file
that appeared meanwhile; ``os.replace`` with it): an interrupted run leaves no half file.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import tempfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rnncalc.core.errors import ConversionError, SpecError

if TYPE_CHECKING:
    import numpy as np

    from rnncalc.convert.plan import Plan

    Pairs = Iterator[tuple[str, np.ndarray[Any, Any]]]


@contextlib.contextmanager
def atomic_path(destination: str, force: bool) -> Iterator[str]:
    """A temporary path beside ``destination`` to write to; moved onto it when the block ends
    without error, removed otherwise (also on KeyboardInterrupt)."""
    directory = os.path.dirname(os.path.abspath(destination))
    name = os.path.basename(destination)
    # Keep the extension: Keras refuses to save to a path that does not end in .keras.
    handle, temporary = tempfile.mkstemp(
        prefix=f".{name}.", suffix=f".partial{os.path.splitext(name)[1]}", dir=directory
    )
    os.close(handle)
    try:
        yield temporary
        if force:
            os.replace(temporary, destination)
        else:
            try:
                os.link(temporary, destination)
            except FileExistsError:
                raise SpecError("-o", f"{destination} exists; pass --force to replace it") from None
            os.unlink(temporary)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def write(plan: Plan, pairs: Pairs, path: str) -> None:
    """Write ``pairs`` to ``path`` in ``plan``'s target format."""
    WRITERS[plan.target.format](plan, pairs, path)


def _checked(plan: Plan, pairs: Pairs) -> Pairs:
    """``pairs`` with each name and shape checked against the target's report, in order."""
    from rnncalc.convert.stream import target_rows

    rows = target_rows(plan)
    count = 0
    for (name, array), (expected, shape) in zip(pairs, rows, strict=True):
        if name != expected or tuple(array.shape) != shape:
            raise ConversionError(
                f"internal: produced {name} {array.shape}, the target needs {expected} {shape}"
            )
        count += 1
        yield name, array
    assert count == len(rows)


def write_safetensors(plan: Plan, pairs: Pairs, path: str) -> None:
    """The safetensors format (https://github.com/huggingface/safetensors, "Format"): an 8-byte
    little-endian header length, the JSON header (padded with spaces to a multiple of 8, as the
    library writes it), then each tensor's little-endian bytes in header order."""
    import numpy as np

    from rnncalc.convert.stream import target_rows

    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in target_rows(plan):
        size = 4 * int(np.prod(shape, dtype=np.int64))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(text)))
        handle.write(text)
        for _, array in _checked(plan, pairs):
            handle.write(np.ascontiguousarray(array, dtype="<f4").data)


def write_torch(plan: Plan, pairs: Pairs, path: str) -> None:
    """``torch.save`` of the state dict ``load_state_dict(strict=True)`` accepts."""
    import torch

    state = {name: torch.from_numpy(array) for name, array in _checked(plan, pairs)}
    torch.save(state, path)


def write_keras(plan: Plan, pairs: Pairs, path: str) -> None:
    """The Keras convention's model (input ``(batch, time, features)``, any batch and length)
    with the weights assigned, saved with ``model.save``."""
    from rnncalc.frameworks import keras as keras_convention

    arrays = dict(_checked(plan, pairs))
    # Every layer returns its whole sequence, as nn.LSTM, the ONNX operators and nnx.RNN do.
    model = keras_convention.build(plan.spec.replace(return_sequences=True))
    for variable in model.weights:
        variable.assign(arrays.pop(variable.path))
    if arrays:
        raise ConversionError(f"internal: the Keras model has no variable {next(iter(arrays))}")
    model.save(path)


def write_onnx(plan: Plan, pairs: Pairs, path: str) -> None:
    """The ONNX convention's graph (one operator per layer, dynamic batch and time) with the
    weights as initializers."""
    import onnx

    from rnncalc.frameworks import onnx as onnx_convention

    arrays = dict(_checked(plan, pairs))
    onnx.save(onnx_convention.build(onnx_convention.spec_graph(plan.spec), arrays), path)


def write_flax(plan: Plan, pairs: Pairs, path: str) -> None:
    """``flax.serialization.msgpack_serialize(nnx.to_pure_dict(nnx.state(model, nnx.Param)))``
    of the Flax convention's model; restore with ``nnx.replace_by_pure_dict`` and
    ``nnx.update`` (Flax's checkpointing guide, without Orbax)."""
    import jax.numpy as jnp
    from flax import nnx, serialization

    from rnncalc.frameworks import flax as flax_convention

    arrays = dict(_checked(plan, pairs))
    model = flax_convention.CONVENTION.build(plan.spec)
    state = nnx.state(model, nnx.Param)
    for key, variable in nnx.to_flat_state(state):
        variable.set_value(jnp.asarray(arrays.pop(".".join(map(str, key)))))
    if arrays:
        raise ConversionError(f"internal: the Flax model has no parameter {next(iter(arrays))}")
    with open(path, "wb") as handle:
        handle.write(serialization.msgpack_serialize(nnx.to_pure_dict(state)))


WRITERS: dict[str, Callable[[Plan, Pairs, str], None]] = {
    "safetensors": write_safetensors,
    "pt": write_torch,
    "keras": write_keras,
    "onnx": write_onnx,
    "msgpack": write_flax,
}
