"""Read Keras files without importing Keras: ``.keras`` archives, legacy ``.h5``, model JSON.

A Keras 3 ``.keras`` file is a zip (stored, not compressed) of ``config.json`` (the document
``model.to_json()`` prints), ``metadata.json`` and ``model.weights.h5``, whose model variables
live under ``layers/<layer name>/...`` (an ``optimizer/`` group holds the optimizer's state,
which ``count_params()`` leaves out). A legacy ``.h5`` (``model.save("m.h5")``) keeps the config
as the ``model_config`` attribute and the variables under ``model_weights/<layer name>/...``.
Only metadata is read: shapes and dtypes, no tensor data. A ``.keras`` archive's weights are
read by :mod:`rnncalc.io.hdf5_meta` (standard library) when Keras stored them as it does by
default, else, like a legacy ``.h5``, by h5py. Either way, a dataset whose bytes are not in the
file itself (external storage, a virtual dataset, a link) or pass through a filter not read is
refused by name (:class:`~rnncalc.io.hdf5_meta.Refused`), and whatever h5py raises on a damaged
file is one :class:`~rnncalc.io.tensors.WeightFileError`.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

from rnncalc.core.errors import RnncalcError
from rnncalc.io.file_window import FileWindow
from rnncalc.io.hdf5_meta import (
    MAX_DEPTH,
    MAX_OBJECTS,
    Refused,
    external_refusal,
    filter_refusal,
    link_refusal,
    virtual_refusal,
)
from rnncalc.io.tensors import FileContents, Tensor, WeightFileError, require_module
from rnncalc.io.zip_guard import inflated_copy, open_zip, read_member

H5PY_HINT = "pip install 'rnncalc[inspect]' (or pip install h5py)"
#: Groups of a weight file holding the model's variables, by format.
KERAS_WEIGHTS_GROUP = "layers"
LEGACY_WEIGHTS_GROUP = "model_weights"
#: The member of a ``.keras`` archive holding the weights.
WEIGHTS_MEMBER = "model.weights.h5"


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
        member = archive.getinfo(WEIGHTS_MEMBER)
        tensors = _stored_datasets(path, member)
        if tensors is None:
            h5py = require_module("h5py", H5PY_HINT, path)
            with (
                hdf5_errors(path, WEIGHTS_MEMBER),
                open_member(path, archive, member) as handle,
                h5py.File(handle, "r") as weights,
            ):
                tensors = _datasets(weights, KERAS_WEIGHTS_GROUP)
    return FileContents(tensors=tensors, config=config)


@contextmanager
def hdf5_errors(path: str, member: str = "") -> Iterator[None]:
    """One :class:`WeightFileError` for whatever reading ``path`` (its ``member``) as HDF5
    raises: a refused dataset by name, and anything h5py raises on a damaged or hostile file
    (OSError, ValueError, RuntimeError, KeyError, TypeError, ... : h5py turns HDF5's errors
    into any of them)."""
    inside = f"{member}: " if member else ""
    try:
        yield
    except RnncalcError:
        raise
    except Refused as refused:
        raise WeightFileError(path, f"{inside}{refused.path}: {refused.reason}") from None
    except zipfile.BadZipFile as error:
        raise WeightFileError(path, f"not a readable zip archive: {error}") from None
    except Exception as error:
        what = f"{member} is not readable HDF5" if member else "not a readable HDF5 file"
        raise WeightFileError(path, f"{what}: {error}") from None


def _stored_datasets(path: str, member: zipfile.ZipInfo) -> tuple[Tensor, ...] | None:
    """The weights of a stored member read by :mod:`rnncalc.io.hdf5_meta` (no h5py, no numpy);
    None when the member is compressed or outside that reader's subset of HDF5."""
    from rnncalc.io.hdf5_meta import Unsupported, read_datasets

    if member.compress_type != zipfile.ZIP_STORED:
        return None
    try:
        with open(path, "rb") as raw:
            start = _member_start(raw, member)
            return read_datasets(raw, KERAS_WEIGHTS_GROUP, origin=start, length=member.file_size)
    except (Unsupported, zipfile.BadZipFile):
        return None
    except Refused as refused:
        raise WeightFileError(path, f"{WEIGHTS_MEMBER}: {refused.path}: {refused.reason}") from None
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
    with hdf5_errors(path), h5py.File(path, "r") as weights:
        raw = weights.attrs.get("model_config")
        if raw is None:
            raise WeightFileError(
                path, "an HDF5 file without a model_config attribute: not a Keras model saved as .h5"
            )
        tensors = _datasets(weights, LEGACY_WEIGHTS_GROUP)
    try:
        config = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, RecursionError) as error:
        raise WeightFileError(path, f"model_config is not JSON: {error}") from None
    if not isinstance(config, Mapping):
        raise WeightFileError(path, "model_config is not a Keras model config")
    return FileContents(tensors=tensors, config=config)


def _datasets(weights: Any, group: str) -> tuple[Tensor, ...]:
    """Every dataset under ``group``, named by its path inside the file."""
    return tuple(
        Tensor(name, tuple(int(d) for d in item.shape), str(item.dtype))
        for name, item in checked_datasets(weights, group).items()
    )


def checked_datasets(weights: Any, group: str) -> dict[str, Any]:
    """Every h5py dataset under ``group`` by its path inside the file, reached through hard
    links only, each keeping its bytes in the file itself, plain or through a filter read;
    anything else raises :class:`~rnncalc.io.hdf5_meta.Refused`. Nothing is read but metadata:
    HDF5 opens another file only when data is read through it, or a link is followed."""
    import h5py

    found: dict[str, Any] = {}
    visits = 0

    def member(parent: Any, name: str, path: str) -> Any:
        """The object a hard link names; any other link is refused, never followed (h5py's
        ``in`` and ``get`` would follow the last link of a path: the link API does not)."""
        links, key = parent.id.links, name.encode()
        kind = links.get_info(key).type
        if kind == h5py.h5l.TYPE_SOFT:
            raise link_refusal(path, "a soft", _text(links.get_val(key)))
        if kind == h5py.h5l.TYPE_EXTERNAL:
            filename, target = links.get_val(key)
            raise link_refusal(path, "an external", f"{_text(filename)}:{_text(target)}")
        if kind != h5py.h5l.TYPE_HARD:
            raise Refused(path, "a user-defined link; rnncalc follows no links (Keras writes none)")
        return parent[name]

    def walk(item: Any, path: str, depth: int) -> None:
        nonlocal visits
        visits += 1
        if depth > MAX_DEPTH or visits > MAX_OBJECTS:
            raise Refused(path, f"groups nested over {MAX_DEPTH} deep or over {MAX_OBJECTS:,} objects")
        h5py.h5o.get_info(item.id)  # the whole header decoded, as h5py's visititems decodes it
        if isinstance(item, h5py.Dataset):
            _check_storage(h5py, item, path)
            found[path] = item
        elif isinstance(item, h5py.Group):
            for name in item:
                walk(member(item, name, f"{path}/{name}"), f"{path}/{name}", depth + 1)

    parent, path = weights, ""
    for part in group.split("/"):
        path = f"{path}/{part}" if path else part
        if not parent.id.links.exists(part.encode()):
            return {}
        parent = member(parent, part, path)
    walk(parent, group, 0)
    return dict(sorted(found.items()))


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _check_storage(h5py: Any, dataset: Any, path: str) -> None:
    """Refuse a dataset stored outside the file or through a filter not read."""
    plist = dataset.id.get_create_plist()
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        raise virtual_refusal(path)
    if plist.get_external_count():
        raise external_refusal(path)
    for index in range(plist.get_nfilters()):
        refused = filter_refusal(path, plist.get_filter(index)[0])
        if refused is not None:
            raise refused
