"""``analyze_totals`` (what ``check`` judges, without weight rows) agrees with ``analyze``, and
``Count`` arithmetic is linear, never tuple arithmetic."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from rnncalc.analysis import analyze, analyze_totals
from rnncalc.core.symbolic import Count

#: Every cell with every stacking, direction, bias and variant that changes the weights.
CASES: list[dict[str, Any]] = [
    {
        "cell": cell,
        "hidden_size": 6,
        "num_layers": layers,
        "bidirectional": bi,
        "bias": bias,
        **({"input_size": 5} if known else {}),
        **extra,
    }
    for cell, layers, bi, bias, known in itertools.product(
        ["rnn", "lstm", "gru"], [1, 3], [False, True], [True, False], [True, False]
    )
    for extra in (
        [{}, {"proj_size": 4}] if cell == "lstm" else [{}, {"reset_after": False}] if cell == "gru" else [{}]
    )
] + [
    {"cell": "rnn", "hidden_size": 3, "input_size": 2, "unbatched": True, "seq_len": 4},
    {"cell": "gru", "hidden_size": 3, "input_size": 2, "bidirectional": True, "merge_mode": "sum"},
    {"cell": "lstm", "hidden_size": 3, "bidirectional": True, "merge_mode": "none", "return_state": True},
]


@pytest.mark.parametrize("spec", CASES, ids=lambda spec: "-".join(f"{k}={v}" for k, v in spec.items()))
def test_totals_match_the_full_analysis_for_every_variant(spec: dict[str, Any]) -> None:
    full = analyze(spec).frameworks
    for report, totals in zip(full, analyze_totals(spec), strict=True):
        assert (totals.framework, totals.model, totals.reason) == (
            report.framework,
            report.model,
            report.reason,
        )
        assert totals.outputs == report.outputs
        if report.supported:
            assert totals.total == report.total == sum((w.params for w in report.weights), Count())


def test_one_lstm_layer_total_is_the_closed_form_in_every_framework() -> None:
    torch, keras, flax, onnx = analyze_totals({"cell": "lstm", "hidden_size": 10, "input_size": 3})
    assert torch.total.value == 4 * (10 * 3 + 10 * 10 + 2 * 10)  # bias_ih and bias_hh
    assert keras.total.value == 4 * (10 * 3 + 10 * 10 + 10)  # one bias
    assert flax.total.value == 4 * (10 * 3 + 10 * 10 + 10)  # hi/hf/hg/ho carry the only bias
    assert onnx.total.value == 4 * (10 * 3 + 10 * 10 + 2 * 10)  # B = [Wb, Rb]


def test_count_arithmetic_is_linear_not_tuple_concatenation() -> None:
    a, b = Count(2, 3), Count(1, -1)
    assert a + b == Count(3, 2)
    assert a - b == Count(1, 4)
    assert a * 3 == 3 * a == Count(6, 9)
    assert str(Count(2, 3)) == "2*I + 3"
    assert Count().is_known and Count().value == 0
