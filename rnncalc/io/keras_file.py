"""Read Keras files without importing Keras: ``.keras`` archives, legacy ``.h5``, model JSON.

A Keras 3 ``.keras`` file is a zip (stored, not compressed) of ``config.json`` (the document
``model.to_json()`` prints), ``metadata.json`` and ``model.weights.h5``, whose model variables
live under ``layers/<layer name>/...`` (an ``optimizer/`` group holds the optimizer's state,
which ``count_params()`` leaves out). A legacy ``.h5`` (``model.save("m.h5")``) keeps the config
as the ``model_config`` attribute and the variables under ``model_weights/<layer name>/...``.
Only metadata is read: shapes and dtypes, no tensor data. A ``.keras`` archive's weights are
read by :mod:`rnncalc.io.hdf5_meta` (standard library) when Keras stored them as it does by
default, else, like a legacy ``.h5``, by h5py.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Mapping
from typing import IO, Any

from rnncalc.io.file_window import FileWindow
from rnncalc.io.tensors import FileContents, Tensor, WeightFileError, require_module
from rnncalc.io.zip_guard import inflated_copy, open_zip, read_member

H5PY_HINT = "pip install 'rnncalc[inspect]' (or pip install h5py)"
#: Groups of a weight file holding the model's variables, by format.
KERAS_WEIGHTS_GROUP = "layers"
LEGACY_WEIGHTS_GROUP = "model_weights"


def read_keras_archive(path: str) -> FileContents:
    """Config and variables of a Keras 3 ``.keras`` file."""
    archive = open_zip(path)
    with archive:
        names = set(archive.namelist())
        if "config.json" not in names:
            raise WeightFileError(path, "not a .keras file: the archive has no config.json")
        try:
            config = json.loads(read_member(path, archive, "config.json"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
            raise WeightFileError(path, f"config.json is not readable JSON: {error}") from None
        if not isinstance(config, Mapping):
            raise WeightFileError(path, "config.json is not a Keras model config")
        if "model.weights.h5" not in names:
            return FileContents(
                tensors=(), config=config, from_config=True,
                notes=("the archive holds no model.weights.h5: counts come from the config",),
            )  # fmt: skip
        member = archive.getinfo("model.weights.h5")
        tensors = _stored_datasets(path, member)
        if tensors is None:
            h5py = require_module("h5py", H5PY_HINT, path)
            try:
                with open_member(path, archive, member) as handle, h5py.File(handle, "r") as weights:
                    tensors = _datasets(weights, KERAS_WEIGHTS_GROUP)
            except WeightFileError:
                raise
            except (OSError, ValueError, zipfile.BadZipFile) as error:
                raise WeightFileError(path, f"model.weights.h5 is not readable HDF5: {error}") from None
    return FileContents(tensors=tensors, config=config)


def _stored_datasets(path: str, member: zipfile.ZipInfo) -> tuple[Tensor, ...] | None:
    """The weights of a stored member read by :mod:`rnncalc.io.hdf5_meta` (no h5py, no numpy);
    None when the member is compressed or outside that reader's subset of HDF5."""
    from rnncalc.io.hdf5_meta import Unsupported, read_datasets

    if member.compress_type != zipfile.ZIP_STORED:
        return None
    try:
        with open(path, "rb") as raw:
            start = _member_start(raw, member)
            return read_datasets(raw, KERAS_WEIGHTS_GROUP, origin=start)
    except (Unsupported, zipfile.BadZipFile):
        return None
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None


def _member_start(raw: IO[bytes], member: zipfile.ZipInfo) -> int:
    """Where a stored member's bytes begin: after its local header, whose name and extra
    fields may differ in length from the central directory's (APPNOTE.TXT 4.3.7)."""
    raw.seek(member.header_offset)
    local = raw.read(LOCAL_HEADER_BYTES)
    if len(local) < LOCAL_HEADER_BYTES or local[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local file header for {member.filename}")
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    return int(member.header_offset + LOCAL_HEADER_BYTES + name_length + extra_length)


def stored_member_start(path: str, member: zipfile.ZipInfo) -> int | None:
    """Where an uncompressed member's bytes begin in the archive file (None for a compressed
    one): its contiguous datasets can then be mapped straight from the ``.keras`` file."""
    if member.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as raw:
        return _member_start(raw, member)


def open_member(path: str, archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> IO[bytes] | io.RawIOBase:
    """A seekable view of an archive member for h5py, which seeks back and forth through the
    metadata. Keras stores members uncompressed; for those, the view is a window on the file
    itself, so a seek costs nothing (Python 3.11's zip member reads again from the start of
    the member on every backward seek: time grew with the file's size). A compressed member
    is inflated to a temporary file first, in bounded chunks (:func:`~rnncalc.io.zip_guard.inflated_copy`)."""
    if member.compress_type != zipfile.ZIP_STORED:
        return inflated_copy(path, archive, member)
    raw = open(path, "rb")  # noqa: SIM115 (closed by the window)
    try:
        start = _member_start(raw, member)
    except zipfile.BadZipFile:
        raw.close()
        raise
    return FileWindow(raw, start, member.file_size, owns=True)


#: The fixed part of a zip local file header (APPNOTE.TXT 4.3.7): signature to extra length.
LOCAL_HEADER_BYTES = 30


def read_keras_json(path: str) -> FileContents:
    """A Keras model JSON (``model.to_json()``): a config and no weights."""
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise WeightFileError(path, f"not a Keras model JSON: {error}") from None
    if not isinstance(config, dict):
        raise WeightFileError(path, "not a Keras model JSON: the document is not an object")
    return FileContents(tensors=(), config=config, from_config=True)


def read_keras_h5(path: str) -> FileContents:
    """Config and variables of a legacy Keras ``.h5`` model file."""
    h5py = require_module("h5py", H5PY_HINT, path)
    try:
        with h5py.File(path, "r") as weights:
            raw = weights.attrs.get("model_config")
            if raw is None:
                raise WeightFileError(
                    path, "an HDF5 file without a model_config attribute: not a Keras model saved as .h5"
                )
            tensors = _datasets(weights, LEGACY_WEIGHTS_GROUP)
    except OSError as error:
        raise WeightFileError(path, f"not a readable HDF5 file: {error}") from None
    try:
        config = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, RecursionError) as error:
        raise WeightFileError(path, f"model_config is not JSON: {error}") from None
    if not isinstance(config, Mapping):
        raise WeightFileError(path, "model_config is not a Keras model config")
    return FileContents(tensors=tensors, config=config)


def _datasets(weights: Any, group: str) -> tuple[Tensor, ...]:
    """Every dataset under ``group``, named by its path inside the file."""
    if group not in weights:
        return ()
    found: list[Tensor] = []

    def visit(name: str, item: Any) -> None:
        if hasattr(item, "shape") and hasattr(item, "dtype"):
            found.append(Tensor(f"{group}/{name}", tuple(int(d) for d in item.shape), str(item.dtype)))

    weights[group].visititems(visit)
    return tuple(found)
