"""Read tensor *data* from a weight file, one tensor at a time, for ``rnncalc convert``.

The other readers of :mod:`rnncalc.io` return names and shapes only; these return the values,
lazily: :class:`TensorData` is a mapping whose ``[name]`` reads that tensor when asked, so a
conversion holds one layer's tensors at a time, not the file. PyTorch files in the zip format
are memory-mapped (``torch.load(mmap=True)``); ``.safetensors`` data is a ``numpy.memmap``
window; a ``.keras`` archive's datasets are read one by one through h5py; an ONNX model's
initializers are decoded on demand (protobuf holds the file in memory anyway).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import mmap
import re
import struct
import sys
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from rnncalc.io.tensors import WeightFileError, require_module

#: safetensors dtype → numpy dtype of the values convert reads (floats only; the weights are).
SAFETENSORS_FLOATS = {"F16": "<f2", "F32": "<f4", "F64": "<f8"}


class TensorData(Mapping[str, Any]):
    """Name → numpy array, each read from the file when looked up; ``close()`` frees the file.

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

    def release(self, name: str) -> None:
        if self._mapped_view is not None and name in self._known:
            view = self._mapped_view(name)
            if view is not None:
                drop_pages(view)

    def __getitem__(self, name: str) -> Any:
        if name not in self._known:
            raise KeyError(name)
        return self._read(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def close(self) -> None:
        self._close()


def drop_pages(array: Any) -> None:
    """``madvise(MADV_DONTNEED)`` over the whole pages inside a read-only memory-mapped array:
    the kernel drops them from this process and maps them from the file again if touched
    (madvise(2); clean file pages lose nothing). Only for arrays that view a file mapping
    rnncalc opened read-only: on anonymous memory it would zero the data. Linux only."""
    if sys.platform != "linux" or not array.nbytes:
        return
    page = mmap.PAGESIZE
    start = array.ctypes.data
    first, last = -(-start // page) * page, (start + array.nbytes) // page * page
    if last > first:
        _libc().madvise(first, last - first, mmap.MADV_DONTNEED)


@functools.cache
def _libc() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc


def open_tensors(path: str, kind: str) -> TensorData:
    """The tensor data of ``path`` read as ``kind``, the reader name of
    :data:`rnncalc.inspect.formats.READERS` (``torch``, ``safetensors``, ``keras``, ``onnx``)."""
    openers: dict[str, Callable[[str], TensorData]] = {
        "torch": _torch,
        "safetensors": _safetensors,
        "keras": _keras,
        "onnx": _onnx,
        "flax": open_flax_msgpack,
    }
    if kind not in openers:
        raise WeightFileError(path, f"holds no tensor data to convert (a {kind.replace('_', ' ')} file)")
    return openers[kind](path)


def _torch(path: str) -> TensorData:
    import numpy as np

    from rnncalc.io.state_dict import TORCH_HINT, _state_dict

    torch = require_module("torch", TORCH_HINT)
    mapped = zipfile.is_zipfile(path)
    try:
        loaded = torch.load(path, weights_only=True, mmap=mapped, map_location="cpu")
    except Exception as error:  # read_state_dict, which ran first, has reported the usual ones
        raise WeightFileError(path, f"not a readable PyTorch file: {error}") from None
    state, _ = _state_dict(path, loaded, torch.Tensor)

    def read(name: str) -> Any:
        tensor = state[name].detach()
        if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16
            tensor = tensor.float()
        return tensor.numpy().astype(np.float32, copy=False)

    def mapped_view(name: str) -> Any:
        """The tensor's view of the file mapping (None for a dtype numpy cannot view)."""
        tensor = state[name].detach()
        return tensor.numpy() if tensor.dtype in (torch.float16, torch.float32, torch.float64) else None

    return TensorData(list(state), read, lambda: None, mapped_view if mapped else None)


def _safetensors(path: str) -> TensorData:
    """Each tensor as a ``numpy.memmap`` of its bytes (header as the format defines it; see
    :mod:`rnncalc.io.safetensors_header`, which has checked it)."""
    import numpy as np

    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    header.pop("__metadata__", None)
    start = 8 + length

    def view(name: str) -> Any:
        """The tensor's bytes in the file, mapped read-only (None when it has none)."""
        begin, end = header[name]["data_offsets"]
        return (
            np.memmap(path, dtype="u1", mode="r", offset=start + begin, shape=end - begin)
            if end > begin
            else None
        )

    def read(name: str) -> Any:
        entry = header[name]
        dtype = entry["dtype"]
        begin, end = entry["data_offsets"]
        if dtype == "BF16":  # the top half of a float32
            raw = np.memmap(path, dtype="<u2", mode="r", offset=start + begin, shape=(end - begin) // 2)
            return (raw.astype(np.uint32) << 16).view(np.float32).reshape(entry["shape"])
        if dtype not in SAFETENSORS_FLOATS:
            raise WeightFileError(path, f"tensor {name!r} is {dtype}, not a float type convert can move")
        shape = tuple(entry["shape"])
        if not end > begin:
            return np.zeros(shape, dtype=np.float32)
        values = np.memmap(path, dtype=SAFETENSORS_FLOATS[dtype], mode="r", offset=start + begin, shape=shape)
        return values.astype(np.float32, copy=False)

    return TensorData(list(header), read, lambda: None, view)


#: A Keras 3 weight file's variable path: ``layers/<layer>[/<forward|backward>_layer]/cell/vars/<i>``.
KERAS_VARIABLE = re.compile(r"/(?:(?P<direction>forward|backward)_layer/)?cell/vars/(?P<index>\d+)$")


def keras_variable_order(name: str) -> tuple[int, int]:
    """Sort key putting a recurrent layer's datasets in ``layer.weights`` order: forward before
    backward, then ``vars/0, 1, 2`` (kernel, recurrent_kernel, bias: the order each cell's
    ``build`` creates them, keras/src/layers/rnn/lstm.py)."""
    found = KERAS_VARIABLE.search(name)
    if found is None:
        return (2, 0)
    return (int(found["direction"] == "backward"), int(found["index"]))


def _keras(path: str) -> TensorData:
    import numpy as np

    from rnncalc.io.keras_file import H5PY_HINT, KERAS_WEIGHTS_GROUP, _open_member

    h5py = require_module("h5py", H5PY_HINT)
    archive = zipfile.ZipFile(path)
    with contextlib.ExitStack() as stack:
        stack.callback(archive.close)
        handle = _open_member(path, archive, archive.getinfo("model.weights.h5"))
        stack.callback(handle.close)
        weights = h5py.File(handle, "r")
        stack.callback(weights.close)
        names: list[str] = []
        if KERAS_WEIGHTS_GROUP in weights:
            weights[KERAS_WEIGHTS_GROUP].visititems(
                lambda name, item: (
                    names.append(f"{KERAS_WEIGHTS_GROUP}/{name}") if hasattr(item, "dtype") else None
                )
            )
        owned = stack.pop_all()

    def read(name: str) -> Any:
        return np.asarray(weights[name][()], dtype=np.float32)

    return TensorData(names, read, owned.close)


def _onnx(path: str) -> TensorData:
    from rnncalc.io.onnx_file import ONNX_HINT

    onnx = require_module("onnx", ONNX_HINT)
    import numpy as np
    from onnx import numpy_helper

    model = onnx.load(path, load_external_data=False)
    base = str(Path(path).parent)
    initializers = {init.name: init for init in model.graph.initializer}

    def read(name: str) -> Any:
        init = initializers[name]
        if init.data_location == onnx.TensorProto.EXTERNAL:
            return np.asarray(numpy_helper.to_array(init, base_dir=base), dtype=np.float32)
        return np.asarray(numpy_helper.to_array(init), dtype=np.float32)

    return TensorData(list(initializers), read, lambda: None)


def open_flax_msgpack(path: str) -> TensorData:
    """A Flax NNX state written by ``flax.serialization.msgpack_serialize`` of
    ``nnx.to_pure_dict(nnx.state(model, nnx.Param))``: nested dicts flattened to the dotted
    paths ``nnx.to_flat_state`` gives (``layers.0.cell.dense_i.kernel``)."""
    import numpy as np

    serialization = require_module("flax.serialization", "pip install 'rnncalc[flax]'")
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
