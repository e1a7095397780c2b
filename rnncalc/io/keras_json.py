"""Read the recurrent stack from a Keras ``model.to_json()`` document, without importing Keras.

Supported: ``Sequential`` and ``Functional`` models whose layers form one chain of
``InputLayer``, ``Embedding``, ``SimpleRNN``/``LSTM``/``GRU`` or ``RNN`` of a
``SimpleRNNCell``/``LSTMCell``/``GRUCell`` (optionally in ``Bidirectional``), ``RNN`` of
``StackedRNNCells`` (one recurrent layer per cell: running the cells one after the other at
every step computes what a stack of layers computes, with the same weights), and ``Dense``
(optionally in ``TimeDistributed``). Layers without weights that keep the shape
(:data:`PASS_THROUGH`: dropout, masking, activations) pass through, and so do the operation
nodes Keras 3 writes for a mask (:data:`MASK_OPS`). Anything else is an error naming the layer,
never skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rnncalc.core.model import FieldPathError, Model, build_model
from rnncalc.core.spec import Activation
from rnncalc.core.text import printable, shown

SUPPORTED = ("InputLayer", "Embedding", "SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional", "Dense")
_CELLS = {"SimpleRNN": "rnn", "LSTM": "lstm", "GRU": "gru"}
#: ``keras.layers.RNN(cell)``: the cell classes and the layer each one is equivalent to.
_CELL_LAYERS = {"SimpleRNNCell": "SimpleRNN", "LSTMCell": "LSTM", "GRUCell": "GRU"}
_ACTIVATIONS = tuple(a.value for a in Activation)
_MODELS = ("Sequential", "Functional", "Model")
#: Layers without weights whose output has their input's shape: they change no count and no
#: shape, so a model reads the same with or without them (keras.io/api/layers).
PASS_THROUGH = frozenset(
    {
        "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
        "GaussianDropout", "GaussianNoise", "ActivityRegularization", "Masking", "Activation",
        "ReLU", "LeakyReLU", "ELU", "Softmax", "Identity",
    }
)  # fmt: skip
#: Operation nodes a Keras 3 Functional model records for a mask: ``Embedding(mask_zero=True)``
#: computes its mask as ``ops.not_equal(inputs, 0)``, saved as a ``NotEqual`` node on the input.
#: ``Masking`` computes ``ops.any(ops.not_equal(inputs, mask_value), axis=-1)``: ``Any`` too.
MASK_OPS = frozenset({"NotEqual", "Any"})


def model_from_keras_json(data: Mapping[str, Any]) -> Model:
    """The :class:`Model` a Keras JSON describes; errors name ``config.layers[k]``."""
    kind = data.get("class_name")
    if kind not in _MODELS:
        raise FieldPathError(
            ("class_name",), f"{shown(kind)} is not a Keras model; expected Sequential or Functional"
        )
    config = data.get("config")
    if not isinstance(config, Mapping) or not isinstance(config.get("layers"), list):
        raise FieldPathError(("config", "layers"), "missing: not a Keras model JSON")
    name = config.get("name") if isinstance(config.get("name"), str) else None
    embedding: dict[str, Any] | None = None
    layers: list[dict[str, Any]] = []
    dense: list[dict[str, Any]] = []
    shape: dict[str, Any] = {}
    input_size: int | None = None
    sequences = False
    previous: str | None = None
    for index, layer in enumerate(config["layers"]):
        path = ("config", "layers", index)
        if not isinstance(layer, Mapping):
            raise FieldPathError(path, "must be a layer mapping")
        class_name = layer.get("class_name")
        layer_config = _mapping(layer.get("config"), (*path, "config"))
        kind_text = printable(class_name[:100]) if isinstance(class_name, str) else shown(class_name)
        label = f"{kind_text} {shown(layer_config.get('name', ''))}"
        if not isinstance(class_name, str):  # a list or mapping cannot even be looked up in a set
            raise FieldPathError(path, f"unsupported layer {label}; rnncalc reads {', '.join(SUPPORTED)}")
        if class_name in MASK_OPS:
            continue  # computes a mask beside the chain; it holds no weights
        if kind != "Sequential":
            _check_chain(path, layer, label, previous)
            named = layer.get("name") or layer_config.get("name")
            previous = named if isinstance(named, str) else None
        if class_name in PASS_THROUGH:
            continue
        if class_name == "TimeDistributed":
            class_name, layer_config = _time_distributed_dense(path, label, layer_config)
        if class_name not in SUPPORTED:
            raise FieldPathError(
                path,
                f"unsupported layer {label}; rnncalc reads {', '.join(SUPPORTED)}",
            )
        if class_name == "InputLayer":
            batch_shape = layer_config.get("batch_shape") or layer_config.get("batch_input_shape")
            if isinstance(batch_shape, list) and len(batch_shape) >= 2:
                shape["batch_size"] = batch_shape[0]
                shape["seq_len"] = batch_shape[1]
                if len(batch_shape) == 3:
                    input_size = batch_shape[2]
            continue
        if input_size is None and not shape and not layers and embedding is None:
            # A Sequential built without keras.Input records the shape on its first layer.
            built = _mapping(layer.get("build_config"), (*path, "build_config")).get("input_shape")
            if isinstance(built, list) and len(built) >= 2:
                shape["batch_size"], shape["seq_len"] = built[0], built[1]
                if len(built) == 3 and class_name != "Embedding":
                    input_size = built[2]
        if class_name == "Embedding":
            if layers or embedding is not None:
                raise FieldPathError(path, f"{label} must come first, before the recurrent layers")
            embedding = {"vocab_size": layer_config.get("input_dim"), "dim": layer_config.get("output_dim")}
            continue
        if class_name == "Dense":
            if not layers:
                raise FieldPathError(path, f"{label} before any recurrent layer is not supported")
            dense.append(
                {
                    "units": layer_config.get("units"),
                    "bias": layer_config.get("use_bias", True),
                    "activation": _activation(layer_config.get("activation")),
                }
            )
            continue
        if dense:
            raise FieldPathError(path, f"{label} after a Dense layer is not supported")
        if class_name == "RNN" and _cell_class((*path, "config", "cell"), layer_config) == "StackedRNNCells":
            stacked, sequences = _stacked(path, layer_config)
            layers.extend(stacked)
            continue
        recurrent, sequences = _recurrent(path, class_name, layer_config)
        layers.append(recurrent)
    if not layers:
        raise FieldPathError(("config", "layers"), "no SimpleRNN, LSTM or GRU layer found")
    if input_size is not None and embedding is None:
        layers[0]["input_size"] = input_size
    return build_model(layers, embedding, dense, name, return_sequences=sequences, **shape)


def _time_distributed_dense(
    path: tuple[str | int, ...], label: str, config: Mapping[str, Any]
) -> tuple[str, Mapping[str, Any]]:
    """``TimeDistributed(Dense)`` holds the Dense's weights, applied at every step: a Dense head."""
    inner = _mapping(config.get("layer"), (*path, "config", "layer"))
    if inner.get("class_name") != "Dense":
        raise FieldPathError(
            path, f"{label} wraps {shown(inner.get('class_name'))}; rnncalc reads TimeDistributed(Dense)"
        )
    return "Dense", _mapping(inner.get("config"), (*path, "config", "layer", "config"))


def _check_chain(
    path: tuple[str | int, ...], layer: Mapping[str, Any], label: str, previous: str | None
) -> None:
    """A Functional model must be one chain: each layer called once, on the previous layer."""
    nodes = layer.get("inbound_nodes") or []
    if not isinstance(nodes, list):
        raise FieldPathError((*path, "inbound_nodes"), f"must be a list, got {shown(nodes)}")
    if previous is None:
        if nodes:
            raise FieldPathError(path, f"{label}: the model must start with its InputLayer")
        return
    sources = []
    for node in nodes:
        args = node.get("args", []) if isinstance(node, Mapping) else []
        for arg in args if isinstance(args, list) else []:
            config = arg.get("config") if isinstance(arg, Mapping) else None
            history = config.get("keras_history") if isinstance(config, Mapping) else None
            sources.append(history[0] if isinstance(history, list) and history else None)
    if len(nodes) != 1 or sources != [previous]:
        raise FieldPathError(
            path,
            f"{label} is not called once on the layer before it ({shown(previous)}); "
            "rnncalc reads a single chain of layers",
        )


def activation_name(value: Any) -> str | None:
    """A layer config's ``activation`` as its name (Keras 3 may write an object), or None."""
    return _activation(value)


def _activation(value: Any) -> str | None:
    if isinstance(value, Mapping):  # Keras 3 may serialize activations as objects
        config = value.get("config")
        value = (config.get("name") if isinstance(config, Mapping) else None) or value.get("class_name")
    return value if isinstance(value, str) else None


def _cell_class(cell_at: tuple[str | int, ...], config: Mapping[str, Any]) -> Any:
    """The class name of an ``RNN``'s ``cell`` (``config`` is the RNN's config; ``cell_at`` the
    path of its cell, named when the cell is not a mapping)."""
    return _mapping(config.get("cell"), cell_at).get("class_name")


def _unwrap_cell(
    path: tuple[str | int, ...], config: Mapping[str, Any], cell_at: tuple[str | int, ...]
) -> tuple[str, dict[str, Any]]:
    """``RNN(cell)`` read as the layer of that cell (``RNN(LSTMCell(n))`` is ``LSTM(n)``): the
    cell's config with the RNN's own options (return_sequences, go_backwards, ...) on top."""
    cell_class = _cell_class(cell_at, config)
    if not isinstance(cell_class, str) or cell_class not in _CELL_LAYERS:
        raise FieldPathError(
            path,
            f"RNN of {shown(cell_class)}; rnncalc reads RNN of {', '.join(_CELL_LAYERS)} or StackedRNNCells",
        )
    cell_config = _mapping(config["cell"].get("config"), (*cell_at, "config"))
    wrapper = {key: value for key, value in config.items() if key != "cell"}
    return _CELL_LAYERS[cell_class], {**cell_config, **wrapper}


def _stacked(path: tuple[str | int, ...], config: Mapping[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """``RNN(StackedRNNCells([...]))``: one layer per cell; the RNN's options apply to each."""
    where = (*path, "config", "cell", "config")
    cells = _mapping(_mapping(config.get("cell"), where[:-1]).get("config"), where).get("cells")
    if not isinstance(cells, list) or not cells:
        raise FieldPathError(path, "StackedRNNCells without cells")
    backwards = config.get("go_backwards", False)
    if not isinstance(backwards, bool):
        raise FieldPathError(
            (*path, "config", "go_backwards"), f"must be true or false, got {shown(backwards)}"
        )
    if backwards:
        raise FieldPathError(
            path, "RNN(StackedRNNCells) with go_backwards is not a stack of go_backwards layers"
        )
    wrapper = {key: value for key, value in config.items() if key != "cell"}
    layers = []
    for index, cell in enumerate(cells):
        single = {**wrapper, "cell": cell}
        layer, sequences = _recurrent(path, "RNN", single, (*where, "cells", index))
        layers.append(layer)
    return layers, sequences


def _options(path: tuple[str | int, ...], class_name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Activations and layer options that differ from Keras's defaults (so that a default layer
    reads as it always did); a SimpleRNN's tanh or relu is its ``nonlinearity``."""
    options: dict[str, Any] = {}
    activation = _activation(config.get("activation", "tanh"))
    if activation not in _ACTIVATIONS:
        raise FieldPathError(
            path,
            f"{class_name} activation {shown(config.get('activation'))}; "
            f"rnncalc reads {', '.join(_ACTIVATIONS)}",
        )
    if class_name == "SimpleRNN" and activation in ("tanh", "relu"):
        options["nonlinearity"] = activation
    elif activation != "tanh" or class_name == "SimpleRNN":
        options["activation"] = activation
    if class_name != "SimpleRNN":
        gate = _activation(config.get("recurrent_activation", "sigmoid"))
        if gate not in _ACTIVATIONS:
            raise FieldPathError(
                path,
                f"{class_name} recurrent_activation {shown(config.get('recurrent_activation'))}; "
                f"rnncalc reads {', '.join(_ACTIVATIONS)}",
            )
        if gate != "sigmoid":
            options["recurrent_activation"] = gate
    if class_name == "LSTM":
        forget = config.get("unit_forget_bias", True)
        if not isinstance(forget, bool):
            raise FieldPathError(
                path, f"{class_name} unit_forget_bias must be true or false, got {shown(forget)}"
            )
        if not forget:
            options["unit_forget_bias"] = False
    for name in ("go_backwards", "stateful", "unroll"):
        value = config.get(name, False)
        if not isinstance(value, bool):
            raise FieldPathError(path, f"{class_name} {name} must be true or false, got {shown(value)}")
        if value:
            options[name] = True
    return options


def _recurrent(
    path: tuple[str | int, ...],
    class_name: str,
    config: Mapping[str, Any],
    cell_at: tuple[str | int, ...] | None = None,
) -> tuple[dict[str, Any], bool]:
    """A layer mapping for a (possibly Bidirectional) recurrent layer, and its return_sequences.
    ``cell_at`` is the path of an ``RNN``'s cell (default: the layer's ``config.cell``)."""
    layer: dict[str, Any] = {}
    cell_at = cell_at or (*path, "config", "cell")
    if class_name == "Bidirectional":
        inner = _mapping(config.get("layer"), (*path, "config", "layer"))
        inner_class = inner.get("class_name")
        inner_config = _mapping(inner.get("config"), (*path, "config", "layer", "config"))
        cell_at = (*path, "config", "layer", "config", "cell")
        if inner_class == "RNN" and _cell_class(cell_at, inner_config) in _CELL_LAYERS:
            inner_class = "RNN"
        elif not isinstance(inner_class, str) or inner_class not in _CELLS:
            raise FieldPathError(
                path,
                f"Bidirectional wraps {shown(inner_class)}; rnncalc reads SimpleRNN, LSTM, GRU, RNN(cell)",
            )
        layer["bidirectional"] = True
        merge = config.get("merge_mode", "concat")
        layer["merge_mode"] = "none" if merge is None else merge
        class_name, config = inner_class, inner_config
    if class_name == "RNN":
        class_name, config = _unwrap_cell(path, config, cell_at)
    layer["cell"] = _CELLS[class_name]
    layer["hidden_size"] = config.get("units")
    # Booleans as given: the spec refuses a string such as "false" rather than count a bias.
    layer["bias"] = config.get("use_bias", True)
    if class_name == "GRU":
        layer["reset_after"] = config.get("reset_after", True)
    layer.update(_options(path, class_name, config))
    if config.get("return_state"):
        raise FieldPathError(path, f"{class_name} with return_state inside a model is not supported")
    sequences = config.get("return_sequences", False)
    if not isinstance(sequences, bool):
        raise FieldPathError(
            (*path, "config", "return_sequences"), f"must be true or false, got {shown(sequences)}"
        )
    return layer, sequences


@dataclass(frozen=True)
class KerasLayer:
    """One top-level layer of a Keras model config, as :mod:`rnncalc.inspect` walks it.

    ``input_shape`` is the shape Keras built the layer for (``build_config``), when recorded;
    ``module`` the Python module Keras records for its class.
    """

    name: str
    class_name: str
    config: Mapping[str, Any]
    input_shape: tuple[int | None, ...] | None
    module: str | None = None

    @property
    def is_operation(self) -> bool:
        """True for an operation node (``keras.ops``), which Keras 3 writes into a Functional
        config beside its layers but which is no ``Layer``: it owns no weights."""
        return (self.module or "").startswith(("keras.src.ops.", "keras.ops"))


def keras_layers(data: Mapping[str, Any]) -> tuple[KerasLayer, ...]:
    """Every top-level layer of a Keras model document (``model.to_json()``, ``config.json``),
    in order, whatever its class; errors name ``config.layers[k]``."""
    if data.get("class_name") not in _MODELS:
        raise FieldPathError(("class_name",), f"{shown(data.get('class_name'))} is not a Keras model")
    config = data.get("config")
    if not isinstance(config, Mapping) or not isinstance(config.get("layers"), list):
        raise FieldPathError(("config", "layers"), "missing: not a Keras model config")
    found = []
    for index, layer in enumerate(config["layers"]):
        if not isinstance(layer, Mapping) or not isinstance(layer.get("class_name"), str):
            raise FieldPathError(("config", "layers", index), "must be a layer mapping with a class_name")
        layer_config = _mapping(layer.get("config"), ("config", "layers", index, "config"))
        name = layer.get("name") or layer_config.get("name")
        if not isinstance(name, str):
            raise FieldPathError(("config", "layers", index, "name"), "missing")
        built = _mapping(layer.get("build_config"), ("config", "layers", index, "build_config")).get(
            "input_shape"
        )
        shape = (
            tuple(d if isinstance(d, int) and not isinstance(d, bool) else None for d in built)
            if isinstance(built, list)
            else None
        )
        module = layer.get("module") if isinstance(layer.get("module"), str) else None
        found.append(KerasLayer(name, layer["class_name"], layer_config, shape, module))
    return tuple(found)


def recurrent_fields(path: tuple[str | int, ...], layer: KerasLayer) -> list[dict[str, Any]] | None:
    """The spec fields, without ``input_size``, of the recurrent layers one Keras layer is:
    one for ``SimpleRNN``/``LSTM``/``GRU`` or ``RNN(cell)`` (maybe in ``Bidirectional``), one
    per cell for ``RNN(StackedRNNCells)``, in order; None for any other layer."""
    inner = layer.config.get("layer") if layer.class_name == "Bidirectional" else None
    wrapped = inner.get("class_name") if isinstance(inner, Mapping) else None
    recurrent = {*_CELLS, "RNN"}
    if layer.class_name not in recurrent and wrapped not in recurrent:
        return None
    config = dict(layer.config)
    config.pop("return_state", None)  # changes outputs, not weights
    if layer.class_name == "RNN" and _cell_class((*path, "config", "cell"), config) == "StackedRNNCells":
        return _stacked(path, config)[0]
    return [_recurrent(path, layer.class_name, config)[0]]


def _mapping(value: Any, path: tuple[str | int, ...]) -> Mapping[str, Any]:
    """``value`` when it is a mapping, ``{}`` when absent; anything else names its path."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise FieldPathError(path, f"must be a mapping, got {shown(value)}")
    return value
