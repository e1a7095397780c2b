"""A Keras model (or a bare layer) in memory, read as its ``.keras`` file is read: the config is
the model's own (``model.to_json()``, nothing rebuilt), the variables are named as
``model.save`` names them in ``model.weights.h5`` and served in place.

A bare layer is read as the one-layer ``keras.Sequential([layer])`` holding it, saved.
Imported by :meth:`~rnncalc.core.convention.Convention.read_object` for an object whose class
comes from ``keras``: Keras is imported already.
"""

from __future__ import annotations

import io
import json
from typing import Any

from rnncalc.frameworks.inspection import Inspection, LiveObject, label, type_name
from rnncalc.frameworks.keras_files import archive_keys, find_layers, recorded_parts
from rnncalc.io.keras_file import KERAS_WEIGHTS_GROUP
from rnncalc.io.keras_json import keras_layers
from rnncalc.io.tensor_data import TensorData
from rnncalc.io.tensors import FileContents, Tensor


def read_object(obj: Any) -> LiveObject:
    """A ``keras.Model``'s config and variables, or a bare ``keras.Layer``'s as the one-layer
    Sequential model holding it."""
    import keras

    if isinstance(obj, keras.Model):
        config = json.loads(obj.to_json())
        kind, inner_path = "keras.Model", ""
    elif isinstance(obj, keras.layers.Layer):
        layer = json.loads(json.dumps(keras.saving.serialize_keras_object(obj), default=_plain))
        config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [layer]}}
        (key,) = archive_keys(keras_layers(config))
        kind, inner_path = "keras.Layer", f"{KERAS_WEIGHTS_GROUP}/{key}"
    else:
        raise TypeError(f"rnncalc reads a Keras Model or layer, not {type_name(obj)}")
    variables = _saved_variables(obj, inner_path)
    tensors = tuple(
        Tensor(name, tuple(int(d) for d in v.shape), str(v.dtype)) for name, v in variables.items()
    )
    file = label(obj)
    contents = FileContents(tensors, "keras", config)
    recurrent, notes, tensors, owners = find_layers(file, contents)
    inspection = Inspection(
        file=file,
        format=kind,
        convention="keras",
        tensors=tensors,
        recurrent=tuple(recurrent),
        notes=tuple(notes),
        layer_of=owners,
        recorded=recorded_parts(contents),
    )

    def read(name: str) -> Any:
        import numpy as np

        value = variables[name].value
        # A TensorFlow variable's read is a tensor on its buffer, which numpy views (its
        # ``numpy()`` and ``keras.ops.convert_to_numpy`` copy); other backends' values convert.
        read_value = getattr(value, "read_value", None)
        array = np.asarray(read_value()) if read_value is not None else keras.ops.convert_to_numpy(value)
        return np.asarray(array, dtype=np.float32)

    return LiveObject(inspection, TensorData(list(variables), read, lambda: None), "keras", contents)


def _saved_variables(saveable: Any, inner_path: str) -> dict[str, Any]:
    """The variables ``model.save`` writes under ``layers/`` of ``model.weights.h5``, by dataset
    path, in the file's order: Keras's own walk of the object (``saving_lib._save_state``, as
    :func:`~rnncalc.frameworks.keras_files.write_keras_archive` uses it) through a store that
    creates each dataset empty in an HDF5 file in memory, so that h5py lists them as it lists a
    saved file's; no value is copied."""
    import h5py  # a dependency of keras
    from keras.src.saving import saving_lib

    variables: dict[str, Any] = {}

    class Layout(saving_lib.H5IOStore):  # type: ignore[misc]
        def _get_h5_file(self, path_or_io: Any, mode: str | None = None) -> Any:
            return h5py.File(io.BytesIO(), "w")

        def __setitem__(self, key: str, variable: Any) -> None:
            if not self._h5_entry_initialized:
                self._create_h5_group(self._h5_entry_path)
            dataset = self._h5_entry_group.create_dataset(
                key, shape=tuple(variable.shape), dtype=variable.dtype
            )
            variables[dataset.name.lstrip("/")] = variable

    store = Layout("model.weights.h5", mode="w")
    try:
        saving_lib._save_state(
            saveable, weights_store=store, assets_store=None, inner_path=inner_path, visited_saveables=set()
        )
        names: list[str] = []
        if KERAS_WEIGHTS_GROUP in store.h5_file:
            store.h5_file[KERAS_WEIGHTS_GROUP].visititems(
                lambda name, item: (
                    names.append(f"{KERAS_WEIGHTS_GROUP}/{name}") if hasattr(item, "dtype") else None
                )
            )
    finally:
        store.h5_file.close()
    return {name: variables[name] for name in names}


def _plain(value: Any) -> Any:
    """JSON for what a layer config may hold beside plain values (tuples are lists already)."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"a layer config value of type {type(value).__name__}")
