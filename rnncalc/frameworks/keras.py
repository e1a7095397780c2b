"""Build the Keras 3 model for a spec and measure it. Imports keras (TensorFlow backend)."""

from __future__ import annotations

import os

# TensorFlow is silent only when both are set before it is first imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from typing import Any

import keras
import numpy as np

from rnncalc.core.calc import KERAS_SEQUENTIAL_NAME, keras_model_report, keras_report, keras_unsupported
from rnncalc.core.errors import SpecError
from rnncalc.core.model import Model
from rnncalc.core.spec import Cell, Framework, MergeMode, Spec
from rnncalc.frameworks import PROBE_BATCH, PROBE_SEQ_LEN, Measured, probe_spec

_LAYERS: dict[Cell, Any] = {
    Cell.RNN: keras.layers.SimpleRNN,
    Cell.LSTM: keras.layers.LSTM,
    Cell.GRU: keras.layers.GRU,
}


def build(spec: Spec) -> keras.Model:
    """A functional model: ``keras.Input(batch_shape=...)`` then ``num_layers`` recurrent layers.

    Layer names are the ones the calculator predicts, so weight paths compare exactly.
    """
    reason = keras_unsupported(spec)
    if reason:
        raise SpecError("framework", f"Keras cannot express this spec: {reason}")
    if spec.input_size is None:
        raise SpecError("input_size", "is required to build a real model")
    names = [layer.name for layer in keras_report(spec).layers]
    inputs = keras.Input(batch_shape=(spec.batch_size, spec.seq_len, spec.input_size))
    x: Any = inputs
    for index, name in enumerate(names):
        last = index == spec.num_layers - 1
        inner_name = name.replace("bidirectional", _inner_base(spec.cell)) if spec.bidirectional else name
        kwargs: dict[str, Any] = {
            "return_sequences": spec.return_sequences or not last,
            "return_state": spec.return_state and last,
            "use_bias": spec.bias,
            "name": inner_name,
        }
        if spec.cell is Cell.RNN:
            kwargs["activation"] = spec.nonlinearity.value
        if spec.cell is Cell.GRU:
            kwargs["reset_after"] = spec.reset_after
        layer = _LAYERS[spec.cell](spec.hidden_size, **kwargs)
        if spec.bidirectional:
            merge = None if spec.merge_mode is MergeMode.NONE else spec.merge_mode.value
            layer = keras.layers.Bidirectional(layer, merge_mode=merge, name=name)
        x = layer(x)
    return keras.Model(inputs, x)


def _inner_base(cell: Cell) -> str:
    from rnncalc.frameworks.base import KERAS_LAYER_NAMES

    return KERAS_LAYER_NAMES[cell]


def output_names(spec: Spec) -> list[str]:
    return [name for name, _ in keras_report(spec).outputs]


def measure(spec: Spec) -> Measured:
    probe = probe_spec(spec)
    model = build(probe)
    weights = tuple((w.path, tuple(w.shape)) for w in model.weights)
    assert probe.batch_size is not None and probe.seq_len is not None and probe.input_size is not None
    result = model(np.zeros((probe.batch_size, probe.seq_len, probe.input_size), dtype="float32"))
    tensors = result if isinstance(result, (list, tuple)) else [result]
    outputs = tuple((name, tuple(t.shape)) for name, t in zip(output_names(probe), tensors, strict=True))
    return Measured(Framework.KERAS, model.count_params(), weights, outputs, probe)


# --- Heterogeneous models --------------------------------------------------------------------


def build_model(model: Model) -> keras.Sequential:
    """A ``keras.Sequential``: ``Input``, ``Embedding``, recurrent layers (all but the last
    return sequences, the last ``model.return_sequences``), ``Dense`` heads.

    Layer names are the calculator's (Keras's own in a fresh session), so paths compare exactly.
    """
    reason = next(
        (f"layers[{i}]: {r}" for i, s in enumerate(model.layers) if (r := keras_unsupported(s))), None
    )
    if reason:
        raise SpecError("framework", f"Keras cannot express this model: {reason}")
    if model.input_size is None:
        raise SpecError("input_size", "is required to build a real model")
    reports = iter(keras_model_report(model).layers)
    if model.embedding is not None:
        stack: list[Any] = [keras.Input(batch_shape=(model.batch_size, model.seq_len), dtype="int32")]
        emb = model.embedding
        stack.append(keras.layers.Embedding(emb.vocab_size, emb.dim, name=next(reports).name))
    else:
        stack = [keras.Input(batch_shape=(model.batch_size, model.seq_len, model.input_size))]
    for block_index, spec in enumerate(model.layers):
        last_block = block_index == len(model.layers) - 1
        for index in range(spec.num_layers):
            last = last_block and index == spec.num_layers - 1
            report = next(reports)
            kwargs: dict[str, Any] = {
                "return_sequences": model.return_sequences or not last,
                "use_bias": spec.bias,
            }
            if spec.cell is Cell.RNN:
                kwargs["activation"] = spec.nonlinearity.value
            if spec.cell is Cell.GRU:
                kwargs["reset_after"] = spec.reset_after
            if spec.bidirectional:
                # The weight path is "sequential/bidirectional/forward_<inner>/<cell>/kernel".
                inner = report.weights[0].path.split("/")[2].removeprefix("forward_")
                layer = _LAYERS[spec.cell](spec.hidden_size, name=inner, **kwargs)
                stack.append(
                    keras.layers.Bidirectional(layer, merge_mode=spec.merge_mode.value, name=report.name)
                )
            else:
                stack.append(_LAYERS[spec.cell](spec.hidden_size, name=report.name, **kwargs))
    for head in model.dense:
        dense = keras.layers.Dense(
            head.units, use_bias=head.bias, activation=head.activation, name=next(reports).name
        )
        stack.append(dense)
    return keras.Sequential(stack, name=KERAS_SEQUENTIAL_NAME)


def measure_model(model: Model) -> Measured:
    """Build, count and run the real Keras model once (unknown batch/time → small probes)."""
    batch = model.batch_size or PROBE_BATCH
    seq_len = model.seq_len or PROBE_SEQ_LEN
    built = build_model(model)
    weights = tuple((w.path, tuple(w.shape)) for w in built.weights)
    if model.embedding is not None:
        data = np.zeros((batch, seq_len), dtype="int32")
    else:
        assert model.input_size is not None
        data = np.zeros((batch, seq_len, model.input_size), dtype="float32")
    output = built(data)
    probe = model.layers[0].replace(batch_size=batch, seq_len=seq_len)
    return Measured(Framework.KERAS, built.count_params(), weights, (("output", tuple(output.shape)),), probe)


# --- Numerical verification (rnncalc verify) -------------------------------------------------


def build_seeded(spec: Spec, seed: int) -> keras.Model:
    """The model for ``spec`` with weights initialised after ``keras.utils.set_random_seed``."""
    keras.utils.set_random_seed(seed)
    return build(spec)


def weights_numpy(model: keras.Model) -> dict[str, np.ndarray[Any, Any]]:
    """Every variable as a float32 numpy array, keyed by its path (``lstm/lstm_cell/kernel``)."""
    return {w.path: np.asarray(keras.ops.convert_to_numpy(w), dtype=np.float32) for w in model.weights}


def run(model: keras.Model, spec: Spec, x: np.ndarray[Any, Any]) -> dict[str, np.ndarray[Any, Any]]:
    """Forward ``x`` ``(N, L, I)`` and name the results as the calculator does."""
    result = model(np.ascontiguousarray(x, dtype=np.float32))
    tensors = result if isinstance(result, (list, tuple)) else [result]
    return {
        name: np.asarray(keras.ops.convert_to_numpy(t))
        for name, t in zip(output_names(spec), tensors, strict=True)
    }
