"""Read the recurrent stack from a Keras ``model.to_json()`` document, without importing Keras.

Supported: ``Sequential`` and ``Functional`` models whose layers form one chain of
``InputLayer``, ``Embedding``, ``SimpleRNN``/``LSTM``/``GRU`` (optionally in ``Bidirectional``)
and ``Dense``. Anything else is an error naming the layer, never skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rnncalc.core.model import FieldPathError, Model, build_model
from rnncalc.core.text import printable, shown

SUPPORTED = ("InputLayer", "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "Dense")
_CELLS = {"SimpleRNN": "rnn", "LSTM": "lstm", "GRU": "gru"}
_MODELS = ("Sequential", "Functional", "Model")


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
        if kind != "Sequential":
            _check_chain(path, layer, label, previous)
            named = layer.get("name") or layer_config.get("name")
            previous = named if isinstance(named, str) else None
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
        recurrent, sequences = _recurrent(path, class_name, layer_config)
        layers.append(recurrent)
    if not layers:
        raise FieldPathError(("config", "layers"), "no SimpleRNN, LSTM or GRU layer found")
    if input_size is not None and embedding is None:
        layers[0]["input_size"] = input_size
    return build_model(layers, embedding, dense, name, return_sequences=sequences, **shape)


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


def _activation(value: Any) -> str | None:
    if isinstance(value, Mapping):  # Keras 3 may serialize activations as objects
        config = value.get("config")
        value = (config.get("name") if isinstance(config, Mapping) else None) or value.get("class_name")
    return value if isinstance(value, str) else None


def _recurrent(
    path: tuple[str | int, ...], class_name: str, config: Mapping[str, Any]
) -> tuple[dict[str, Any], bool]:
    """A layer mapping for a (possibly Bidirectional) recurrent layer, and its return_sequences."""
    layer: dict[str, Any] = {}
    if class_name == "Bidirectional":
        inner = _mapping(config.get("layer"), (*path, "config", "layer"))
        inner_class = inner.get("class_name")
        if not isinstance(inner_class, str) or inner_class not in _CELLS:
            raise FieldPathError(
                path, f"Bidirectional wraps {shown(inner_class)}; rnncalc reads SimpleRNN, LSTM, GRU"
            )
        layer["bidirectional"] = True
        merge = config.get("merge_mode", "concat")
        layer["merge_mode"] = "none" if merge is None else merge
        class_name, config = inner_class, _mapping(inner.get("config"), (*path, "config", "layer", "config"))
    layer["cell"] = _CELLS[class_name]
    layer["hidden_size"] = config.get("units")
    # Booleans as given: the spec refuses a string such as "false" rather than count a bias.
    layer["bias"] = config.get("use_bias", True)
    if class_name == "GRU":
        layer["reset_after"] = config.get("reset_after", True)
    if class_name == "SimpleRNN":
        activation = _activation(config.get("activation"))
        if activation not in ("tanh", "relu"):
            raise FieldPathError(
                path, f"SimpleRNN activation {shown(activation)}; rnncalc reads tanh or relu"
            )
        layer["nonlinearity"] = activation
    if config.get("return_state"):
        raise FieldPathError(path, f"{class_name} with return_state inside a model is not supported")
    sequences = config.get("return_sequences", False)
    if not isinstance(sequences, bool):
        raise FieldPathError(
            (*path, "config", "return_sequences"), f"must be true or false, got {shown(sequences)}"
        )
    return layer, sequences


def _mapping(value: Any, path: tuple[str | int, ...]) -> Mapping[str, Any]:
    """``value`` when it is a mapping, ``{}`` when absent; anything else names its path."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise FieldPathError(path, f"must be a mapping, got {shown(value)}")
    return value
