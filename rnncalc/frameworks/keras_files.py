"""Keras files: recurrent layers from the model config, checked against (and counted from) the
weight file's variables; for a model JSON without weights, the weights the config implies.

Imported by :class:`~rnncalc.frameworks.keras.KerasConvention`'s file methods only, so that
importing the registry stays cheap.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rnncalc.core.errors import ConversionError, FrameworkMissingError, SpecError
from rnncalc.core.model import FieldPathError
from rnncalc.core.parts import DenseActivation
from rnncalc.core.spec import Spec
from rnncalc.frameworks.inspection import Found, expected_weights, layer_for, spec_or_none
from rnncalc.io.keras_json import (
    MASK_OPS,
    PASS_THROUGH,
    KerasLayer,
    activation_name,
    keras_layers,
    recurrent_fields,
)
from rnncalc.io.tensor_data import CannotRun, TensorData, TensorFormat, first_line
from rnncalc.io.tensors import FileContents, Tensor, WeightFileError, require_module
from rnncalc.io.weight_format import ZIP_MAGIC, WeightFormat, zip_members

if TYPE_CHECKING:
    from rnncalc.frameworks.writing import Pairs, Plan

#: First bytes of an HDF5 file (HDF5 File Format Specification, "Format Signature").
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def weight_formats() -> tuple[WeightFormat, ...]:
    """Keras 3 ``.keras`` archives (a zip holding ``config.json``), legacy ``.h5`` models and
    model JSON (``model.to_json()``, a config without weights)."""
    from rnncalc.io.keras_file import read_keras_archive, read_keras_h5, read_keras_json

    return (
        WeightFormat("keras", "Keras 3 .keras file", (".keras",), read_keras_archive, magic=ZIP_MAGIC,
                     sniff=lambda path, head: "config.json" in zip_members(path)),
        WeightFormat("keras h5", "legacy Keras .h5 file", (".h5", ".hdf5"), read_keras_h5, magic=HDF5_MAGIC),
        WeightFormat("keras json", "Keras model JSON", (".json",), read_keras_json, magic=b"{"),
    )  # fmt: skip


def _recurrent(path: tuple[str | int, ...], layer: KerasLayer) -> bool:
    """True for a recurrent layer, read or not (find_layers says why one is not)."""
    try:
        return recurrent_fields(path, layer) is not None
    except SpecError:
        return True


def _dense_weights(config: Mapping[str, Any], features: int) -> list[tuple[str, tuple[int, ...]]]:
    units = config.get("units")
    if not isinstance(units, int):
        return []
    return [("kernel", (features, units))] + ([("bias", (units,))] if config.get("use_bias", True) else [])


def _normalization_weights(kinds: tuple[str, ...]) -> Callable[[Mapping[str, Any], int], list[Any]]:
    def weights(config: Mapping[str, Any], features: int) -> list[tuple[str, tuple[int, ...]]]:
        flags = {"gamma": config.get("scale", True), "beta": config.get("center", True)}
        return [(kind, (features,)) for kind in kinds if flags.get(kind, True)]

    return weights


def _time_distributed_weights(config: Mapping[str, Any], features: int) -> list[tuple[str, tuple[int, ...]]]:
    inner = config.get("layer")
    if isinstance(inner, Mapping) and inner.get("class_name") == "Dense":
        return _dense_weights(inner.get("config") or {}, features)
    return []


#: Weighted Keras layers whose weights follow from their config and input features, for a
#: model JSON without a weight file (keras/src/layers/...: each layer's ``build``).
KERAS_CONFIG_WEIGHTS: dict[str, Callable[[Mapping[str, Any], int], list[tuple[str, tuple[int, ...]]]]] = {
    "Dense": _dense_weights,
    "TimeDistributed": _time_distributed_weights,
    "LayerNormalization": _normalization_weights(("gamma", "beta")),
    "BatchNormalization": _normalization_weights(("gamma", "beta", "moving_mean", "moving_variance")),
}
#: Layers holding no weights at all, beside :data:`rnncalc.io.keras_json.PASS_THROUGH`.
KERAS_WEIGHTLESS = frozenset(
    {
        "InputLayer", "Flatten", "Reshape", "Permute", "RepeatVector", "Concatenate", "Add", "Subtract",
        "Multiply", "Average", "Maximum", "Minimum", "Lambda", "Cropping1D", "ZeroPadding1D",
        "GlobalMaxPooling1D", "GlobalAveragePooling1D", "MaxPooling1D", "AveragePooling1D",
    }
)  # fmt: skip


def find_layers(file: str, contents: FileContents) -> Found:
    """Recurrent layers from the config, checked against (and counted from) the weight file."""
    assert contents.config is not None  # every Keras reader returns the config
    try:
        flat = flatten_keras(contents.config, contents.format)
    except SpecError as error:
        raise WeightFileError(file, f"Keras config: {error}") from None
    weightless = KERAS_WEIGHTLESS | PASS_THROUGH | MASK_OPS
    by_prefix = _tensors_by_prefix(contents.tensors, {prefix for *_, prefix in flat if prefix})
    from_config = contents.from_config
    tensors: list[Tensor] = list(contents.tensors)
    owners: dict[str, str] = {}
    layers, notes = [], []
    for path, layer, prefix in flat:
        features = layer.input_shape[-1] if layer.input_shape else None
        held = tuple(by_prefix.get(prefix, ())) if prefix else ()
        try:
            fields = recurrent_fields(path, layer)
            parts = _recurrent_parts(layer, fields, held, prefix, contents.format) if fields else None
        except SpecError as error:
            notes.append(f"{layer.class_name} {layer.name!r} not read: {error.message}")
            continue
        owners.update((tensor.name, f"{layer.name} ({layer.class_name})") for tensor in held)
        if parts is not None:
            for name, cell_fields, cell_held in parts:
                if from_config:
                    spec = spec_or_none({**cell_fields, "input_size": features})
                    if spec is None or features is None:
                        why = "records no input shape" if spec else "is not a valid spec"
                        notes.append(f"{layer.class_name} {name!r}: its config {why}; not counted")
                        features = None
                        continue
                    # Keras's report names the variables after a default layer name ("gru/
                    # gru_cell/kernel"); the config's own name replaces the layer's (and, in
                    # a StackedRNNCells, the cell's) part.
                    kept = 1 if name == layer.name else 2
                    cell_held = tuple(
                        Tensor(f"{name}/{'/'.join(weight.split('/')[kept:])}", shape, "float32")
                        for weight, shape in expected_weights(spec, "keras")
                    )
                    tensors.extend(cell_held)
                    owners.update((tensor.name, f"{layer.name} ({layer.class_name})") for tensor in cell_held)
                else:
                    spec = _keras_spec_matching(cell_fields, features, cell_held)
                    if spec is None:
                        notes.append(
                            f"{layer.class_name} {name!r}: the weight file's shapes "
                            f"{sorted(t.shape for t in cell_held)} do not match its config; "
                            "left among the other tensors"
                        )
                        features = None
                        continue
                layers.append(layer_for(name, spec, cell_held))
                features = spec.hidden_size  # the next cell of a StackedRNNCells reads this
            continue
        if layer.class_name in weightless or layer.is_operation:
            continue
        if not from_config:
            if held and layer.class_name not in KERAS_CONFIG_WEIGHTS and layer.class_name != "Embedding":
                count = sum(t.numel for t in held)
                notes.append(
                    f"{layer.class_name} {layer.name!r}: {count:,} parameters counted from the weight file"
                )
            continue
        synthesized = _config_weights(layer, features)
        if synthesized is None:
            known = layer.class_name in KERAS_CONFIG_WEIGHTS and features is None
            why = "its config records no input shape" if known else "weights unknown without a weight file"
            notes.append(f"{layer.class_name} {layer.name!r}: {why}; not counted")
            continue
        made = [Tensor(f"{layer.name}/{name}", shape, "float32") for name, shape in synthesized]
        tensors.extend(made)
        owners.update((tensor.name, f"{layer.name} ({layer.class_name})") for tensor in made)
    return layers, notes, tuple(tensors), owners


#: Keras model classes, whose config nests layers of their own.
KERAS_MODELS = frozenset({"Sequential", "Functional", "Model"})
#: Models within models deeper than this are refused (real ones nest one or two levels).
MAX_NESTING = 16


def flatten_keras(
    config: Mapping[str, Any], file_format: str
) -> list[tuple[tuple[str | int, ...], KerasLayer, str | None]]:
    """Every layer of a Keras config, nested models' layers included (named ``outer/inner``),
    with its config path and the prefix of its variables in the weight file (None when it has
    none there). ``.keras`` archives: ``layers/<key>/`` (:func:`archive_keys`), nested
    ``layers/<key>/layers/<inner key>/``; legacy ``.h5``: a top-level layer's group
    ``model_weights/<name>/``, a nested layer's ``model_weights/<top name>/<the layer's
    variable path>/``, e.g. ``model_weights/encoder/encoder/lstm/``."""
    found: list[tuple[tuple[str | int, ...], KerasLayer, str | None]] = []

    def walk(data: Mapping[str, Any], path: tuple[str | int, ...], keys: list[str], names: list[str]) -> None:
        if len(keys) > MAX_NESTING:
            raise FieldPathError(path, f"models nested more than {MAX_NESTING} deep")
        members = keras_layers(data)
        own = archive_keys(members) if file_format == "keras" else [m.name for m in members]
        for index, (layer, key) in enumerate(zip(members, own, strict=True)):
            at = (*path, "config", "layers", index)
            if key is None:
                found.append((at, layer, None))
                continue
            chain = [*keys, key]
            if file_format == "keras":
                prefix = "layers/" + "/layers/".join(chain) + "/"
            elif len(chain) == 1:
                # The layer's group holds its variables under their paths, which a Sequential
                # begins with its own name: model_weights/lstm/sequential/lstm/lstm_cell/kernel.
                prefix = f"model_weights/{key}/"
            else:
                prefix = f"model_weights/{chain[0]}/{'/'.join(chain)}/"
            if layer.class_name in KERAS_MODELS and isinstance(layer.config.get("layers"), list):
                walk(
                    {"class_name": layer.class_name, "config": layer.config}, at, chain, [*names, layer.name]
                )
                continue
            shown = layer if not names else replace(layer, name="/".join([*names, layer.name]))
            found.append((at, shown, prefix))

    walk(config, (), [], [])
    return found


def _tensors_by_prefix(tensors: Sequence[Tensor], prefixes: set[str]) -> dict[str, list[Tensor]]:
    """Each tensor under the longest of ``prefixes`` its name starts with."""
    grouped: dict[str, list[Tensor]] = defaultdict(list)
    for tensor in tensors:
        cut = len(tensor.name)
        while cut > 0:
            cut = tensor.name.rfind("/", 0, cut)
            if cut < 0:
                break
            if tensor.name[: cut + 1] in prefixes:
                grouped[tensor.name[: cut + 1]].append(tensor)
                break
    return grouped


def archive_keys(config_layers: Sequence[KerasLayer]) -> list[str | None]:
    """Where a ``.keras`` archive keeps each layer's variables: not under the layer's name but
    under the snake_case of its class, numbered from the second layer of a class on (``dense``,
    ``dense_1``), in the order of ``model.layers`` (keras/src/saving/saving_lib.py,
    ``_save_container_state``; keras/src/utils/naming.py, ``to_snake_case``). Operation nodes
    are not layers and get no key."""
    used: dict[str, int] = {}
    keys: list[str | None] = []
    for layer in config_layers:
        if layer.is_operation:
            keys.append(None)
            continue
        name = re.sub(r"\W+", "", layer.class_name)
        name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
        name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
        used[name] = used.get(name, -1) + 1
        keys.append(f"{name}_{used[name]}" if used[name] else name)
    return keys


def _recurrent_parts(
    layer: KerasLayer,
    fields: Sequence[Mapping[str, Any]],
    held: tuple[Tensor, ...],
    prefix: str | None,
    file_format: str,
) -> list[tuple[str, Mapping[str, Any], tuple[Tensor, ...]]]:
    """Name, spec fields and weight-file tensors of each recurrent layer one Keras layer is.
    ``RNN(StackedRNNCells)`` is one per cell, named ``<layer>/<cell>``; its cells' variables are
    ``.keras``: ``layers/<layer>/cell/cells/<key>/vars/<i>``, keyed like the model's layers
    (:func:`archive_keys`: ``lstm_cell``, ``gru_cell``, ``lstm_cell_1``); legacy ``.h5``:
    ``.../stacked_rnn_cells/<cell name>/<variable>``, the cell's variable path (Keras 3.15,
    measured with h5py)."""
    if len(fields) == 1:
        return [(layer.name, fields[0], held)]
    # keras_json.recurrent_fields read several layers only from a valid list of cell mappings.
    cells = keras_layers(
        {"class_name": "Sequential", "config": {"layers": layer.config["cell"]["config"]["cells"]}}
    )
    parts = []
    for cell, key, cell_fields in zip(cells, archive_keys(cells), fields, strict=True):
        if file_format == "keras":
            start = f"{prefix}cell/cells/{key}/"
            owned = tuple(t for t in held if t.name.startswith(start))
        else:
            owned = tuple(t for t in held if t.name.rsplit("/", 2)[-2:-1] == [cell.name])
        parts.append((f"{layer.name}/{cell.name}", cell_fields, owned))
    return parts


def _keras_spec_matching(
    fields: Mapping[str, Any], features: int | None, held: tuple[Tensor, ...]
) -> Spec | None:
    """The spec whose Keras weights have exactly the shapes ``held``; the input size comes from
    ``build_config`` or, when the config does not record it, from the kernels' first axis."""
    found = sorted(tensor.shape for tensor in held)
    kernels = {t.shape[0] for t in held if len(t.shape) == 2}
    candidates = [features] if features is not None else sorted(kernels)
    for input_size in candidates:
        spec = spec_or_none({**fields, "input_size": input_size})
        if spec is not None and sorted(shape for _, shape in expected_weights(spec, "keras")) == found:
            return spec
    return None


def _config_weights(layer: Any, features: int | None) -> list[tuple[str, tuple[int, ...]]] | None:
    """The weights a known layer builds, from its config; None when they cannot be known."""
    if layer.class_name == "Embedding":
        vocab, dim = layer.config.get("input_dim"), layer.config.get("output_dim")
        return [("embeddings", (vocab, dim))] if _sizes((vocab, dim)) else None
    rule = KERAS_CONFIG_WEIGHTS.get(layer.class_name)
    if rule is None or features is None:
        return None
    weights = rule(layer.config, features)
    return weights if weights and all(_sizes(shape) for _, shape in weights) else None


def _sizes(shape: tuple[Any, ...]) -> bool:
    """True when every dimension is a positive integer (a config may say anything)."""
    return all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)


# --- rnncalc convert: tensor values in and out ---------------------------------------------------


def tensor_formats() -> tuple[TensorFormat, ...]:
    """Keras 3 ``.keras`` archives, read and written (``--to keras``); legacy ``.h5`` models
    (``model.save("m.h5")`` of Keras 3, and of Keras 2: ``tf_keras``), read."""
    return (
        TensorFormat("keras", "Keras 3 model (.keras)", (".keras",), open_keras_archive,
                     target="keras", write=write_keras_archive, order=keras_variable_order,
                     refuse_file=dropped_layers, run_file=run_keras_file,
                     exact_suffix=True),  # keras.saving.load_model tests endswith(".keras")
        TensorFormat("keras h5", "legacy Keras model (.h5)", (".h5", ".hdf5"), open_keras_h5,
                     order=legacy_variable_order, refuse_file=dropped_layers, run_file=run_keras_file),
    )  # fmt: skip


def run_keras_file(path: str, x: Any) -> tuple[str, list[Any]]:
    """The model in ``path`` loaded as a user loads it (``keras.saving.load_model`` with
    ``safe_mode=True``; a Keras 2 ``.h5`` that Keras 3 cannot load, with ``tf_keras`` when it is
    installed, in its safe mode) and called on ``x`` for inference: who ran it and its outputs."""
    import numpy as np

    from rnncalc.frameworks.keras import CONVENTION, _keras

    try:
        keras = _keras()  # imported with TensorFlow silenced
    except ImportError:
        raise FrameworkMissingError(f"{path}: running it needs keras: {CONVENTION.install_hint}") from None
    try:
        model, by = keras.saving.load_model(path, compile=False, safe_mode=True), "Keras"
    except Exception as error:
        model, by = _keras2_model(path, error), "tf_keras"
    try:
        outputs = model(x, training=False)
    except Exception as error:
        raise CannotRun(f"{by} cannot run it: {first_line(error)}") from error
    listed = list(outputs.values()) if isinstance(outputs, Mapping) else outputs
    return by, [np.asarray(out) for out in (listed if isinstance(listed, (list, tuple)) else [listed])]


def _keras2_model(path: str, refused: Exception) -> Any:
    """The Keras 2 model in the ``.h5`` file ``path`` that Keras 3 ``refused``, loaded by
    ``tf_keras`` (Keras 2's own loader, in its safe mode); :class:`CannotRun` without it."""
    import importlib.util

    if not path.lower().endswith((".h5", ".hdf5")) or importlib.util.find_spec("tf_keras") is None:
        raise CannotRun(f"Keras cannot load it: {first_line(refused)}")
    import tf_keras
    from tf_keras.src.saving.serialization_lib import SafeModeScope

    try:
        with SafeModeScope(True):
            return tf_keras.models.load_model(path, compile=False)
    except Exception as error:
        raise CannotRun(f"neither Keras nor tf_keras can load it: {first_line(error)}") from error


#: Layers that compute the identity when a model runs for inference (keras/src/layers/
#: regularization/: each ``call`` returns its input unless ``training``), so a converted stack
#: that leaves them out computes what the model computes. Every other layer that is not
#: recurrent is refused by :func:`dropped_layers`, not dropped.
KERAS_IDENTITY_AT_INFERENCE = frozenset(
    {
        "InputLayer", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
        "AlphaDropout", "GaussianDropout", "GaussianNoise", "ActivityRegularization", "Identity",
    }
)  # fmt: skip


def dropped_layers(contents: FileContents) -> str | None:
    """Why convert cannot move the model in a Keras file: the layers beside the recurrent ones,
    :data:`KERAS_IDENTITY_AT_INFERENCE` and the parts of a whole model (:func:`_described`)
    that a conversion would leave out (a ``Lambda``, a custom layer, ``Attention``, ``Conv1D``,
    an operation node), by name and class; None when there are none."""
    assert contents.config is not None  # every Keras reader returns the config
    try:
        flat = flatten_keras(contents.config, contents.format)
    except SpecError as error:
        return f"Keras config: {error}"
    dropped = [
        f"{layer.name!r} ({layer.class_name}{_described(layer) or ''})"
        for path, layer, _ in flat
        if layer.class_name not in KERAS_IDENTITY_AT_INFERENCE
        and not _recurrent(path, layer)
        and _described(layer) != ""
    ]
    if not dropped:
        return None
    listed = ", ".join(dropped[:4]) + (f" and {len(dropped) - 4} more" if len(dropped) > 4 else "")
    return f"the model holds layers convert does not move, which the conversion would leave out: {listed}"


def _described(layer: KerasLayer) -> str | None:
    """ "" when the layer is a part of rnncalc's model description as configured (an
    ``Embedding`` without a mask, ``LayerNormalization`` on the last axis, a ``Dense`` or
    ``TimeDistributed(Dense)`` with an activation rnncalc knows), else None, or what in its
    config keeps it out (``, mask_zero=True``)."""
    config = layer.config
    wrapped = config.get("layer")
    if layer.class_name == "TimeDistributed" and isinstance(wrapped, Mapping):
        inner = wrapped.get("config")
        if wrapped.get("class_name") != "Dense" or not isinstance(inner, Mapping):
            return None
        config = inner
    elif layer.class_name not in _PART_LAYERS:
        return None
    if layer.class_name == "Embedding" and config.get("mask_zero"):
        return ", mask_zero=True: the mask changes what the recurrent layers compute"
    axis = config.get("axis", -1)
    if layer.class_name == "LayerNormalization" and (axis not in (-1, [-1]) or config.get("rms_scaling")):
        return f", axis={axis}: rnncalc's layer norm normalizes the last axis without rms_scaling"
    activation = activation_name(config.get("activation"))
    if "activation" in config and activation not in {None, *(a.value for a in DenseActivation)}:
        return f", activation {activation!r}"
    return ""


#: Keras layers that are parts of a whole model (besides recurrent layers and dropouts).
_PART_LAYERS = frozenset({"Embedding", "LayerNormalization", "Dense", "TimeDistributed"})


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


#: A legacy ``.h5`` variable's place in its cell's ``build`` order (keras/src/layers/rnn/lstm.py):
#: the last part of its name, without Keras 2's ``:0``.
LEGACY_VARIABLES = {"kernel": 0, "recurrent_kernel": 1, "bias": 2}


def legacy_variable_order(name: str) -> tuple[int, int]:
    """Sort key putting a legacy ``.h5`` recurrent layer's datasets in ``layer.weights`` order:
    forward before backward (a ``Bidirectional``'s ``forward_<name>`` and ``backward_<name>``
    groups), then kernel, recurrent kernel, bias. Keras 3 names them
    ``model_weights/<layer>/<model>/<layer>/<cell>/kernel``, Keras 2 (``tf_keras``)
    ``model_weights/<layer>/<layer>/<cell>/kernel:0``."""
    *groups, leaf = name.split("/")
    backward = any(group.startswith("backward_") for group in groups)
    return (int(backward), LEGACY_VARIABLES.get(leaf.split(":")[0], len(LEGACY_VARIABLES)))


def open_keras_archive(path: str) -> TensorData:
    """A ``.keras`` archive's weight datasets. Keras stores ``model.weights.h5`` uncompressed
    and its datasets contiguous, so each is mapped straight from the archive file at the
    offset h5py reports (read only as it is copied); any other dataset is read through h5py
    when looked up. A dataset stored outside the file is refused before anything is read
    (:func:`rnncalc.io.keras_file.checked_datasets`)."""
    from rnncalc.io.keras_file import (
        H5PY_HINT,
        KERAS_WEIGHTS_GROUP,
        WEIGHTS_MEMBER,
        hdf5_errors,
        open_member,
        stored_member_start,
    )
    from rnncalc.io.zip_guard import open_zip

    h5py = require_module("h5py", H5PY_HINT, path)
    archive = open_zip(path)
    with hdf5_errors(path, WEIGHTS_MEMBER), contextlib.ExitStack() as stack:
        stack.callback(archive.close)
        member = archive.getinfo(WEIGHTS_MEMBER)
        start = stored_member_start(path, member)
        handle = open_member(path, archive, member)
        stack.callback(handle.close)
        weights = h5py.File(handle, "r")
        stack.callback(weights.close)
        data = _hdf5_tensors(
            path, WEIGHTS_MEMBER, weights, KERAS_WEIGHTS_GROUP, start, member.file_size, stack
        )
    return data


def open_keras_h5(path: str) -> TensorData:
    """A legacy Keras ``.h5`` model's weight datasets, mapped from the file where they lie in it
    whole (as :func:`open_keras_archive`), else read through h5py when looked up."""
    import os

    from rnncalc.io.keras_file import H5PY_HINT, LEGACY_WEIGHTS_GROUP, hdf5_errors

    h5py = require_module("h5py", H5PY_HINT, path)
    with hdf5_errors(path), contextlib.ExitStack() as stack:
        weights = h5py.File(path, "r")
        stack.callback(weights.close)
        data = _hdf5_tensors(path, "", weights, LEGACY_WEIGHTS_GROUP, 0, os.path.getsize(path), stack)
    return data


def _hdf5_tensors(
    path: str, member: str, weights: Any, group: str, start: int | None, size: int, stack: Any
) -> TensorData:
    """The datasets under ``group`` of the open HDF5 file ``weights``, which starts at byte
    ``start`` of ``path`` (None: not mapped) and holds ``size`` bytes; the data closes ``stack``.
    Contiguous, unfiltered float32 datasets are mapped straight from ``path``."""
    import numpy as np

    from rnncalc.io.keras_file import checked_datasets, hdf5_errors
    from rnncalc.io.mapped import mapped

    datasets = checked_datasets(weights, group)
    owned = stack.pop_all()

    def mapped_view(name: str) -> Any:
        """The dataset's bytes mapped from the file, when they lie there whole (contiguous,
        unfiltered float32 inside the HDF5 file), else None."""
        dataset = datasets[name]
        offset = dataset.id.get_offset() if start is not None else None
        if (
            start is None
            or offset is None
            or not dataset.size
            or dataset.chunks is not None
            or dataset.dtype != np.dtype("<f4")
        ):
            return None
        if offset + dataset.nbytes > size:
            return None  # not where the header says: h5py's read reports it
        return mapped(np.memmap(path, dtype="<f4", mode="r", offset=start + offset, shape=dataset.shape))

    def read(name: str) -> Any:
        with hdf5_errors(path, member):
            view = mapped_view(name)
            return view if view is not None else np.asarray(datasets[name][()])  # as float32: TensorData

    return TensorData(list(datasets), read, owned.close, mapped_view)


class _PrivateSavingFailed(Exception):
    """Keras's private saving library did not do what :func:`write_keras_archive` expects."""


@contextlib.contextmanager
def _private_saving() -> Iterator[None]:
    """Any failure of a call into Keras's private saving library (an ``AttributeError``,
    ``TypeError`` or ``ImportError`` from a Keras that moved or changed it, or anything else) as
    :class:`_PrivateSavingFailed`, so that the writer falls back to ``model.save``."""
    try:
        yield
    except Exception as error:
        raise _PrivateSavingFailed(str(error)) from error


def _saving_library() -> Any:
    """Keras's private saving module (keras/src/saving/saving_lib.py)."""
    from keras.src.saving import saving_lib

    return saving_lib


def write_keras_archive(plan: Plan, pairs: Pairs, path: str) -> None:
    """The Keras convention's model (input ``(batch, time, features)``, any batch and length,
    every layer returning its whole sequence as nn.LSTM, the ONNX operators and nnx.RNN do),
    written as ``model.save`` writes it (keras/src/saving/saving_lib.py,
    ``_save_model_to_fileobj``: a stored zip of ``metadata.json``, ``config.json`` and
    ``model.weights.h5``) while holding one tensor at a time:

    - the model is built in ``keras.StatelessScope(initialize_variables=False)``, where Keras
      defers each variable's initialisation (keras/src/backend/common/variables.py): the
      variables have their shapes, dtypes and paths but no values, so Keras's own serialisation
      (``_serialize_model_as_json``) gives ``config.json`` and ``metadata.json`` without
      allocating the weights;
    - Keras's own walk of the model (``_save_state``) lays out ``model.weights.h5``'s groups and
      attributes, through a store that creates each variable's dataset empty
      (:func:`_empty_datasets`) instead of writing its value;
    - each pair is written into the dataset of the variable of its name and dropped; the HDF5
      file is written in place inside the archive (:mod:`rnncalc.io.zip_in_place`), not in a
      temporary file copied in afterwards.

    Those are Keras's private functions (Keras 3.15, the version the tests run): when any call
    into them fails, before a pair is taken, the file is written by :func:`_save_whole_model`
    instead.
    """
    try:
        _stream_keras_archive(plan, pairs, path)
    except _PrivateSavingFailed:
        _save_whole_model(plan, pairs, path)


def _stream_keras_archive(plan: Plan, pairs: Pairs, path: str) -> None:
    """:func:`write_keras_archive` through Keras's private saving library; raises
    :class:`_PrivateSavingFailed`, having taken no pair, when that library fails."""
    import h5py  # a dependency of keras
    import numpy as np

    from rnncalc.frameworks import keras as keras_convention
    from rnncalc.frameworks.writing import checked, target_rows
    from rnncalc.io.zip_in_place import zip_with_member_in_place

    keras = keras_convention.keras  # type: ignore[attr-defined]  # imported with TensorFlow silenced
    with _private_saving():
        from keras.src.backend.common import global_state

        saving_lib = _saving_library()
        pending = global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True)
        before = len(pending)
    rows = target_rows(plan)
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = _target_model(plan)
        with _private_saving():
            config_json, metadata_json = saving_lib._serialize_model_as_json(model)
        members = [("metadata.json", metadata_json.encode()), ("config.json", config_json.encode())]
        size = sum(4 * int(np.prod(shape, dtype=np.int64)) for _, shape in rows)
        with (
            zip_with_member_in_place(path, members, "model.weights.h5", size) as handle,
            h5py.File(handle, "w") as weights,
        ):
            with _private_saving():
                datasets = _empty_datasets(saving_lib, model, weights)
            del model
            missing = [name for name, _ in rows if name not in datasets]
            if missing or len(datasets) != len(rows):
                extra = sorted(set(datasets) - {name for name, _ in rows})
                raise ConversionError(
                    f"internal: the Keras model's variables {extra} and the tensors {missing} differ"
                )
            for name, array in checked(plan, pairs):
                datasets.pop(name)[...] = array
                del array  # not held while the next tensor is made
    finally:
        # The deferred variables wait in a global list for the next StatelessScope to leave;
        # taken out, they are never given values (1 GiB for a 1 GiB checkpoint).
        del pending[before:]


def _save_whole_model(plan: Plan, pairs: Pairs, path: str) -> None:
    """``model.save`` of the Keras convention's model with every variable assigned: the whole
    state at once, for a Keras whose saving library is not the one :func:`write_keras_archive`
    streams through. Public API only."""
    from rnncalc.frameworks.writing import checked

    arrays = dict(checked(plan, pairs))
    model = _target_model(plan)
    for variable in model.weights:
        variable.assign(arrays.pop(variable.path))
    if arrays:
        raise ConversionError(f"internal: the Keras model has no variable {next(iter(arrays))}")
    model.save(path)


def _target_model(plan: Plan) -> Any:
    """The Keras model ``plan`` writes: the whole model's chain, or the stack returning every
    step (as nn.LSTM, the ONNX operators and nnx.RNN do)."""
    from rnncalc.frameworks.keras import build, build_model

    if plan.source.model is not None:
        return build_model(plan.source.model)
    return build(plan.spec.replace(return_sequences=True))


def _empty_datasets(saving_lib: Any, model: Any, weights: Any) -> dict[str, Any]:
    """Keras's layout of ``model``'s weights (groups ``layers/<key>/.../vars`` named by
    attribute, one dataset ``0, 1, 2...`` per variable: ``saving_lib._save_state``) in the open
    HDF5 file ``weights``, each dataset created empty; returns them by variable path."""
    datasets: dict[str, Any] = {}

    class EmptyDatasets(saving_lib.H5IOStore):  # type: ignore[misc]
        def _get_h5_file(self, path_or_io: Any, mode: str | None = None) -> Any:
            return weights

        def __setitem__(self, key: str, variable: Any) -> None:
            # H5IOStore.__setitem__ without the value: the group made on first use.
            if not self._h5_entry_initialized:
                self._create_h5_group(self._h5_entry_path)
            datasets[variable.path] = self._h5_entry_group.create_dataset(
                key, shape=tuple(variable.shape), dtype=variable.dtype
            )

    store = EmptyDatasets("model.weights.h5", mode="w")
    saving_lib._save_state(
        model, weights_store=store, assets_store=None, inner_path="", visited_saveables=set()
    )
    return datasets


#: Keras layers without weights that the chain keeps as a dropout (keras.io/api/layers).
_DROPOUTS = frozenset({"Dropout", "SpatialDropout1D"})


def recorded_parts(contents: FileContents) -> dict[str, dict[str, Any]]:
    """What the config says of each layer beyond its weights (see
    :meth:`~rnncalc.frameworks.contract.FrameworkConvention.recorded_parts`): a ``Dense`` acts
    on every step when it is wrapped in ``TimeDistributed`` or follows a recurrent layer that
    returns sequences. Every other layer is listed with kind None, to give the order."""
    if contents.config is None:
        return {}
    try:
        flat = flatten_keras(contents.config, contents.format)
    except SpecError:
        return {}
    found: dict[str, dict[str, Any]] = {}
    sequences = False
    for _, layer, _ in flat:
        config = layer.config
        wrapped = config.get("layer")
        inner: Mapping[str, Any] = wrapped if isinstance(wrapped, Mapping) else {}
        inner_config: Mapping[str, Any] = inner["config"] if isinstance(inner.get("config"), Mapping) else {}
        found[layer.name] = {"kind": None}  # its place in the order, for the dropouts
        if layer.class_name in ("SimpleRNN", "LSTM", "GRU", "RNN"):
            sequences = config.get("return_sequences") is True
        elif layer.class_name == "Bidirectional":
            sequences = inner_config.get("return_sequences") is True
        elif layer.class_name in _DROPOUTS:
            found[layer.name] = {"kind": "dropout", "rate": config.get("rate")}
        elif layer.class_name == "LayerNormalization":
            found[layer.name] = {"kind": "layer_norm", "epsilon": config.get("epsilon")}
        elif layer.class_name == "Dense" or (
            layer.class_name == "TimeDistributed" and inner.get("class_name") == "Dense"
        ):
            dense = config if layer.class_name == "Dense" else inner_config
            activation = activation_name(dense.get("activation"))
            per_step = sequences or layer.class_name == "TimeDistributed"
            found[layer.name] = {"kind": "dense", "per_step": per_step, "activation": activation}
    return found
