"""Read the recurrent stack from a Keras ``model.to_json()`` document, without importing Keras.

Supported: ``Sequential`` and ``Functional`` models whose layers form one chain of
``InputLayer``, ``Embedding``, ``SimpleRNN``/``LSTM``/``GRU`` (optionally in ``Bidirectional``)
and ``Dense`` (optionally in ``TimeDistributed``). Layers without weights that keep the shape
(:data:`PASS_THROUGH`: dropout, masking, activations) pass through, and so do the ``NotEqual``
operation nodes Keras 3 writes for an ``Embedding(mask_zero=True)``'s mask. Anything else is an
error naming the layer, never skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rnncalc.core.model import FieldPathError, Model, build_model

SUPPORTED = ("InputLayer", "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "Dense")
_CELLS = {"SimpleRNN": "rnn", "LSTM": "lstm", "GRU": "gru"}
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
            ("class_name",), f"{kind!r} is not a Keras model; expected Sequential or Functional"
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
        layer_config = layer.get("config") or {}
        label = f"{class_name} {layer_config.get('name', '')!r}".strip()
        if class_name in MASK_OPS:
            continue  # computes a mask beside the chain; it holds no weights
        if kind != "Sequential":
            _check_chain(path, layer, label, previous)
            previous = layer.get("name") or layer_config.get("name")
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
            built = (layer.get("build_config") or {}).get("input_shape")
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
                    "bias": bool(layer_config.get("use_bias", True)),
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


def _time_distributed_dense(
    path: tuple[str | int, ...], label: str, config: Mapping[str, Any]
) -> tuple[str, Mapping[str, Any]]:
    """``TimeDistributed(Dense)`` holds the Dense's weights, applied at every step: a Dense head."""
    inner = config.get("layer")
    if not isinstance(inner, Mapping) or inner.get("class_name") != "Dense":
        inner_class = inner.get("class_name") if isinstance(inner, Mapping) else None
        raise FieldPathError(path, f"{label} wraps {inner_class}; rnncalc reads TimeDistributed(Dense)")
    inner_config = inner.get("config")
    return "Dense", inner_config if isinstance(inner_config, Mapping) else {}


def _check_chain(
    path: tuple[str | int, ...], layer: Mapping[str, Any], label: str, previous: str | None
) -> None:
    """A Functional model must be one chain: each layer called once, on the previous layer."""
    nodes = layer.get("inbound_nodes") or []
    if previous is None:
        if nodes:
            raise FieldPathError(path, f"{label}: the model must start with its InputLayer")
        return
    sources = []
    for node in nodes:
        for arg in node.get("args", []) if isinstance(node, Mapping) else []:
            history = arg.get("config", {}).get("keras_history") if isinstance(arg, Mapping) else None
            sources.append(history[0] if isinstance(history, list) and history else None)
    if len(nodes) != 1 or sources != [previous]:
        raise FieldPathError(
            path,
            f"{label} is not called once on the layer before it ({previous!r}); "
            "rnncalc reads a single chain of layers",
        )


def _activation(value: Any) -> str | None:
    if isinstance(value, Mapping):  # Keras 3 may serialize activations as objects
        value = value.get("config", {}).get("name") or value.get("class_name")
    return value if isinstance(value, str) else None


def _recurrent(
    path: tuple[str | int, ...], class_name: str, config: Mapping[str, Any]
) -> tuple[dict[str, Any], bool]:
    """A layer mapping for a (possibly Bidirectional) recurrent layer, and its return_sequences."""
    layer: dict[str, Any] = {}
    if class_name == "Bidirectional":
        inner = config.get("layer") or {}
        inner_class = inner.get("class_name")
        if inner_class not in _CELLS:
            raise FieldPathError(
                path, f"Bidirectional wraps {inner_class}; rnncalc reads SimpleRNN, LSTM, GRU"
            )
        layer["bidirectional"] = True
        merge = config.get("merge_mode", "concat")
        layer["merge_mode"] = "none" if merge is None else merge
        class_name, config = inner_class, inner.get("config") or {}
    layer["cell"] = _CELLS[class_name]
    layer["hidden_size"] = config.get("units")
    layer["bias"] = bool(config.get("use_bias", True))
    if class_name == "GRU":
        layer["reset_after"] = bool(config.get("reset_after", True))
    if class_name == "SimpleRNN":
        activation = _activation(config.get("activation"))
        if activation not in ("tanh", "relu"):
            raise FieldPathError(path, f"SimpleRNN activation {activation!r}; rnncalc reads tanh or relu")
        layer["nonlinearity"] = activation
    if config.get("return_state"):
        raise FieldPathError(path, f"{class_name} with return_state inside a model is not supported")
    return layer, bool(config.get("return_sequences", False))


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
        raise FieldPathError(("class_name",), f"{data.get('class_name')!r} is not a Keras model")
    config = data.get("config")
    if not isinstance(config, Mapping) or not isinstance(config.get("layers"), list):
        raise FieldPathError(("config", "layers"), "missing: not a Keras model config")
    found = []
    for index, layer in enumerate(config["layers"]):
        if not isinstance(layer, Mapping) or not isinstance(layer.get("class_name"), str):
            raise FieldPathError(("config", "layers", index), "must be a layer mapping with a class_name")
        layer_config = layer.get("config")
        layer_config = layer_config if isinstance(layer_config, Mapping) else {}
        name = layer.get("name") or layer_config.get("name")
        if not isinstance(name, str):
            raise FieldPathError(("config", "layers", index, "name"), "missing")
        built = (layer.get("build_config") or {}).get("input_shape")
        shape = (
            tuple(d if isinstance(d, int) and not isinstance(d, bool) else None for d in built)
            if isinstance(built, list)
            else None
        )
        module = layer.get("module") if isinstance(layer.get("module"), str) else None
        found.append(KerasLayer(name, layer["class_name"], layer_config, shape, module))
    return tuple(found)


def recurrent_fields(path: tuple[str | int, ...], layer: KerasLayer) -> dict[str, Any] | None:
    """The spec fields of a recurrent layer (``SimpleRNN``/``LSTM``/``GRU``, maybe in
    ``Bidirectional``), without ``input_size``; None for any other layer."""
    inner = layer.config.get("layer") if layer.class_name == "Bidirectional" else None
    wrapped = inner.get("class_name") if isinstance(inner, Mapping) else None
    if layer.class_name not in _CELLS and wrapped not in _CELLS:
        return None
    config = dict(layer.config)
    config.pop("return_state", None)  # changes outputs, not weights
    return _recurrent(path, layer.class_name, config)[0]
