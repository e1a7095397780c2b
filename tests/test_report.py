"""Report counts are computed once at construction and stay consistent when a report is replaced."""

from __future__ import annotations

from rnncalc.analysis import analyze
from rnncalc.core.report import Role


def test_replacing_a_weight_shape_recomputes_the_weight_and_layer_counts() -> None:
    layer = analyze({"cell": "lstm", "hidden_size": 8, "input_size": 5}).frameworks[0].layers[0]
    doctored = layer.weights[0].replace(shape=(8, 99))
    assert doctored.params.value == 8 * 99
    replaced = layer.replace(weights=(doctored, *layer.weights[1:]))
    assert replaced.params.value == layer.params.value - 32 * 5 + 8 * 99


def test_framework_totals_equal_the_sum_of_their_weights_by_role() -> None:
    analysis = analyze(
        {"cell": "gru", "hidden_size": 7, "input_size": 3, "num_layers": 2, "bidirectional": True}
    )
    for report in analysis.frameworks:
        by_role = sum(report.role_total(role).value for role in Role)
        assert report.total.value == by_role == sum(w.params.value for w in report.weights)
