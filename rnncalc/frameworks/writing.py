"""What a convention's writer receives, and the helpers every writer shares.

``rnncalc convert`` decides a :class:`Plan` (:func:`rnncalc.convert.plan.make_plan`) and hands
it, with the target's ``(name, array)`` pairs in report order, to the writer the target's
:class:`~rnncalc.io.tensor_data.TensorFormat` declares; the writers of framework formats live
in the framework modules (``rnncalc/frameworks/*_files.py``). ``.safetensors`` is written here
with the standard library and numpy (not the safetensors package) as the pairs arrive (the
header is known in advance from the target's report), so it holds one tensor at a time, as the
framework formats' writers do: PyTorch's zip format (:mod:`rnncalc.frameworks.torch_zip`), the
ONNX protobuf written around the tensors' bytes, the ``.keras`` archive with its HDF5 file
written in place (:mod:`rnncalc.io.zip_in_place`).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rnncalc.core.errors import ConversionError

if TYPE_CHECKING:
    import numpy as np

    from rnncalc.core.model import Model
    from rnncalc.core.report import WeightRow
    from rnncalc.core.spec import Spec
    from rnncalc.frameworks.contract import FrameworkConvention
    from rnncalc.io.tensor_data import TensorFormat

    Pairs = Iterator[tuple[str, np.ndarray[Any, Any]]]


@dataclass(frozen=True)
class Source:
    """A weight file read as one recurrent stack or a whole model.

    ``names`` are the file's tensor names in the order of the convention's report rows for
    ``spec`` (every layer's, in order), so row ``i`` holds ``names[i]``.
    """

    path: str
    format: TensorFormat
    convention: FrameworkConvention
    spec: Spec
    names: tuple[str, ...]
    #: What the file leaves open and was assumed (inspect's notes on the layers).
    notes: tuple[str, ...] = ()
    #: A whole model (embedding, norms, heads, blocks that differ): ``names`` then follow the
    #: rows of ``convention.model_report(model)``, and ``spec`` is its first recurrent block.
    model: Model | None = None
    #: The assumptions of ``notes`` in a few words each, for the verdict line (``tanh``).
    assumptions: tuple[str, ...] = ()
    #: The file's tensors its graph uses transposed (a ``Gemm``'s ``transB``): read as their
    #: transpose, which is what the convention's rows hold.
    transposed: frozenset[str] = frozenset()
    #: The parts ``--part`` picked (empty: the file's whole chain or stack).
    part: tuple[str, ...] = ()

    def rows(self, convention: FrameworkConvention) -> list[WeightRow]:
        """``convention``'s tensors for what this source holds, in report order."""
        if self.model is not None:
            return list(convention.model_report(self.model).weights)
        return [row for layer in convention.report(self.spec).layers for row in layer.weights]


@dataclass(frozen=True)
class Plan:
    """One conversion: the source stack, the target format and convention, the destination;
    ``force`` replaces files already there (a writer placing a second file beside the
    destination, as ONNX external data, asks it too)."""

    source: Source
    destination: str
    target: TensorFormat
    target_convention: FrameworkConvention
    force: bool = False

    @property
    def spec(self) -> Spec:
        return self.source.spec


def target_rows(plan: Plan) -> list[tuple[str, tuple[int, ...]]]:
    """``(name, shape)`` of every tensor the target holds, in the order
    :func:`rnncalc.convert.stream.converted` yields."""
    return [(row.path, tuple(int(d) for d in row.shape)) for row in plan.source.rows(plan.target_convention)]  # type: ignore[arg-type]


def checked(plan: Plan, pairs: Pairs) -> Pairs:
    """``pairs`` with each name and shape checked against the target's report, in order."""
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
