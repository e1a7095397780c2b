"""Read tensor *data* from a weight file, one tensor at a time, for ``rnncalc convert``.

A :class:`TensorFormat` is a file format convert reads values from (and perhaps writes); each
:class:`~rnncalc.core.convention.Convention` declares its own
(:meth:`~rnncalc.core.convention.Convention.tensor_formats`), with the opener and writer kept in
its ``rnncalc/frameworks/*_files.py`` module. Only the safetensors reader, which needs numpy
alone, lives here.

The other readers of :mod:`rnncalc.io` return names and shapes only; these return the values,
lazily: :class:`TensorData` is a mapping whose ``[name]`` reads that tensor when asked, so a
conversion holds one tensor at a time, not the file. Where the bytes lie in the file as they
are, the value is a view of the file mapped read-only, marked with
:func:`rnncalc.io.mapped.mapped` so that convert lets its pages go as it copies it: PyTorch
files in the zip format (``torch.load(mmap=True)``), ``.safetensors`` data, a ``.keras``
archive's contiguous datasets (h5py gives their offsets) and an ONNX model's ``raw_data``
(:func:`rnncalc.io.onnx_file.scan_onnx`); anything else is read into memory when looked up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rnncalc.core.errors import ConversionError

#: safetensors dtype → numpy dtype of the values convert reads (floats only; the weights are).
SAFETENSORS_FLOATS = {"F16": "<f2", "F32": "<f4", "F64": "<f8"}
#: The dtypes convert moves, by every name a reader gives them (torch's and numpy's, h5py's
#: byte-ordered ones, safetensors', ONNX's): those float32 holds every value of exactly...
EXACT_IN_FLOAT32 = frozenset(
    {"float16", "float32", "bfloat16", "half", "float", "F16", "F32", "BF16",
     "<f2", ">f2", "=f2", "<f4", ">f4", "=f4"}
)  # fmt: skip
#: ... and float64, whose values convert rounds to float32 and says so (rnncalc writes float32).
ROUNDED_TO_FLOAT32 = frozenset({"float64", "double", "F64", "<f8", ">f8", "=f8"})
#: What a refusal says convert moves.
MOVED = "convert moves real floating-point tensors only (float16, bfloat16, float32, float64)"


def dtype_refusal(dtype: str) -> str | None:
    """Why convert refuses a tensor of ``dtype`` (as its file's reader names it: complex, integer,
    boolean, float8 and smaller, quantized, a sparse or meta layout...), or None."""
    if dtype in EXACT_IN_FLOAT32 or dtype in ROUNDED_TO_FLOAT32:
        return None
    return f"is {dtype}: {MOVED}"


def as_float32(name: str, values: Any) -> tuple[Any, float]:
    """``values`` as float32 and the largest change that made (0 when exact: float32 itself,
    float16, bfloat16); a :class:`ConversionError` naming the tensor for any other kind of value
    (a complex tensor would lose its imaginary part, an integer one is quantized weights whose
    scales live elsewhere), or a float64 value beyond float32's range."""
    import numpy as np

    dtype = values.dtype
    if dtype == np.float32:
        return values, 0.0
    if (dtype.kind == "f" and dtype.itemsize < 4) or dtype.name == "bfloat16":
        return values.astype(np.float32), 0.0
    if dtype.kind != "f":
        raise ConversionError(f"tensor {name!r} is {dtype.name}: {MOVED}")
    with np.errstate(over="ignore", invalid="ignore"):
        converted = values.astype(np.float32)
        change = np.abs(converted.astype(values.dtype) - values)
    finite = np.isfinite(values)
    if not np.isfinite(converted[finite]).all():
        raise ConversionError(f"tensor {name!r} holds float64 values beyond float32's range (±3.4e38)")
    return converted, float(change[finite].max(initial=0.0))


@dataclass(frozen=True)
class TensorFormat:
    """A format ``rnncalc convert`` reads tensor values from, and writes when ``target`` is set.

    ``name`` is the :class:`~rnncalc.io.weight_format.WeightFormat` name inspect reads the file
    as (its layers are recognised by the convention's ``find_layers``); a format inspect does not
    read is recognised by ``suffixes`` alone and matched against the convention's report by
    names and shapes. ``target`` is the ``--to`` value (empty: convert does not write it),
    ``suffixes`` the destination extensions that pick it, ``write(plan, pairs, path)`` writes a
    :class:`~rnncalc.frameworks.writing.Plan`'s ``(name, array)`` pairs in report order. ``order`` sorts
    one layer's tensor names into report order when the file's order differs; ``refuse(layer)``
    says why a recognised layer cannot be moved (None: it can), ``refuse_file(contents)`` why
    the file's model is more than what convert moves (a layer it would drop; None: it is not).
    rnncalc recognises ``suffixes`` in any case; ``exact_suffix`` says that the framework's own
    loader does not (Keras's ``load_model`` reads ``.keras`` only), so convert notes a
    destination named otherwise. ``run_file(path, x)``, for a format that holds its own graph,
    has its framework load the file itself and run it on ``x`` (batch-major features, or token
    ids after an embedding): who ran it (``Keras``) and the file's outputs in order; it raises
    :class:`CannotRun` when the framework cannot load or run the file."""

    name: str
    description: str
    suffixes: tuple[str, ...]
    open: Callable[[str], TensorData]
    target: str = ""
    write: Callable[[Any, Any, str], None] | None = None
    order: Callable[[str], Any] | None = None
    refuse: Callable[[Any], str | None] | None = None
    exact_suffix: bool = False
    refuse_file: Callable[[Any], str | None] | None = None
    run_file: Callable[[str, Any], tuple[str, list[Any]]] | None = None


class CannotRun(Exception):
    """A file's framework could not load or run it (``TensorFormat.run_file``): why, in a few
    words, for the verify line."""


def first_line(error: BaseException, limit: int = 120) -> str:
    """A framework's error message as one short line (its first line, cut at ``limit``)."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


class TensorData(Mapping[str, Any]):
    """Name → float32 numpy array, each read from the file when looked up (and refused by name,
    :func:`as_float32`, when its values are not floating point); ``close()`` frees the file.
    ``rounded`` holds the tensors whose float64 values were rounded, with the largest change.

    ``release(name)`` tells a memory-mapped reader that the tensor is done with: its pages
    leave the process (they stay in the page cache), so reading a whole file through a map
    does not leave all of it resident.
    """

    def __init__(
        self,
        names: list[str],
        read: Callable[[str], Any],
        close: Callable[[], None],
        mapped_view: Callable[[str], Any] | None = None,
    ) -> None:
        self._names = names
        self._known = set(names)
        self._read = read
        self._close = close
        self._mapped_view = mapped_view
        self.rounded: dict[str, float] = {}

    def release(self, name: str) -> None:
        if self._mapped_view is not None and name in self._known:
            from rnncalc.io.mapped import drop, mapped

            view = self._mapped_view(name)
            if view is not None:
                drop(mapped(view))

    def __getitem__(self, name: str) -> Any:
        if name not in self._known:
            raise KeyError(name)
        values, change = as_float32(name, self._read(name))
        if change:
            self.rounded[name] = change
        return values

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def close(self) -> None:
        self._close()


def open_safetensors(path: str) -> TensorData:
    """Each tensor as a ``numpy.memmap`` of its bytes (the header checked as the library checks
    it, :func:`rnncalc.io.safetensors_header.read_header`)."""
    import numpy as np

    from rnncalc.io.mapped import mapped
    from rnncalc.io.safetensors_header import read_header

    header = read_header(path)
    start = header.data_start

    def view(name: str) -> Any:
        """The tensor's bytes in the file, mapped read-only (None when it has none)."""
        entry = header.entries[name]
        return (
            np.memmap(path, dtype="u1", mode="r", offset=start + entry.begin, shape=entry.end - entry.begin)
            if entry.end > entry.begin
            else None
        )

    def read(name: str) -> Any:
        entry = header.entries[name]
        dtype, shape = entry.dtype, entry.shape
        if dtype not in SAFETENSORS_FLOATS and dtype != "BF16":
            raise ConversionError(f"tensor {name!r} {dtype_refusal(dtype)}")
        if not entry.end > entry.begin:
            return np.zeros(shape, dtype=np.float32)
        offset = start + entry.begin
        if dtype == "BF16":  # the top half of a float32
            raw = np.memmap(path, dtype="<u2", mode="r", offset=offset, shape=math.prod(shape))
            return (raw.astype(np.uint32) << 16).view(np.float32).reshape(shape)
        count = math.prod(shape)
        values = np.memmap(path, dtype=SAFETENSORS_FLOATS[dtype], mode="r", offset=offset, shape=count)
        return mapped(values.reshape(shape)) if values.dtype == np.float32 else values.reshape(shape)

    return TensorData(list(header.entries), read, lambda: None, view)
