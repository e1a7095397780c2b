"""The kinds of part a model's chain holds, and a dense layer's activations.

Apart from :mod:`rnncalc.core.model` so that the framework modules, imported on every start,
name part kinds without building the model classes.
"""

from __future__ import annotations

from enum import Enum


class PartKind(str, Enum):
    """The kinds of part a model's chain holds, as config files name them (``kind:``)."""

    EMBEDDING = "embedding"
    RECURRENT = "recurrent"
    LAYER_NORM = "layer_norm"
    DROPOUT = "dropout"
    DENSE = "dense"


class DenseActivation(str, Enum):
    """A dense layer's activation, by ``keras.activations`` name; each one has a PyTorch module,
    a Flax function and ONNX operators with Keras 3's defaults (``leaky_relu``'s slope 0.2,
    exact ``gelu``, ``hard_sigmoid`` = ``relu6(x + 3) / 6``, ``hard_silu`` = ``x * hard_sigmoid(x)``,
    ``celu``'s alpha 1), applied on the last axis."""

    LINEAR = "linear"
    RELU = "relu"
    TANH = "tanh"
    SIGMOID = "sigmoid"
    SOFTMAX = "softmax"
    LOG_SOFTMAX = "log_softmax"
    GELU = "gelu"
    ELU = "elu"
    SELU = "selu"
    SILU = "silu"
    SOFTPLUS = "softplus"
    SOFTSIGN = "softsign"
    LEAKY_RELU = "leaky_relu"
    HARD_SIGMOID = "hard_sigmoid"
    HARD_SILU = "hard_silu"
    HARD_TANH = "hard_tanh"
    RELU6 = "relu6"
    CELU = "celu"
    EXPONENTIAL = "exponential"
