"""Heterogeneous models: an optional embedding, recurrent blocks that may differ, dense heads.

A flat :class:`~rnncalc.core.spec.Spec` is a :class:`Model` with one recurrent block and nothing
else (:func:`model_from_spec`). Each recurrent block is itself a ``Spec`` (so every per-layer
rule of the core applies to it); the model fixes what must be shared: batch, time, layout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rnncalc.core.errors import SpecError
from rnncalc.core.limits import MAX_HEADS, MAX_LAYERS, MAX_SIZE
from rnncalc.core.spec import SPEC_FIELDS, MergeMode, Spec, did_you_mean, spec_from_mapping
from rnncalc.core.text import shown

#: Fields a recurrent block may set; ``input_size`` only on the first block.
LAYER_FIELDS: tuple[str, ...] = (
    "cell",
    "hidden_size",
    "input_size",
    "num_layers",
    "bidirectional",
    "bias",
    "nonlinearity",
    "proj_size",
    "reset_after",
    "merge_mode",
    "activation",
    "recurrent_activation",
    "unit_forget_bias",
    "go_backwards",
    "stateful",
    "unroll",
)
#: Fields shared by the whole model (the input it runs on and how the last block returns).
MODEL_SHAPE_FIELDS: tuple[str, ...] = ("batch_size", "seq_len", "batch_first", "return_sequences")
#: Flat-spec fields that have no meaning in a model with an embedding or dense heads.
FLAT_ONLY_FIELDS: tuple[str, ...] = ("return_state", "unbatched", "step")


def _check_size(name: str, value: Any) -> None:
    """A positive integer no larger than :data:`~rnncalc.core.limits.MAX_SIZE`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(name, f"must be an integer, got {shown(value)}")
    if value < 1:
        raise SpecError(name, f"must be a positive integer, got {shown(value)}")
    if value > MAX_SIZE:
        raise SpecError(name, f"must be at most {MAX_SIZE:,}, got {shown(value)}")


@dataclass(frozen=True)
class Embedding:
    """``nn.Embedding(vocab_size, dim)`` / ``keras.layers.Embedding(vocab_size, dim)``."""

    vocab_size: int
    dim: int

    def __post_init__(self) -> None:
        for name in ("vocab_size", "dim"):
            value = getattr(self, name)
            _check_size(name, value)

    def to_dict(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "dim": self.dim}


@dataclass(frozen=True)
class Dense:
    """``nn.Linear(in, units, bias)`` / ``keras.layers.Dense(units, use_bias=bias)``.

    ``activation`` is recorded (and passed to Keras) but changes no count or shape.
    """

    units: int
    bias: bool = True
    activation: str | None = None

    def __post_init__(self) -> None:
        _check_size("units", self.units)
        if not isinstance(self.bias, bool):
            raise SpecError("bias", f"must be true or false, got {shown(self.bias)}")
        if self.activation is not None and not isinstance(self.activation, str):
            raise SpecError("activation", f"must be a string, got {shown(self.activation)}")

    def to_dict(self) -> dict[str, Any]:
        return {"units": self.units, "bias": self.bias, "activation": self.activation}


@dataclass(frozen=True)
class Model:
    """Embedding → recurrent blocks → dense heads, run on one input.

    ``layers`` are specs whose batch/time/layout fields equal the model's (see
    :func:`build_model`), so each block's own shapes come out right when analysed alone.
    """

    layers: tuple[Spec, ...]
    embedding: Embedding | None = None
    dense: tuple[Dense, ...] = ()
    name: str | None = None
    batch_size: int | None = None
    seq_len: int | None = None
    batch_first: bool = False
    return_sequences: bool = False

    def __post_init__(self) -> None:
        _validate_model(self)

    @property
    def is_flat(self) -> bool:
        """True when this is exactly one recurrent block with no embedding and no heads."""
        return len(self.layers) == 1 and self.embedding is None and not self.dense

    @property
    def input_size(self) -> int | None:
        """Features entering the first recurrent block (the embedding's dim when there is one)."""
        if self.embedding is not None:
            return self.embedding.dim
        return self.layers[0].input_size

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "embedding": self.embedding.to_dict() if self.embedding else None,
            "layers": [{name: layer.to_dict()[name] for name in LAYER_FIELDS} for layer in self.layers],
            "dense": [head.to_dict() for head in self.dense],
            "batch_size": self.batch_size,
            "seq_len": self.seq_len,
            "batch_first": self.batch_first,
            "return_sequences": self.return_sequences,
        }


def model_from_spec(spec: Spec, name: str | None = None) -> Model:
    """The one-block model equivalent to a flat spec."""
    return Model(
        layers=(spec,),
        name=name,
        batch_size=spec.batch_size,
        seq_len=spec.seq_len,
        batch_first=spec.batch_first,
        return_sequences=spec.return_sequences,
    )


class FieldPathError(SpecError):
    """A :class:`SpecError` whose field is a path inside a model, e.g. ``layers[1].hidden_size``."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(format_path(path), message)
        self.path = path


def format_path(path: tuple[str | int, ...]) -> str:
    """``("layers", 1, "hidden_size")`` → ``layers[1].hidden_size``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def build_model(
    layers: Sequence[Mapping[str, Any]],
    embedding: Mapping[str, Any] | None = None,
    dense: Sequence[Mapping[str, Any]] | None = None,
    name: str | None = None,
    **shape: Any,
) -> Model:
    """Build a :class:`Model` from plain mappings; errors are :class:`FieldPathError`s."""
    unknown = [key for key in shape if key not in MODEL_SHAPE_FIELDS]
    if unknown:
        raise FieldPathError((unknown[0],), f"unknown field{did_you_mean(unknown[0], MODEL_SHAPE_FIELDS)}")
    shared = {key: value for key, value in shape.items() if value is not None}
    try:
        probe = spec_from_mapping({"cell": "rnn", "hidden_size": 1, **shared})
    except SpecError as error:
        raise FieldPathError((error.field,), error.message) from None
    emb = _embedding(embedding) if embedding is not None else None
    if not layers:
        raise FieldPathError(("layers",), "needs at least one recurrent layer")
    if len(layers) > MAX_LAYERS:
        raise FieldPathError(("layers",), f"holds {len(layers):,} layers; at most {MAX_LAYERS:,}")
    if dense is not None and len(dense) > MAX_HEADS:
        raise FieldPathError(("dense",), f"holds {len(dense):,} heads; at most {MAX_HEADS:,}")
    specs = []
    for index, layer in enumerate(layers):
        if not isinstance(layer, Mapping):
            raise FieldPathError(("layers", index), f"must be a mapping, got {_type_name(layer)}")
        specs.append(_layer_spec(index, layer, shared))
    heads = []
    for index, head in enumerate(dense or []):
        if not isinstance(head, Mapping):
            raise FieldPathError(("dense", index), f"must be a mapping, got {_type_name(head)}")
        heads.append(_dense(index, head))
    try:
        return Model(
            layers=tuple(specs),
            embedding=emb,
            dense=tuple(heads),
            name=name,
            batch_size=probe.batch_size,
            seq_len=probe.seq_len,
            batch_first=probe.batch_first,
            return_sequences=probe.return_sequences,
        )
    except FieldPathError:
        raise
    except SpecError as error:
        raise FieldPathError((error.field,), error.message) from None


def _type_name(value: Any) -> str:
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return names.get(type(value), shown(value))


def _layer_spec(index: int, layer: Mapping[str, Any], shared: Mapping[str, Any]) -> Spec:
    for key in layer:
        if not isinstance(key, str):
            raise FieldPathError(("layers", index, str(key)), "unknown field: keys are strings")
        if key in MODEL_SHAPE_FIELDS:
            raise FieldPathError(("layers", index, key), "is set on the model, not on one layer")
        if key in FLAT_ONLY_FIELDS:
            raise FieldPathError(("layers", index, key), "applies to a single flat spec only")
        if key not in LAYER_FIELDS:
            raise FieldPathError(("layers", index, key), f"unknown field{did_you_mean(key, LAYER_FIELDS)}")
    if index and layer.get("input_size") is not None:
        raise FieldPathError(
            ("layers", index, "input_size"),
            "only the first layer takes input_size; later ones get the previous layer's output",
        )
    try:
        return spec_from_mapping({**layer, **shared})
    except SpecError as error:
        raise FieldPathError(("layers", index, error.field), error.message) from None


def _embedding(data: Mapping[str, Any]) -> Embedding:
    if not isinstance(data, Mapping):
        raise FieldPathError(("embedding",), f"must be a mapping, got {_type_name(data)}")
    fields = ("vocab_size", "dim")
    for key in data:
        if key not in fields:
            raise FieldPathError(("embedding", str(key)), f"unknown field{did_you_mean(str(key), fields)}")
    for key in fields:
        if data.get(key) is None:
            raise FieldPathError(("embedding", key), "is required")
    try:
        return Embedding(**data)
    except SpecError as error:
        raise FieldPathError(("embedding", error.field), error.message) from None


def _dense(index: int, data: Mapping[str, Any]) -> Dense:
    fields = tuple(f.name for f in dataclasses.fields(Dense))
    for key in data:
        if key not in fields:
            raise FieldPathError(("dense", index, str(key)), f"unknown field{did_you_mean(str(key), fields)}")
    if data.get("units") is None:
        raise FieldPathError(("dense", index, "units"), "is required")
    try:
        return Dense(**data)
    except SpecError as error:
        raise FieldPathError(("dense", index, error.field), error.message) from None


def _validate_model(model: Model) -> None:
    if not model.layers:
        raise FieldPathError(("layers",), "needs at least one recurrent layer")
    stacked = sum(layer.num_layers for layer in model.layers)
    if stacked > MAX_LAYERS:
        raise FieldPathError(("layers",), f"stack {stacked:,} recurrent layers; at most {MAX_LAYERS:,}")
    first = model.layers[0]
    if (
        model.embedding is not None
        and first.input_size is not None
        and first.input_size != model.embedding.dim
    ):
        raise FieldPathError(
            ("layers", 0, "input_size"),
            f"is {first.input_size} but the embedding hands on {model.embedding.dim} features; "
            "omit input_size after an embedding",
        )
    if model.is_flat:
        return  # a flat spec keeps every single-stack option (merge_mode none, return_state, ...)
    for index, layer in enumerate(model.layers):
        for name in FLAT_ONLY_FIELDS:
            if getattr(layer, name):
                raise FieldPathError(("layers", index, name), "applies to a single flat spec only")
        if layer.merge_mode is MergeMode.NONE:
            raise FieldPathError(
                ("layers", index, "merge_mode"),
                "none returns two separate outputs, which no following layer or head can take; "
                "it is allowed in a single flat spec only",
            )
        if index and layer.input_size is not None:
            raise FieldPathError(
                ("layers", index, "input_size"),
                "only the first layer takes input_size; later ones get the previous layer's output",
            )
        for name in ("batch_size", "seq_len", "batch_first", "return_sequences"):
            if getattr(layer, name) != getattr(model, name):
                raise FieldPathError(("layers", index, name), "is set on the model, not on one layer")


#: Flat-spec fields, for did-you-mean in config files that mix both forms.
ALL_FIELDS: tuple[str, ...] = tuple(dict.fromkeys((*SPEC_FIELDS, "embedding", "layers", "dense")))


def override(model: Model, fields: Mapping[str, Any]) -> Model:
    """``model`` with command-line flag values applied.

    A flat model takes every field as given. For a larger model, batch/time/layout fields
    (``batch_size``, ``seq_len``, ``batch_first``, ``return_sequences``) apply to the model,
    ``input_size`` to the first recurrent layer, and every other field to every recurrent layer.
    Errors are :class:`SpecError`s naming the field.
    """
    if not fields:
        return model
    if model.is_flat:
        spec = model.layers[0]
        current = {name: getattr(spec, name) for name in spec.given}
        return model_from_spec(spec_from_mapping({**current, **fields}), model.name)
    for name in fields:
        if name in FLAT_ONLY_FIELDS:
            raise SpecError(name, "applies to a single flat spec only, not to a model with layers")
    if "input_size" in fields and model.embedding is not None:
        raise SpecError("input_size", "the model starts with an embedding; its dim is the input size")
    layers = []
    for index, spec in enumerate(model.layers):
        layer = {name: getattr(spec, name) for name in spec.given if name in LAYER_FIELDS}
        layer.update({name: value for name, value in fields.items() if name in LAYER_FIELDS})
        if index and "input_size" in fields:
            layer.pop("input_size", None)
        if model.embedding is not None:
            layer.pop("input_size", None)
        layers.append(layer)
    shape = {name: getattr(model, name) for name in MODEL_SHAPE_FIELDS}
    shape.update({name: value for name, value in fields.items() if name in MODEL_SHAPE_FIELDS})
    embedding = model.embedding.to_dict() if model.embedding else None
    dense = [{"units": d.units, "bias": d.bias, "activation": d.activation} for d in model.dense]
    try:
        return build_model(layers, embedding, dense, model.name, **shape)
    except FieldPathError as error:
        raise SpecError(
            error.path[-1] if isinstance(error.path[-1], str) else error.field, error.message
        ) from None
