"""Property: for any valid spec, the analytic numbers equal the real framework's.

Hypothesis draws every spec field (cell, sizes, layers, direction, batch_first, bias,
nonlinearity, proj_size, reset_after, return_sequences, return_state, merge_mode, batch and
sequence sizes or None, unbatched); the real PyTorch or Keras model is built, run once on
zeros, and every row (total params, each weight's name and shape, each output's shape) must
agree. Sizes stay small so the CI run (700 PyTorch + 400 Keras configurations) takes about a
minute on a quiet 2-core machine (measured: 9 s for PyTorch's 700, 38 s for Keras's 400); the
``slow`` variants (``-m slow``: 5,000 + 2,000, random seeds) took 38 s + 5 min under load.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rnncalc import frameworks as backends
from rnncalc.analysis import analyze
from rnncalc.check.crosscheck import crosscheck
from rnncalc.core.errors import SpecError
from rnncalc.core.spec import Cell, MergeMode, Nonlinearity, Spec, spec_from_mapping

CI_TORCH_EXAMPLES = 700
CI_KERAS_EXAMPLES = 400


@st.composite
def specs(draw: st.DrawFn, framework: str) -> Spec:
    """Any spec the framework can express, drawn field by field.

    Fields that only one framework has are drawn only for it (proj_size and unbatched for
    PyTorch; reset_after=False and merge modes other than concat for Keras); combinations the
    spec itself rejects are discarded via SpecError.
    """
    cell = draw(st.sampled_from(list(Cell)))
    hidden = draw(st.integers(1, 8))
    fields: dict[str, Any] = {
        "cell": cell.value,
        "input_size": draw(st.integers(1, 6)),
        "hidden_size": hidden,
        "num_layers": draw(st.integers(1, 3)),
        "bidirectional": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "return_sequences": draw(st.booleans()),
        "return_state": draw(st.booleans()),
        "batch_size": draw(st.none() | st.integers(1, 4)),
        "seq_len": draw(st.none() | st.integers(1, 5)),
    }
    if cell is Cell.RNN:
        fields["nonlinearity"] = draw(st.sampled_from(list(Nonlinearity))).value
    if framework == "torch":
        if cell is Cell.LSTM and hidden > 1:
            fields["proj_size"] = draw(st.integers(0, hidden - 1))
        if draw(st.booleans()):
            fields["unbatched"] = True
            fields["batch_size"] = None
    else:
        if cell is Cell.GRU:
            fields["reset_after"] = draw(st.booleans())
        if fields["bidirectional"]:
            fields["merge_mode"] = draw(st.sampled_from(list(MergeMode))).value
    try:
        return spec_from_mapping(fields)
    except SpecError:
        assume(False)
        raise  # unreachable: assume(False) stops the example


def assert_analysis_matches_real(spec: Spec, framework: str) -> None:
    measured = backends.measure(spec, framework)
    check = crosscheck(analyze(measured.probe).framework(framework), measured)
    assert check.ok, f"{spec}: " + "; ".join(row.describe() for row in check.differing)
    # The comparison covered the total, every real weight and every returned tensor.
    assert len(check.rows) == 1 + len(measured.weights) + len(measured.outputs)


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same configurations on every CI run
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


@_settings(CI_TORCH_EXAMPLES)
@given(spec=specs("torch"))
def test_analysis_equals_real_pytorch_for_random_specs(spec: Spec) -> None:
    assert_analysis_matches_real(spec, "torch")


@_settings(CI_KERAS_EXAMPLES)
@given(spec=specs("keras"))
def test_analysis_equals_real_keras_for_random_specs(spec: Spec) -> None:
    assert_analysis_matches_real(spec, "keras")


@pytest.mark.slow
@settings(_settings(5000), derandomize=False)
@given(spec=specs("torch"))
def test_analysis_equals_real_pytorch_for_many_more_random_specs(spec: Spec) -> None:
    assert_analysis_matches_real(spec, "torch")


@pytest.mark.slow
@settings(_settings(2000), derandomize=False)
@given(spec=specs("keras"))
def test_analysis_equals_real_keras_for_many_more_random_specs(spec: Spec) -> None:
    assert_analysis_matches_real(spec, "keras")


def test_the_strategies_reach_every_field_value() -> None:
    """Guard against a strategy that silently stops drawing a field (e.g. after a refactor)."""
    seen: dict[str, set[Any]] = {}

    @settings(max_examples=400, derandomize=True, database=None, deadline=None)
    @given(torch=specs("torch"), keras=specs("keras"))
    def collect(torch: Spec, keras: Spec) -> None:
        for spec in (torch, keras):
            for name, value in spec.to_dict().items():
                seen.setdefault(name, set()).add(value)

    collect()
    assert seen["cell"] == {"rnn", "lstm", "gru"}
    assert seen["merge_mode"] == {"concat", "sum", "mul", "ave", "none"}
    assert seen["nonlinearity"] == {"tanh", "relu"}
    for flag in ("bidirectional", "batch_first", "bias", "reset_after", "return_sequences", "return_state"):
        assert seen[flag] == {True, False}, flag
    assert seen["unbatched"] == {True, False}
    assert None in seen["batch_size"] and None in seen["seq_len"]
    assert max(seen["proj_size"]) >= 3 and seen["num_layers"] == {1, 2, 3}
    assert seen["input_size"] == set(range(1, 7)) and seen["hidden_size"] == set(range(1, 9))
