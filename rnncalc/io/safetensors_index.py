"""Sharded safetensors as Hugging Face writes them: ``model.safetensors.index.json`` plus
``model-00001-of-00002.safetensors`` shards in the same directory.

The index (huggingface_hub ``split_state_dict_into_shards_factory`` and transformers'
``save_pretrained``) is ``{"metadata": {"total_size": bytes, ...}, "weight_map": {tensor: shard
file name}}``. It is trusted for nothing it cannot be checked against: every shard must be a
plain file name in the index's own directory (no folder, no ``..``, no symlink leading out),
every tensor the index names must be in its shard and in no other, every tensor of a shard must
be in the index, and ``total_size``, where given, must equal the shards' tensor bytes (it is
never used to allocate anything). Each shard is read by
:func:`~rnncalc.io.safetensors_header.read_safetensors` (its header only).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from rnncalc.io.safetensors_header import DTYPE_BITS, read_safetensors
from rnncalc.io.tensor_data import TensorData, open_safetensors
from rnncalc.io.tensors import FileContents, Tensor, WeightFileError

#: The suffix Hugging Face gives a safetensors index (``model.safetensors.index.json``).
INDEX_SUFFIX = ".safetensors.index.json"
#: An index names each tensor once: tens of thousands of lines at most; a bound keeps a hostile
#: one from being read whole into memory.
MAX_INDEX_BYTES = 50_000_000


def index_in(path: str) -> str:
    """The index file ``path`` names: the path itself, or the one ``*.safetensors.index.json``
    of a directory."""
    if not os.path.isdir(path):
        return path
    try:
        found = sorted(name for name in os.listdir(path) if name.lower().endswith(INDEX_SUFFIX))
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    if len(found) != 1:
        raise WeightFileError(
            path,
            f"a directory holding {len(found)} *{INDEX_SUFFIX} files"
            + (
                f" ({', '.join(found)}); name one"
                if found
                else "; rnncalc reads a sharded safetensors directory"
            ),
        )
    return os.path.join(path, found[0])


def is_index_directory(path: str) -> bool:
    """True when the directory holds a ``*.safetensors.index.json``."""
    try:
        return any(name.lower().endswith(INDEX_SUFFIX) for name in os.listdir(path))
    except OSError:
        return False


def looks_like_index(path: str, head: bytes) -> bool:
    """True when a file starts as a JSON object and holds a ``weight_map`` in its first bytes
    (an index whatever its name)."""
    if not head.lstrip().startswith(b"{"):
        return False
    try:
        with open(path, "rb") as handle:
            return b'"weight_map"' in handle.read(1 << 16)
    except OSError:
        return False


def read_index(path: str) -> tuple[str, Mapping[str, Any], dict[str, list[str]]]:
    """The checked index at ``path`` (a file or a directory holding one): its path, its
    document and each shard's path → the tensor names the index puts in it, in its order."""
    index = index_in(path)
    document = _index_document(index)
    weight_map = document.get("weight_map")
    if not isinstance(weight_map, Mapping) or not weight_map:
        raise WeightFileError(index, "weight_map: not an object of tensor names to shard files")
    folder = os.path.dirname(os.path.abspath(index))
    shards: dict[str, list[str]] = {}
    for name, shard in weight_map.items():
        shards.setdefault(_shard_path(index, folder, name, shard), []).append(name)
    return index, document, shards


def read_safetensors_index(path: str) -> FileContents:
    """The tensors of every shard an index names, checked against the index (module docstring)."""
    index, document, shards = read_index(path)
    tensors: list[Tensor] = []
    for shard, names in shards.items():
        tensors.extend(_shard_tensors(index, shard, names))
    metadata = document.get("metadata")
    total = metadata.get("total_size") if isinstance(metadata, Mapping) else None
    notes: tuple[str, ...] = ()
    if total is not None:
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise WeightFileError(index, f"metadata.total_size: {total!r} is not a number of bytes")
        found = sum((tensor.numel * DTYPE_BITS[tensor.dtype] + 7) // 8 for tensor in tensors)
        if total != found:
            # huggingface_hub counts each storage's bytes: a tensor saved as a view of a larger
            # storage makes the two differ in a genuine file, so this is said, not refused.
            notes = (f"metadata.total_size says {total} bytes; the shards' tensors hold {found}",)
    return FileContents(tensors=tuple(tensors), notes=notes)


def open_safetensors_index(path: str) -> TensorData:
    """Each tensor of a sharded checkpoint, memory-mapped from its shard
    (:func:`~rnncalc.io.tensor_data.open_safetensors`)."""
    _, _, shards = read_index(path)
    opened = {shard: open_safetensors(shard) for shard in shards}
    return _Shards({name: opened[shard] for shard, names in shards.items() for name in names})


class _Shards(TensorData):
    """Each tensor read from, and released to, the shard holding it."""

    def __init__(self, home: dict[str, TensorData]) -> None:
        super().__init__(list(home), lambda name: home[name][name], self._close_all)
        self._home = home

    def release(self, name: str) -> None:
        if name in self._home:
            self._home[name].release(name)

    def _close_all(self) -> None:
        for shard in {id(data): data for data in self._home.values()}.values():
            shard.close()


def _index_document(index: str) -> Mapping[str, Any]:
    try:
        with open(index, "rb") as handle:
            raw = handle.read(MAX_INDEX_BYTES + 1)
    except OSError as error:
        raise WeightFileError(index, error.strerror or str(error)) from None
    if len(raw) > MAX_INDEX_BYTES:
        raise WeightFileError(index, f"over {MAX_INDEX_BYTES:,} bytes, too large for a safetensors index")
    try:
        document = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise WeightFileError(index, f"not a safetensors index: not JSON ({error})") from None
    except _DuplicateKey as error:
        raise WeightFileError(index, f"weight_map[{error.args[0]!r}]: named twice") from None
    if not isinstance(document, Mapping):
        raise WeightFileError(index, "not a safetensors index: not a JSON object")
    return document


class _DuplicateKey(Exception):
    """A key an index's JSON object holds twice (``json`` would keep the last silently)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _shard_path(index: str, folder: str, name: str, shard: Any) -> str:
    """The shard ``weight_map[name]`` names, refused unless it is a plain file name in the
    index's directory that stays there once symlinks are resolved."""
    where = f"weight_map[{name!r}]"
    if not isinstance(shard, str) or not shard:
        raise WeightFileError(index, f"{where}: {shard!r} is not a shard file name")
    if shard in (".", "..") or "/" in shard or "\\" in shard or os.path.isabs(shard) or "\0" in shard:
        raise WeightFileError(index, f"{where}: shard {shard!r} is not a file name in the index's directory")
    path = os.path.join(folder, shard)
    if os.path.dirname(os.path.realpath(path)) != os.path.realpath(folder):
        raise WeightFileError(index, f"{where}: shard {shard!r} leads outside the index's directory")
    if not os.path.isfile(path):
        missing = "no such file" if not os.path.lexists(path) else "not a regular file"
        raise WeightFileError(index, f"{where}: shard {shard!r}: {missing}")
    return path


def _shard_tensors(index: str, shard: str, names: list[str]) -> list[Tensor]:
    """The tensors of one shard in the index's order; each the index puts there must be in it,
    and each in it must be in the index (under this shard: a tensor is in one shard only)."""
    found = {tensor.name: tensor for tensor in read_safetensors(shard).tensors}
    base = os.path.basename(shard)
    missing = [name for name in names if name not in found]
    if missing:
        raise WeightFileError(index, f"weight_map[{missing[0]!r}]: not in shard {base!r}")
    extra = [name for name in found if name not in set(names)]
    if extra:
        raise WeightFileError(
            index, f"weight_map[{extra[0]!r}]: shard {base!r} holds it, but the index does not name it there"
        )
    return [found[name] for name in names]
