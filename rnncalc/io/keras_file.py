"""Read Keras weight files without importing Keras: ``.keras`` archives and legacy ``.h5``.

A Keras 3 ``.keras`` file is a zip (stored, not compressed) of ``config.json`` (the document
``model.to_json()`` prints), ``metadata.json`` and ``model.weights.h5``, whose model variables
live under ``layers/<layer name>/...`` (an ``optimizer/`` group holds the optimizer's state,
which ``count_params()`` leaves out). A legacy ``.h5`` (``model.save("m.h5")``) keeps the config
as the ``model_config`` attribute and the variables under ``model_weights/<layer name>/...``.
h5py reads the HDF5 metadata only: shapes and dtypes, no tensor data.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from typing import Any

from rnncalc.io.tensors import FileContents, Tensor, WeightFileError, require_module

H5PY_HINT = "pip install 'rnncalc[inspect]' (or pip install h5py)"
#: Groups of a weight file holding the model's variables, by format.
KERAS_WEIGHTS_GROUP = "layers"
LEGACY_WEIGHTS_GROUP = "model_weights"


def read_keras_archive(path: str) -> FileContents:
    """Config and variables of a Keras 3 ``.keras`` file."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise WeightFileError(path, f"not a .keras file: {error}") from None
    with archive:
        names = set(archive.namelist())
        if "config.json" not in names:
            raise WeightFileError(path, "not a .keras file: the archive has no config.json")
        try:
            config = json.loads(archive.read("config.json"))
        except (json.JSONDecodeError, UnicodeDecodeError, zipfile.BadZipFile, OSError) as error:
            raise WeightFileError(path, f"config.json is not readable JSON: {error}") from None
        if not isinstance(config, Mapping):
            raise WeightFileError(path, "config.json is not a Keras model config")
        if "model.weights.h5" not in names:
            return FileContents(
                format="keras", convention="keras", tensors=(), config=config,
                notes=("the archive holds no model.weights.h5: counts come from the config",),
            )  # fmt: skip
        h5py = require_module("h5py", H5PY_HINT)
        try:
            with archive.open("model.weights.h5") as member, h5py.File(member, "r") as weights:
                tensors = _datasets(weights, KERAS_WEIGHTS_GROUP)
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise WeightFileError(path, f"model.weights.h5 is not readable HDF5: {error}") from None
    return FileContents(format="keras", convention="keras", tensors=tensors, config=config)


def read_keras_h5(path: str) -> FileContents:
    """Config and variables of a legacy Keras ``.h5`` model file."""
    h5py = require_module("h5py", H5PY_HINT)
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
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as error:
        raise WeightFileError(path, f"model_config is not JSON: {error}") from None
    if not isinstance(config, Mapping):
        raise WeightFileError(path, "model_config is not a Keras model config")
    return FileContents(format="keras h5", convention="keras", tensors=tensors, config=config)


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
