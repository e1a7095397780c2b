"""Write converted tensors in the target's file format, atomically.

Every writer receives the target's ``(name, array)`` pairs in report order; the writers of
framework formats live in the framework modules (``rnncalc/frameworks/*_files.py``).
``.safetensors`` is written here with the standard library and numpy (not the safetensors
package) as the pairs arrive (the header is known in advance from the target's report), so it
holds one tensor at a time, as the framework formats' writers do: PyTorch's zip format
(:mod:`rnncalc.frameworks.torch_zip`), the ONNX protobuf written around the tensors' bytes,
the ``.keras`` archive with its HDF5 file written in place (:mod:`rnncalc.io.zip_in_place`).

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
from collections.abc import Iterator
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
    """Write ``pairs`` to ``path`` in ``plan``'s target format, by the writer its convention
    declares (:meth:`~rnncalc.core.convention.Convention.tensor_formats`)."""
    assert plan.target.write is not None
    plan.target.write(plan, pairs, path)


def checked(plan: Plan, pairs: Pairs) -> Pairs:
    """``pairs`` with each name and shape checked against the target's report, in order."""
    from rnncalc.convert.stream import target_rows

    rows = target_rows(plan)
    count = 0
    # Not zip(pairs, rows): zip reuses its result tuple, which holds the previous pair's array
    # while the next one is made.
    for name, array in pairs:
        if count == len(rows):
            raise ConversionError(f"internal: produced {name} after the target's {count} tensors")
        expected, shape = rows[count]
        if name != expected or tuple(array.shape) != shape:
            raise ConversionError(
                f"internal: produced {name} {array.shape}, the target needs {expected} {shape}"
            )
        count += 1
        yield name, array
        del array  # not held while the next tensor is made
    if count != len(rows):
        raise ConversionError(f"internal: produced {count} tensors, the target needs {len(rows)}")


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
        for _, array in checked(plan, pairs):
            handle.write(np.ascontiguousarray(array, dtype="<f4").data)
            del array  # not held while the next tensor is made
