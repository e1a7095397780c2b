"""Whole models: a chain of parts (an optional embedding, recurrent blocks that may differ, layer
norms, dropout, dense layers).

A flat :class:`~rnncalc.core.spec.Spec` is a :class:`Model` with one recurrent block and nothing
else (:func:`model_from_spec`). Each recurrent block is itself a ``Spec`` (so every per-layer
rule of the core applies to it); the model fixes what must be shared: batch, time, layout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from rnncalc.core.errors import SpecError
from rnncalc.core.limits import MAX_HEADS, MAX_LAYERS, MAX_SIZE
from rnncalc.core.parts import DenseActivation, PartKind
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


#: A feature count: an int, or the symbol ``I`` while the input size is unknown.
_D = TypeVar("_D")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise SpecError(name, f"must be true or false, got {shown(value)}")


@dataclass(frozen=True)
class Embedding:
    """``nn.Embedding(vocab_size, dim)`` / ``keras.layers.Embedding(vocab_size, dim)``."""

    vocab_size: int
    dim: int
    kind: ClassVar[PartKind] = PartKind.EMBEDDING

    def __post_init__(self) -> None:
        for name in ("vocab_size", "dim"):
            value = getattr(self, name)
            _check_size(name, value)

    def features(self, size: _D) -> _D | int:
        """Features this part hands on when given ``size``."""
        return self.dim

    def to_dict(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "dim": self.dim}


@dataclass(frozen=True)
class LayerNorm:
    """Layer normalization over the feature axis: ``nn.LayerNorm``, Keras ``LayerNormalization``,
    ``nnx.LayerNorm``, ONNX ``LayerNormalization`` (opset 17).

    ``scale`` and ``bias`` are the learned ``(features,)`` vectors (Keras ``scale``/``center``,
    PyTorch ``elementwise_affine``/``bias``, Flax ``use_scale``/``use_bias``). ``epsilon``
    defaults to PyTorch's and ONNX's 1e-5 (Keras's own default is 1e-3, Flax's 1e-6): one
    value, so every framework computes the same.
    """

    epsilon: float = 1e-5
    scale: bool = True
    bias: bool = True
    kind: ClassVar[PartKind] = PartKind.LAYER_NORM

    def __post_init__(self) -> None:
        if isinstance(self.epsilon, bool) or not isinstance(self.epsilon, (int, float)):
            raise SpecError("epsilon", f"must be a number, got {shown(self.epsilon)}")
        if not 0 < self.epsilon < 1:
            raise SpecError("epsilon", f"must be between 0 and 1, got {shown(self.epsilon)}")
        object.__setattr__(self, "epsilon", float(self.epsilon))
        _check_bool("scale", self.scale)
        _check_bool("bias", self.bias)

    def features(self, size: _D) -> _D | int:
        return size

    def to_dict(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, "scale": self.scale, "bias": self.bias}


@dataclass(frozen=True)
class Dropout:
    """Dropout (Keras ``Dropout``/``SpatialDropout1D``, ``nn.Dropout``, ``nnx.Dropout``): no
    weights, the identity at inference; kept in the chain because frameworks number it."""

    rate: float = 0.5
    kind: ClassVar[PartKind] = PartKind.DROPOUT

    def __post_init__(self) -> None:
        if isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)):
            raise SpecError("rate", f"must be a number, got {shown(self.rate)}")
        if not 0 <= self.rate < 1:
            raise SpecError("rate", f"must be at least 0 and below 1, got {shown(self.rate)}")
        object.__setattr__(self, "rate", float(self.rate))

    def features(self, size: _D) -> _D | int:
        return size

    def to_dict(self) -> dict[str, Any]:
        return {"rate": self.rate}


@dataclass(frozen=True)
class Dense:
    """``nn.Linear(in, units, bias)`` / ``keras.layers.Dense(units, use_bias=bias)``.

    ``activation`` changes no count or shape. ``per_step``: True applies the layer at every
    time step (Keras ``TimeDistributed(Dense)`` or ``Dense`` on a sequence, ``nn.Linear`` on
    ``(N, T, F)``), False on the last step only; None (a head after the recurrent layers) takes
    what the last recurrent layer returns, as each framework builds it (see ``model_notes``).
    """

    units: int
    bias: bool = True
    activation: DenseActivation | None = None
    per_step: bool | None = None
    kind: ClassVar[PartKind] = PartKind.DENSE

    def __post_init__(self) -> None:
        _check_size("units", self.units)
        _check_bool("bias", self.bias)
        if self.activation is not None and not isinstance(self.activation, DenseActivation):
            if not isinstance(self.activation, str):
                raise SpecError("activation", f"must be a string, got {shown(self.activation)}")
            try:
                object.__setattr__(self, "activation", DenseActivation(self.activation))
            except ValueError:
                choices = tuple(a.value for a in DenseActivation)
                raise SpecError(
                    "activation",
                    f"unknown activation {shown(self.activation)}{did_you_mean(self.activation, choices)}; "
                    f"choose {', '.join(choices)}",
                ) from None
        if self.per_step is not None:
            _check_bool("per_step", self.per_step)

    def features(self, size: _D) -> _D | int:
        return self.units

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "units": self.units,
            "bias": self.bias,
            "activation": self.activation.value if self.activation else None,
        }
        if self.per_step is not None:
            data["per_step"] = self.per_step
        return data


#: One link of a model's chain: a recurrent block is a :class:`Spec`.
Part = Embedding | Spec | LayerNorm | Dropout | Dense
#: The weighted or weightless parts other than recurrent blocks, by kind (for readers).
PART_CLASSES: dict[PartKind, type[LayerNorm | Dropout | Dense]] = {
    PartKind.LAYER_NORM: LayerNorm,
    PartKind.DROPOUT: Dropout,
    PartKind.DENSE: Dense,
}


@dataclass(frozen=True)
class Model:
    """A chain of parts run on one input: an optional embedding, then recurrent blocks with
    layer norms, dropout and dense layers between and after them.

    Built from ``parts`` (the chain in order) or, as before parts existed, from ``layers``,
    ``embedding`` and ``dense`` (embedding → layers → dense heads); either way every one of
    these fields is filled in: ``layers`` are the recurrent blocks, ``dense`` every dense layer,
    in chain order. ``layers`` are specs whose batch/time/layout fields equal the model's (see
    :func:`build_model`), so each block's own shapes come out right when analysed alone.
    """

    layers: tuple[Spec, ...] = ()
    embedding: Embedding | None = None
    dense: tuple[Dense, ...] = ()
    name: str | None = None
    batch_size: int | None = None
    seq_len: int | None = None
    batch_first: bool = False
    return_sequences: bool = False
    parts: tuple[Part, ...] = ()

    def __post_init__(self) -> None:
        classic = (*((self.embedding,) if self.embedding else ()), *self.layers, *self.dense)
        if classic and (self.layers, self.embedding, self.dense) != _split(self.parts):
            # The fields disagree (``dataclasses.replace(model, layers=...)``): they make the
            # chain again, unless it holds parts they cannot place.
            if self.parts and self.parts != _classic(self.parts):
                raise SpecError("parts", "give the chain as parts, or as embedding, layers and dense")
            object.__setattr__(self, "parts", classic)
        layers, embedding, dense = _split(self.parts)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "embedding", embedding)
        object.__setattr__(self, "dense", dense)
        _validate_model(self)

    @property
    def is_flat(self) -> bool:
        """True when this is exactly one recurrent block with no embedding and no heads."""
        return len(self.parts) == 1 and len(self.layers) == 1

    @property
    def is_chain(self) -> bool:
        """True when the model holds more than embedding → recurrent blocks → dense heads: a
        norm, a dropout, a dense layer between blocks, or a head with ``per_step`` set."""
        return self.parts != _classic(self.parts) or any(head.per_step is not None for head in self.dense)

    @property
    def input_size(self) -> int | None:
        """Features entering the first recurrent block (the embedding's dim when there is one)."""
        if self.embedding is not None:
            return self.embedding.dim
        return self.layers[0].input_size

    @property
    def last_block(self) -> int:
        """Index in :attr:`parts` of the last recurrent block."""
        return max(i for i, part in enumerate(self.parts) if isinstance(part, Spec))

    @property
    def last_step(self) -> bool:
        """True when a dense head after the recurrent blocks says ``per_step: false``: every
        framework hands the parts after the last block its last step only."""
        return any(getattr(part, "per_step", None) is False for part in self.parts[self.last_block :])

    @property
    def tail_sequences(self) -> bool:
        """True when the last recurrent block hands on every step as Keras builds it
        (``return_sequences``, or a head after it with ``per_step: true``)."""
        tail = self.parts[self.last_block :]
        return self.return_sequences or any(getattr(part, "per_step", None) is True for part in tail)

    @property
    def heads_unplaced(self) -> bool:
        """True when a dense head after the last recurrent block leaves ``per_step`` unset, so
        each framework applies it as it builds the model (see the conventions' notes)."""
        tail = self.parts[self.last_block :]
        return any(isinstance(part, Dense) and part.per_step is None for part in tail)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "name": self.name,
            "embedding": self.embedding.to_dict() if self.embedding else None,
            "layers": [_layer_dict(layer) for layer in self.layers],
            "dense": [head.to_dict() for head in self.dense],
            "batch_size": self.batch_size,
            "seq_len": self.seq_len,
            "batch_first": self.batch_first,
            "return_sequences": self.return_sequences,
        }
        if self.is_chain:
            data["parts"] = [part_dict(part) for part in self.parts]
        return data


def _layer_fields(spec: Spec) -> dict[str, Any]:
    """The layer fields that make ``spec`` again: those given, and those off their default
    (a spec built in code records none as given)."""
    default = Spec(cell=spec.cell, hidden_size=spec.hidden_size)
    return {
        name: getattr(spec, name)
        for name in LAYER_FIELDS
        if name in spec.given
        or name in ("cell", "hidden_size")
        or getattr(spec, name) != getattr(default, name)
    }


def _layer_dict(layer: Spec) -> dict[str, Any]:
    return {name: layer.to_dict()[name] for name in LAYER_FIELDS}


def part_dict(part: Part) -> dict[str, Any]:
    """A part as the ``parts`` list of the JSON report writes it: ``kind`` first."""
    if isinstance(part, Spec):
        return {"kind": PartKind.RECURRENT.value, **_layer_dict(part)}
    return {"kind": part.kind.value, **part.to_dict()}


def _classic(parts: tuple[Part, ...]) -> tuple[Part, ...]:
    """``parts`` as embedding → recurrent blocks → dense layers, without norms or dropout."""
    layers, embedding, dense = _split(parts)
    return (*((embedding,) if embedding else ()), *layers, *dense)


def _split(parts: tuple[Part, ...]) -> tuple[tuple[Spec, ...], Embedding | None, tuple[Dense, ...]]:
    """The recurrent blocks, the embedding and the dense layers of a chain."""
    layers = tuple(part for part in parts if isinstance(part, Spec))
    embedding = next((part for part in parts if isinstance(part, Embedding)), None)
    dense = tuple(part for part in parts if isinstance(part, Dense))
    return layers, embedding, dense


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
    """Build a :class:`Model` from plain mappings; errors are :class:`FieldPathError`s.

    The chain is the embedding, then ``layers``, then ``dense``. An entry's ``kind`` says what
    it is (:class:`PartKind`): in ``layers`` it defaults to a recurrent block (``cell``,
    ``hidden_size``, ...), in ``dense`` to a dense layer; both also take ``layer_norm`` and
    ``dropout``, and ``layers`` takes ``dense`` (between recurrent blocks, or after them).
    """
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
    parts: list[Part] = [emb] if emb is not None else []
    paths: list[tuple[str | int, ...]] = [("embedding",)] if emb is not None else []
    recurrent = 0
    for index, layer in enumerate(layers):
        if not isinstance(layer, Mapping):
            raise FieldPathError(("layers", index), f"must be a mapping, got {_type_name(layer)}")
        kind = _kind_of(("layers", index), layer, PartKind.RECURRENT, LAYER_KINDS)
        if kind is PartKind.RECURRENT:
            parts.append(_layer_spec(index, recurrent, layer, shared))
            recurrent += 1
        else:
            parts.append(_part(("layers", index), kind, layer))
        paths.append(("layers", index))
    if not recurrent:
        raise FieldPathError(("layers",), "needs at least one recurrent layer (cell, hidden_size)")
    for index, head in enumerate(dense or []):
        if not isinstance(head, Mapping):
            raise FieldPathError(("dense", index), f"must be a mapping, got {_type_name(head)}")
        kind = _kind_of(("dense", index), head, PartKind.DENSE, HEAD_KINDS)
        parts.append(_part(("dense", index), kind, head))
        paths.append(("dense", index))
    try:
        return Model(
            name=name,
            batch_size=probe.batch_size,
            seq_len=probe.seq_len,
            batch_first=probe.batch_first,
            return_sequences=probe.return_sequences,
            parts=tuple(parts),
        )
    except PartError as error:  # named as the file wrote it: layers[3], not the chain's parts[4]
        raise FieldPathError((*paths[error.part], *error.rest), error.message) from None
    except FieldPathError:
        raise
    except SpecError as error:
        raise FieldPathError((error.field,), error.message) from None


#: Part kinds an entry of ``layers`` may be, and of ``dense`` (the embedding is its own key).
LAYER_KINDS: tuple[PartKind, ...] = (
    PartKind.RECURRENT,
    PartKind.LAYER_NORM,
    PartKind.DROPOUT,
    PartKind.DENSE,
)
HEAD_KINDS: tuple[PartKind, ...] = (PartKind.DENSE, PartKind.LAYER_NORM, PartKind.DROPOUT)
#: Fields of each non-recurrent part kind (besides ``kind``), as config files write them.
PART_FIELDS: dict[PartKind, tuple[str, ...]] = {
    kind: tuple(f.name for f in dataclasses.fields(cls)) for kind, cls in PART_CLASSES.items()
}


def _kind_of(
    path: tuple[str | int, ...], data: Mapping[str, Any], default: PartKind, allowed: tuple[PartKind, ...]
) -> PartKind:
    """The ``kind`` an entry names (``default`` when it names none), checked against ``allowed``."""
    value = data.get("kind", default.value)
    choices = tuple(kind.value for kind in allowed)
    if not isinstance(value, str) or value not in choices:
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        raise FieldPathError(
            (*path, "kind"), f"unknown kind {shown(value)}{hint}; choose {', '.join(choices)}"
        )
    return PartKind(value)


def _part(path: tuple[str | int, ...], kind: PartKind, data: Mapping[str, Any]) -> Part:
    """A layer norm, dropout or dense layer from its mapping (``kind`` already read)."""
    fields = PART_FIELDS[kind]
    for key in data:
        if key != "kind" and key not in fields:
            raise FieldPathError((*path, str(key)), f"unknown field{did_you_mean(str(key), fields)}")
    if kind is PartKind.DENSE and data.get("units") is None:
        raise FieldPathError((*path, "units"), "is required")
    try:
        return PART_CLASSES[kind](**{key: value for key, value in data.items() if key != "kind"})
    except SpecError as error:
        raise FieldPathError((*path, error.field), error.message) from None


def _type_name(value: Any) -> str:
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return names.get(type(value), shown(value))


def _layer_spec(index: int, recurrent: int, layer: Mapping[str, Any], shared: Mapping[str, Any]) -> Spec:
    """Entry ``index`` of ``layers``, the ``recurrent``-th recurrent block of the model."""
    for key in layer:
        if key == "kind":
            continue
        if not isinstance(key, str):
            raise FieldPathError(("layers", index, str(key)), "unknown field: keys are strings")
        if key in MODEL_SHAPE_FIELDS:
            raise FieldPathError(("layers", index, key), "is set on the model, not on one layer")
        if key in FLAT_ONLY_FIELDS:
            raise FieldPathError(("layers", index, key), "applies to a single flat spec only")
        if key not in LAYER_FIELDS:
            raise FieldPathError(("layers", index, key), f"unknown field{did_you_mean(key, LAYER_FIELDS)}")
    if recurrent and layer.get("input_size") is not None:
        raise FieldPathError(
            ("layers", index, "input_size"),
            "only the first layer takes input_size; later ones get the previous layer's output",
        )
    try:
        return spec_from_mapping({**{k: v for k, v in layer.items() if k != "kind"}, **shared})
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


class PartError(FieldPathError):
    """A :class:`FieldPathError` about part ``part`` of the chain; ``rest`` is the path inside it.

    Its own path names the part as :class:`Model` knows it (``layers[k]`` for the k-th
    recurrent block, ``dense[k]``, ``parts[i]``); :func:`build_model` renames it as the config
    file wrote it.
    """

    def __init__(self, model: Model, part: int, rest: tuple[str | int, ...], message: str) -> None:
        super().__init__((*_model_path(model, part), *rest), message)
        self.part = part
        self.rest = rest


def _model_path(model: Model, index: int) -> tuple[str | int, ...]:
    """How a model built from ``layers``/``embedding``/``dense`` names part ``index``."""
    part = model.parts[index]
    if isinstance(part, Embedding):
        return ("embedding",)
    if isinstance(part, Spec):
        return ("layers", _count(model, index, Spec))
    if isinstance(part, Dense) and not model.is_chain:
        return ("dense", _count(model, index, Dense))
    return ("parts", index)


def _count(model: Model, index: int, cls: type) -> int:
    """How many parts of class ``cls`` come before part ``index``."""
    return sum(isinstance(part, cls) for part in model.parts[:index])


def _validate_model(model: Model) -> None:
    if not model.layers:
        raise FieldPathError(("layers",), "needs at least one recurrent layer")
    stacked = sum(layer.num_layers for layer in model.layers)
    if stacked > MAX_LAYERS:
        raise FieldPathError(("layers",), f"stack {stacked:,} recurrent layers; at most {MAX_LAYERS:,}")
    others = len(model.parts) - len(model.layers)
    if others > MAX_LAYERS + MAX_HEADS:
        raise FieldPathError(
            ("layers",),
            f"holds {others:,} parts besides recurrent layers; at most {MAX_LAYERS + MAX_HEADS:,}",
        )
    for index, part in enumerate(model.parts):
        if isinstance(part, Embedding) and index:
            raise PartError(model, index, (), "an embedding comes first in the chain, and only once")
    first = model.layers[0]
    start = next(i for i, part in enumerate(model.parts) if isinstance(part, Spec))
    if (
        model.embedding is not None
        and first.input_size is not None
        and first.input_size != model.embedding.dim
    ):
        raise PartError(
            model,
            start,
            ("input_size",),
            f"is {first.input_size} but the embedding hands on {model.embedding.dim} features; "
            "omit input_size after an embedding",
        )
    if model.is_flat:
        return  # a flat spec keeps every single-stack option (merge_mode none, return_state, ...)
    for index, part in enumerate(model.parts):
        if isinstance(part, Dense) and index < start:
            raise PartError(
                model, index, (), "a dense layer before the first recurrent layer is not supported"
            )
        if isinstance(part, Dense) and index < model.last_block and part.per_step is False:
            raise PartError(
                model, index, ("per_step",), "a dense layer between recurrent layers acts on every step"
            )
        if isinstance(part, Dense) and part.per_step is False and model.tail_sequences:
            why = "return_sequences: true" if model.return_sequences else "a head with per_step: true"
            raise PartError(model, index, ("per_step",), f"false contradicts {why}: the heads see every step")
    blocks = [(i, part) for i, part in enumerate(model.parts) if isinstance(part, Spec)]
    for block, (index, layer) in enumerate(blocks):
        for name in FLAT_ONLY_FIELDS:
            if getattr(layer, name):
                raise PartError(model, index, (name,), "applies to a single flat spec only")
        if layer.merge_mode is MergeMode.NONE:
            raise PartError(
                model,
                index,
                ("merge_mode",),
                "none returns two separate outputs, which no following layer or head can take; "
                "it is allowed in a single flat spec only",
            )
        if block and layer.input_size is not None:
            raise PartError(
                model,
                index,
                ("input_size",),
                "only the first layer takes input_size; later ones get the previous layer's output",
            )
        for name in ("batch_size", "seq_len", "batch_first", "return_sequences"):
            if getattr(layer, name) != getattr(model, name):
                raise PartError(model, index, (name,), "is set on the model, not on one layer")


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
    layers: list[dict[str, Any]] = []
    blocks = 0
    for part in model.parts:
        if isinstance(part, Spec):
            layer = _layer_fields(part)
            layer.update({name: value for name, value in fields.items() if name in LAYER_FIELDS})
            if blocks or model.embedding is not None:
                layer.pop("input_size", None)
            layers.append(layer)
            blocks += 1
        elif not isinstance(part, Embedding):
            layers.append(part_dict(part))
    shape = {name: getattr(model, name) for name in MODEL_SHAPE_FIELDS}
    shape.update({name: value for name, value in fields.items() if name in MODEL_SHAPE_FIELDS})
    embedding = model.embedding.to_dict() if model.embedding else None
    try:
        return build_model(layers, embedding, None, model.name, **shape)
    except FieldPathError as error:
        raise SpecError(
            error.path[-1] if isinstance(error.path[-1], str) else error.field, error.message
        ) from None


def model_config(model: Model) -> dict[str, Any]:
    """``model`` as a config file writes it (the keys :func:`build_model` reads): ``name``,
    ``embedding``, every other part under ``layers`` in chain order, the model's shape fields
    that are set; defaults and empty values left out."""
    data: dict[str, Any] = {"name": model.name} if model.name else {}
    if model.embedding is not None:
        data["embedding"] = model.embedding.to_dict()
    layers: list[dict[str, Any]] = []
    for index, part in enumerate(model.parts):
        if isinstance(part, Spec):
            fields = _layer_fields(part)
            if index and any(isinstance(p, Spec | Embedding) for p in model.parts[:index]):
                fields.pop("input_size", None)
            fields = {key: value.value if hasattr(value, "value") else value for key, value in fields.items()}
            layers.append({key: value for key, value in fields.items() if value is not None})
        elif not isinstance(part, Embedding):
            layers.append({key: value for key, value in part_dict(part).items() if value is not None})
    data["layers"] = layers
    for name in MODEL_SHAPE_FIELDS:
        value = getattr(model, name)
        if value not in (None, False):
            data[name] = value
    return data
