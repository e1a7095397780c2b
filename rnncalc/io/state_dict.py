"""Read a PyTorch state dict (``.pt``, ``.pth``, ``.bin``) through ``torch.load(weights_only=True)``.

``weights_only=True`` unpickles tensors and containers only, never arbitrary objects: a file
holding a whole pickled module (``torch.save(model)``) is refused, not executed. Files in the
zip format (the default since PyTorch 1.6) are memory-mapped, so no tensor data is read; their
members' sizes are checked before torch reads any (:mod:`rnncalc.io.zip_guard`).
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from typing import Any

from rnncalc.core.limits import MAX_ZIP_METADATA_BYTES
from rnncalc.io.tensors import FileContents, Tensor, WeightFileError
from rnncalc.io.weight_format import ZIP_MAGIC
from rnncalc.io.zip_guard import check_inflated, open_zip

#: Keys under which training scripts commonly nest the state dict of a checkpoint.
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")


def read_state_dict(path: str, torch: Any) -> FileContents:
    """The tensors of a state dict (or of the one state dict inside a checkpoint dict), loaded
    with ``torch``, the imported library (its convention imports it and says how to install it).
    A tensor's dtype names a layout other than dense (``float32 (sparse_coo)``, ``(meta)``)."""
    loaded, _ = load_state_dict(path, torch)
    state, notes = state_dict_in(path, loaded, torch.Tensor)
    tensors = tuple(
        Tensor(name, _shape(path, name, value), tensor_dtype(value, torch)) for name, value in state.items()
    )
    return FileContents(tensors=tensors, notes=notes)


def load_state_dict(path: str, torch: Any) -> tuple[Any, bool]:
    """``torch.load(path, weights_only=True)`` of a file whose zip members, if it is a zip, have
    passed :func:`~rnncalc.io.zip_guard.open_zip` (and whose pickle is at most
    :data:`~rnncalc.core.limits.MAX_ZIP_METADATA_BYTES`), and whether it is memory-mapped:
    only when every member is stored, for ``mmap`` maps a compressed storage's deflated bytes
    as its values (torch 2.13). A compressed member is inflated once first, to check its CRC-32."""
    try:
        with open(path, "rb") as handle:  # a zip as torch.load tells one: by its first bytes
            is_zip = handle.read(len(ZIP_MAGIC)) == ZIP_MAGIC
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    mmap = False
    if is_zip:  # one the zip module cannot read is refused: its members could not be checked
        with open_zip(path) as archive:
            members = archive.infolist()
            for info in members:
                if "/data/" not in f"/{info.filename}" and info.file_size > MAX_ZIP_METADATA_BYTES:
                    raise WeightFileError(
                        path, f"zip member {info.filename!r} holds {info.file_size:,} bytes, "
                        f"over {MAX_ZIP_METADATA_BYTES:,}"
                    )  # fmt: skip
            mmap = all(info.compress_type == zipfile.ZIP_STORED for info in members)
            for info in members:
                if info.compress_type != zipfile.ZIP_STORED:
                    check_inflated(path, archive, info)
    try:
        with warnings.catch_warnings():  # torch's beta and deprecation warnings for some layouts
            warnings.simplefilter("ignore")
            loaded = torch.load(path, weights_only=True, mmap=mmap, map_location="cpu")
    except pickle.UnpicklingError as error:
        raise WeightFileError(path, _unpickling_message(str(error))) from None
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    except Exception as error:  # a damaged pickle raises IndexError, AssertionError...
        raise WeightFileError(
            path, f"not a readable PyTorch file: {_first_sentence(str(error)) or type(error).__name__}"
        ) from None
    return loaded, mmap


def tensor_dtype(value: Any, torch: Any) -> str:
    """A tensor's dtype as torch names it (``float32``, ``qint8``), with its layout when that is
    not dense (``float32 (sparse_coo)``) or its device when it holds no values (``(meta)``)."""
    name = str(value.dtype).removeprefix("torch.")
    if value.layout != torch.strided:
        return f"{name} ({str(value.layout).removeprefix('torch.')})"
    if value.device.type == "meta":
        return f"{name} (meta)"
    return name


def _shape(path: str, name: str, value: Any) -> tuple[int, ...]:
    """A tensor's shape; a nested tensor (one size per component, not per dimension) has none."""
    if value.is_nested:
        raise WeightFileError(
            path,
            f"tensor {name!r} is a nested tensor, which has no single shape; rnncalc reads dense tensors",
        )
    return tuple(int(d) for d in value.shape)


def _unpickling_message(text: str) -> str:
    """A pickled object outside the allow-list is named by the unpickler (``GLOBAL module.Class``);
    any other failure (``Unsupported operand``, truncation) means the bytes are not a pickle."""
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return (
            f"holds pickled Python objects ({found.group(1)}), such as a whole module saved with "
            "torch.save(model); rnncalc reads state dicts only: save model.state_dict() instead"
        )
    reason = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    return f"not a readable PyTorch file: {reason.group(1).strip() if reason else _first_sentence(text)}"


def _first_sentence(text: str) -> str:
    """The first sentence of a library's message, which may run to a paragraph."""
    text = " ".join(text.split())
    return text.split(". ")[0].rstrip(".") if text else "unreadable"


def state_dict_in(path: str, loaded: Any, tensor_type: type) -> tuple[Mapping[str, Any], tuple[str, ...]]:
    """The name → tensor mapping in ``loaded``, unwrapping one checkpoint level."""
    if _is_state_dict(loaded, tensor_type):
        return loaded, ()
    if isinstance(loaded, Mapping):
        for key in CHECKPOINT_KEYS:
            if _is_state_dict(loaded.get(key), tensor_type):
                others = ", ".join(repr(k) for k in loaded if k != key)
                note = f"a checkpoint: read the state dict under {key!r}" + (
                    f"; ignored {others}" if others else ""
                )
                return loaded[key], (note,)
    raise WeightFileError(
        path,
        f"holds a {type(loaded).__name__}, not a state dict (a mapping of names to tensors"
        f" or a checkpoint with one under {', '.join(repr(k) for k in CHECKPOINT_KEYS)})",
    )


def _is_state_dict(value: Any, tensor_type: type) -> bool:
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, tensor_type) for k, v in value.items())
    )
