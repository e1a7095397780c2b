"""Numpy forward passes of whole models: the chain of parts run by hand, as the course
notebooks do (embedding lookup, the recurrent blocks of :mod:`rnncalc.reference`, layer norm,
dropout, dense layers and their activations).

Used by ``rnncalc verify`` on config files with whole models; imports numpy, never a framework.

Weights are canonical (:class:`ModelWeights`): a recurrent block's
:class:`~rnncalc.reference.StackWeights`, and every other part's tensors under PyTorch's names
and orientation (:func:`canonical_shapes`). Each framework module maps its own tensors to these
a tensor at a time (``part_canonical``/``part_tensor_from_canonical`` of
:class:`~rnncalc.frameworks.contract.FrameworkConvention`, from the ``canonical`` column of its
``PARTS``), and ``model_to_canonical``/``model_from_canonical`` walk the chain with them.

Each part kind is one entry of :data:`FORWARD` and of :data:`SHAPES`, so walking the chain never
branches on the kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from rnncalc.core.model import Dense, Embedding, LayerNorm, Model, Part
from rnncalc.core.parts import DenseActivation, PartKind
from rnncalc.core.spec import MergeMode, Spec
from rnncalc.reference import (
    DTYPE,
    Array,
    DirectionWeights,
    StackWeights,
    f32,
    merge_directions,
    random_weights,
    run_stack,
)

#: A part's canonical tensors by name: an embedding's ``weight`` ``(V, D)``; a layer norm's
#: ``weight`` and ``bias`` ``(F,)`` (each only when the norm keeps it); a dense layer's
#: ``weight`` ``(out, in)`` and ``bias`` ``(out,)``; none for dropout.
PartTensors = Mapping[str, Array]


@dataclass(frozen=True, eq=False)
class ModelWeights:
    """Canonical weights of a whole model, one entry per part of its chain (``model.parts``):
    :class:`StackWeights` for a recurrent block, :data:`PartTensors` for the others."""

    parts: tuple[StackWeights | PartTensors, ...]


def kind_of(part: Part) -> PartKind:
    """The part's kind; a recurrent block is a :class:`Spec`, which names none."""
    return PartKind.RECURRENT if isinstance(part, Spec) else part.kind


def features_after(part: Part, size: int) -> int:
    """Features ``part`` hands on from ``size``: a recurrent block's merged directions (its
    projection's size when it projects), the part's own rule otherwise."""
    if isinstance(part, Spec):
        directions = part.num_directions if part.merge_mode is MergeMode.CONCAT else 1
        return directions * (part.proj_size or part.hidden_size)
    return part.features(size)


def part_sizes(model: Model) -> list[int]:
    """The features entering each part of the chain (the input size must be known)."""
    if model.input_size is None:
        raise ValueError("the model's input size is unknown")
    sizes = []
    size = model.embedding.vocab_size if model.embedding is not None else model.input_size
    for part in model.parts:
        sizes.append(size)
        size = features_after(part, size)
    return sizes


# --- Canonical shapes and random weights ---------------------------------------------------------


def _embedding_shapes(part: Embedding, size: int) -> dict[str, tuple[int, ...]]:
    return {"weight": (part.vocab_size, part.dim)}


def _norm_shapes(part: LayerNorm, size: int) -> dict[str, tuple[int, ...]]:
    kept = (("weight", part.scale), ("bias", part.bias))
    return {name: (size,) for name, held in kept if held}


def _dense_shapes(part: Dense, size: int) -> dict[str, tuple[int, ...]]:
    return {"weight": (part.units, size), **({"bias": (part.units,)} if part.bias else {})}


def _no_shapes(part: Any, size: int) -> dict[str, tuple[int, ...]]:
    return {}


#: Each part kind's canonical tensors and shapes on ``size`` input features (the recurrent
#: blocks' are :class:`StackWeights`).
SHAPES: dict[PartKind, Callable[[Any, int], dict[str, tuple[int, ...]]]] = {
    PartKind.EMBEDDING: _embedding_shapes,
    PartKind.LAYER_NORM: _norm_shapes,
    PartKind.DROPOUT: _no_shapes,
    PartKind.DENSE: _dense_shapes,
}


def canonical_shapes(part: Part, size: int) -> dict[str, tuple[int, ...]]:
    """The canonical tensors of a part other than a recurrent block, by name, with shapes."""
    return SHAPES[kind_of(part)](part, size)


def _draw_embedding(rng: np.random.Generator, name: str, shape: tuple[int, ...]) -> Any:
    return rng.standard_normal(shape)


def _draw_norm(rng: np.random.Generator, name: str, shape: tuple[int, ...]) -> Any:
    return rng.uniform(0.5, 1.5, shape) if name == "weight" else rng.uniform(-0.5, 0.5, shape)


def _draw_dense(rng: np.random.Generator, name: str, shape: tuple[int, ...]) -> Any:
    bound = 1.0 / math.sqrt(shape[-1] if name == "weight" else shape[0])
    return rng.uniform(-bound, bound, shape)


#: How :func:`random_model_weights` draws each kind's tensors: a layer norm's scale around 1
#: and bias around 0, embeddings standard normal, dense ``U(-1/sqrt(in), 1/sqrt(in))``.
DRAWS: dict[PartKind, Callable[[np.random.Generator, str, tuple[int, ...]], Any]] = {
    PartKind.EMBEDDING: _draw_embedding,
    PartKind.LAYER_NORM: _draw_norm,
    PartKind.DROPOUT: _draw_dense,  # holds no tensor
    PartKind.DENSE: _draw_dense,
}


def random_model_weights(model: Model, seed: int = 0) -> ModelWeights:
    """Nonzero random canonical weights for every part (:data:`DRAWS`; recurrent blocks as
    :func:`rnncalc.reference.random_weights` draws them)."""
    rng = np.random.default_rng(seed)
    parts: list[StackWeights | PartTensors] = []
    for part, size in zip(model.parts, part_sizes(model), strict=True):
        if isinstance(part, Spec):
            parts.append(random_weights(part.replace(input_size=size), int(rng.integers(2**32))))
            continue
        draw = DRAWS[kind_of(part)]
        shapes = canonical_shapes(part, size)
        parts.append({name: draw(rng, name, shape).astype(DTYPE) for name, shape in shapes.items()})
    return ModelWeights(tuple(parts))


def random_model_input(model: Model, batch: int, seq_len: int, seed: int = 0) -> np.ndarray[Any, Any]:
    """Batch-major input: token ids ``(N, T)`` in ``[0, vocab)`` (int64) after an embedding,
    else standard-normal features ``(N, T, I)`` (float32)."""
    rng = np.random.default_rng(seed)
    if model.embedding is not None:
        return rng.integers(0, model.embedding.vocab_size, size=(batch, seq_len), dtype=np.int64)
    assert model.input_size is not None
    return rng.standard_normal((batch, seq_len, model.input_size)).astype(DTYPE)


# --- Activations (Keras 3's definitions, keras/src/activations/activations.py) ----------------

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)))


def _hard_sigmoid(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.asarray(np.clip(x + 3.0, 0.0, 6.0) / 6.0)


def _softmax(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    exp = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(exp / exp.sum(axis=-1, keepdims=True))


def _log_softmax(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    shifted = x - x.max(axis=-1, keepdims=True)
    return np.asarray(shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True)))


#: Each dense activation on float64 values, softmax and log_softmax on the last axis.
ACTIVATIONS: dict[DenseActivation, Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]]] = {
    DenseActivation.LINEAR: lambda x: x,
    DenseActivation.RELU: lambda x: np.maximum(x, 0.0),
    DenseActivation.TANH: np.tanh,
    DenseActivation.SIGMOID: _sigmoid,
    DenseActivation.SOFTMAX: _softmax,
    DenseActivation.LOG_SOFTMAX: _log_softmax,
    DenseActivation.GELU: lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),  # exact
    DenseActivation.ELU: lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    DenseActivation.SELU: lambda x: (
        _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))
    ),
    DenseActivation.SILU: lambda x: x * _sigmoid(x),
    DenseActivation.SOFTPLUS: lambda x: np.logaddexp(0.0, x),
    DenseActivation.SOFTSIGN: lambda x: x / (1.0 + np.abs(x)),
    DenseActivation.LEAKY_RELU: lambda x: np.where(x >= 0, x, 0.2 * x),
    DenseActivation.HARD_SIGMOID: _hard_sigmoid,  # relu6(x + 3) / 6
    DenseActivation.HARD_SILU: lambda x: x * _hard_sigmoid(x),
    DenseActivation.HARD_TANH: lambda x: np.clip(x, -1.0, 1.0),
    DenseActivation.RELU6: lambda x: np.clip(x, 0.0, 6.0),
    DenseActivation.CELU: lambda x: np.maximum(x, 0.0) + np.minimum(np.expm1(np.minimum(x, 0.0)), 0.0),
    DenseActivation.EXPONENTIAL: np.exp,
}


# --- One part: batch-major in, batch-major out -----------------------------------------------


def _embedding(part: Embedding, weights: Any, x: np.ndarray[Any, Any], last: bool) -> Array:
    """Row ``id`` of the table for every token id of ``x`` ``(N, T)``."""
    ids = np.asarray(x, dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= part.vocab_size):
        raise ValueError(f"token ids must be in [0, {part.vocab_size})")
    return f32(np.asarray(weights["weight"])[ids])


def _recurrent(part: Spec, weights: Any, x: np.ndarray[Any, Any], last: bool) -> Array:
    """The block on ``(N, T, F)``; every step merged, or (``last``) each direction's final
    state merged: the forward direction's last step, the backward direction's first."""
    results = run_stack(part, weights, f32(x).transpose(1, 0, 2), part.merge_mode)[-1]
    if last:
        return merge_directions(tuple(r.h for r in results), part.merge_mode)
    return merge_directions(tuple(r.sequence for r in results), part.merge_mode).transpose(1, 0, 2)


def _layer_norm(part: LayerNorm, weights: Any, x: np.ndarray[Any, Any], last: bool) -> Array:
    """``(x - mean) / sqrt(var + epsilon) * weight + bias`` over the last axis (the biased
    variance, as every framework's layer norm takes it)."""
    values = np.asarray(x, dtype=np.float64)
    mean = values.mean(axis=-1, keepdims=True)
    variance = ((values - mean) ** 2).mean(axis=-1, keepdims=True)
    out = (values - mean) / np.sqrt(variance + part.epsilon)
    if "weight" in weights:
        out = out * np.asarray(weights["weight"], dtype=np.float64)
    if "bias" in weights:
        out = out + np.asarray(weights["bias"], dtype=np.float64)
    return f32(out)


def _dropout(part: Any, weights: Any, x: np.ndarray[Any, Any], last: bool) -> Array:
    """The identity: frameworks drop nothing at inference."""
    return f32(x)


def _dense(part: Dense, weights: Any, x: np.ndarray[Any, Any], last: bool) -> Array:
    """``activation(x @ weight.T + bias)`` on the last axis (every step of a sequence)."""
    out = np.asarray(x, dtype=np.float64) @ np.asarray(weights["weight"], dtype=np.float64).T
    if "bias" in weights:
        out = out + np.asarray(weights["bias"], dtype=np.float64)
    activation = part.activation or DenseActivation.LINEAR
    with np.errstate(over="ignore"):
        return f32(ACTIVATIONS[activation](out))


#: Each part kind's forward pass: ``(part, weights, x, last)``; ``last`` is True for the
#: recurrent block after which only the last step goes on.
FORWARD: dict[PartKind, Callable[[Any, Any, np.ndarray[Any, Any], bool], Array]] = {
    PartKind.EMBEDDING: _embedding,
    PartKind.RECURRENT: _recurrent,
    PartKind.LAYER_NORM: _layer_norm,
    PartKind.DROPOUT: _dropout,
    PartKind.DENSE: _dense,
}


def run_model(
    model: Model, weights: ModelWeights, x: ArrayLike, *, batch_first: bool, last_step: bool
) -> Array:
    """The model's output for ``x``: token ids ``(N, T)`` after an embedding, else features
    ``(N, T, I)``; time-major ``(T, N, ...)`` in and out unless ``batch_first``.

    ``last_step`` (how the framework builds the model: its convention's ``model_last_step``)
    hands the parts after the last recurrent block its last step only, ``(N, F)``.
    """
    if len(weights.parts) != len(model.parts):
        raise ValueError(f"weights hold {len(weights.parts)} parts, the model {len(model.parts)}")
    values = np.asarray(x)
    if not batch_first:
        values = values.swapaxes(0, 1)
    for index, (part, tensors) in enumerate(zip(model.parts, weights.parts, strict=True)):
        last = last_step and index == model.last_block
        values = FORWARD[kind_of(part)](part, tensors, values, last)
    if values.ndim == 3 and not batch_first:
        values = values.swapaxes(0, 1)
    return np.ascontiguousarray(values, dtype=DTYPE)


def without_recurrent_bias(weights: ModelWeights) -> ModelWeights:
    """``weights`` with every recurrent block's ``b_h`` zero: what a framework without a
    recurrent bias inside the reset gate (Flax's GRU) can hold."""

    def zeroed(part: StackWeights | PartTensors) -> StackWeights | PartTensors:
        if not isinstance(part, StackWeights):
            return part
        layers = tuple(
            tuple(DirectionWeights(d.w_x, d.w_h, d.b_x, np.zeros_like(d.b_h), d.w_hr) for d in directions)
            for directions in part.layers
        )
        return StackWeights(layers)

    return ModelWeights(tuple(zeroed(part) for part in weights.parts))
