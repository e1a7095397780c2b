"""What the main property test (test_property.py) leaves out, closed here.

* Its field-coverage guard pools torch and Keras draws; here each framework's strategy must
  reach every value that framework can express on its own.
* It compares the frameworks only with concrete specs (the adapter fills in a probe input,
  batch and length). Here the analysis of the *unknown* spec (input size ``I``, batch and length
  ``None``) is compared with a real model built here on concrete sizes: every ``I`` must be the
  input size, the formula total must evaluate to the real count, every ``None`` must stand
  where the real tensor has the batch or the sequence length, every number must be equal.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from test_property import specs

import rnncalc
from rnncalc.core.spec import Spec, spec_from_mapping

PROBE_INPUT, PROBE_BATCH, PROBE_SEQ = 7, 3, 5  # distinct from each other, so positions are told apart


def seen_values(framework: str) -> dict[str, set[Any]]:
    seen: dict[str, set[Any]] = {}

    @settings(max_examples=300, derandomize=True, database=None, deadline=None)
    @given(spec=specs(framework))
    def collect(spec: Spec) -> None:
        for name, value in spec.to_dict().items():
            seen.setdefault(name, set()).add(value)

    collect()
    return seen


def test_the_torch_strategy_alone_reaches_every_value_pytorch_can_express() -> None:
    seen = seen_values("torch")
    assert seen["cell"] == {"rnn", "lstm", "gru"}
    assert seen["nonlinearity"] == {"tanh", "relu"}
    for flag in ("bidirectional", "batch_first", "bias", "return_sequences", "return_state", "unbatched"):
        assert seen[flag] == {True, False}, flag
    assert 0 in seen["proj_size"] and max(seen["proj_size"]) >= 3
    assert None in seen["batch_size"] and None in seen["seq_len"]
    assert seen["num_layers"] == {1, 2, 3}


def test_the_keras_strategy_alone_reaches_every_value_keras_can_express() -> None:
    seen = seen_values("keras")
    assert seen["cell"] == {"rnn", "lstm", "gru"}
    assert seen["nonlinearity"] == {"tanh", "relu"}
    assert seen["merge_mode"] == {"concat", "sum", "mul", "ave", "none"}
    for flag in ("bidirectional", "batch_first", "bias", "reset_after", "return_sequences", "return_state"):
        assert seen[flag] == {True, False}, flag
    assert None in seen["batch_size"] and None in seen["seq_len"]
    assert seen["num_layers"] == {1, 2, 3}


# --- unknown sizes against real models -------------------------------------------------------


def torch_model(spec: Spec) -> tuple[list[tuple[str, tuple[int, ...]]], list[tuple[int, ...]]]:
    """Real nn.RNN/LSTM/GRU on the probe sizes: its parameters and its returned tensors' shapes."""
    torch = pytest.importorskip("torch")
    classes = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    kwargs: dict[str, Any] = {
        "num_layers": spec.num_layers,
        "bias": spec.bias,
        "batch_first": spec.batch_first,
        "bidirectional": spec.bidirectional,
    }
    if spec.cell.value == "rnn":
        kwargs["nonlinearity"] = spec.nonlinearity.value
    if spec.proj_size:
        kwargs["proj_size"] = spec.proj_size
    module = classes[spec.cell.value](PROBE_INPUT, spec.hidden_size, **kwargs)
    if spec.unbatched:
        shape: tuple[int, ...] = (PROBE_SEQ, PROBE_INPUT)
    elif spec.batch_first:
        shape = (PROBE_BATCH, PROBE_SEQ, PROBE_INPUT)
    else:
        shape = (PROBE_SEQ, PROBE_BATCH, PROBE_INPUT)
    with torch.no_grad():
        output, state = module(torch.zeros(shape))
    states = list(state) if isinstance(state, tuple) else [state]
    weights = [(name, tuple(p.shape)) for name, p in module.named_parameters()]
    return weights, [tuple(output.shape), *(tuple(s.shape) for s in states)]


def keras_model(spec: Spec) -> tuple[list[tuple[str, tuple[int, ...]]], list[tuple[int, ...]]]:
    """Real Keras layers on the probe sizes: weights (last path part) and returned tensors' shapes."""
    pytest.importorskip("keras")
    import keras
    import numpy as np

    classes = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
    x = inputs = keras.Input(batch_shape=(PROBE_BATCH, PROBE_SEQ, PROBE_INPUT))
    for index in range(spec.num_layers):
        last = index == spec.num_layers - 1
        kwargs: dict[str, Any] = {
            "return_sequences": spec.return_sequences or not last,
            "return_state": spec.return_state and last,
            "use_bias": spec.bias,
        }
        if spec.cell.value == "rnn":
            kwargs["activation"] = spec.nonlinearity.value
        if spec.cell.value == "gru":
            kwargs["reset_after"] = spec.reset_after
        layer = classes[spec.cell.value](spec.hidden_size, **kwargs)
        if spec.bidirectional:
            merge = None if spec.merge_mode.value == "none" else spec.merge_mode.value
            layer = keras.layers.Bidirectional(layer, merge_mode=merge)
        x = layer(x)
    model = keras.Model(inputs, x)
    result = model(np.zeros((PROBE_BATCH, PROBE_SEQ, PROBE_INPUT), dtype="float32"))
    tensors = result if isinstance(result, (list, tuple)) else [result]
    weights = [(w.path.rsplit("/", 1)[-1], tuple(w.shape)) for w in model.weights]
    return weights, [tuple(t.shape) for t in tensors]


def assert_unknown_analysis_fits(spec: Spec, framework: str) -> None:
    unknown = {**spec.to_dict(), "input_size": None, "batch_size": None, "seq_len": None}
    report = rnncalc.analyze(unknown)["frameworks"][framework]
    assert report["supported"], report["reason"]
    build = torch_model if framework == "torch" else keras_model
    weights, outputs = build(spec)
    predicted = [(w["name"], w["shape"]) for layer in report["layers"] for w in layer["weights"]]
    assert [name for name, _ in predicted] == [name for name, _ in weights]
    for (name, shape), (_, real) in zip(predicted, weights, strict=True):
        assert [PROBE_INPUT if dim == "I" else dim for dim in shape] == list(real), name
    formula = report["total_params_formula"]
    real_total = sum(_numel(shape) for _, shape in weights)
    assert report["total_params"] is None  # with I unknown the total is a formula
    assert formula["I"] * PROBE_INPUT + formula["const"] == real_total
    assert len(report["outputs"]) == len(outputs)
    for (name, shape), real in zip(report["outputs"].items(), outputs, strict=True):
        assert len(shape) == len(real), name
        for dim, real_dim in zip(shape, real, strict=True):
            if dim is None:
                assert real_dim in (PROBE_BATCH, PROBE_SEQ), (name, shape, real)
            else:
                assert dim == real_dim, (name, shape, real)


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


def _unknown_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


@_unknown_settings(100)
@given(spec=specs("torch"))
def test_the_analysis_with_unknown_sizes_fits_real_pytorch(spec: Spec) -> None:
    assert_unknown_analysis_fits(spec, "torch")


@_unknown_settings(25)
@given(spec=specs("keras"))
def test_the_analysis_with_unknown_sizes_fits_real_keras(spec: Spec) -> None:
    assert_unknown_analysis_fits(spec, "keras")


@pytest.mark.parametrize(
    ("framework", "fields"),
    [
        (
            "torch",
            {"cell": "lstm", "hidden_size": 4, "num_layers": 2, "bidirectional": True, "proj_size": 2},
        ),
        ("torch", {"cell": "gru", "hidden_size": 3, "unbatched": True}),
        (
            "keras",
            {
                "cell": "gru",
                "hidden_size": 3,
                "bidirectional": True,
                "merge_mode": "none",
                "return_state": True,
                "return_sequences": True,
            },
        ),
    ],
)
def test_unknown_sizes_fit_real_models_for_hand_picked_specs(framework: str, fields: dict[str, Any]) -> None:
    spec = spec_from_mapping(fields)
    assert_unknown_analysis_fits(spec, framework)
