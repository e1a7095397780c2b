"""Why every chosen framework's total differs from the first one's (``differences``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result

from rnncalc.analysis import analyze


@pytest.mark.parametrize(
    ("cell", "hidden", "expected"),
    [
        # PyTorch keeps bias_ih and bias_hh (gates*H each). Keras keeps one bias, or two for the
        # default GRU (reset_after=True); Flax NNX keeps one (GRU: none on the hidden side);
        # ONNX's B holds [Wb, Rb], both of PyTorch's.
        ("gru", 3, {"keras": 0, "flax": 3 * 3, "onnx": 0}),
        ("lstm", 3, {"keras": 4 * 3, "flax": 4 * 3, "onnx": 0}),
        ("rnn", 8, {"keras": 8, "flax": 8, "onnx": 0}),
    ],
)
def test_each_framework_is_compared_with_the_first_by_its_bias_layout(
    cell: str, hidden: int, expected: dict[str, int]
) -> None:
    doc = analyze({"cell": cell, "input_size": 10, "hidden_size": hidden}, names=None).to_dict()
    pairs = {pair["frameworks"][1]: pair for pair in doc["differences"]}
    assert all(pair["frameworks"][0] == "torch" for pair in doc["differences"])
    assert {name: pair["params"] for name, pair in pairs.items()} == expected
    totals = {name: report["total_params"] for name, report in doc["frameworks"].items()}
    for name, pair in pairs.items():
        assert pair["params"] == totals["torch"] - totals[name]
    assert doc["difference"] == {
        key: value for key, value in doc["differences"][0].items() if key != "frameworks"
    }


def test_a_framework_that_cannot_express_the_spec_has_no_difference() -> None:
    # proj_size is PyTorch's alone: with PyTorch first, no other framework can be compared.
    spec = {"cell": "lstm", "input_size": 10, "hidden_size": 6, "proj_size": 3}
    assert analyze(spec, names=None).to_dict()["differences"] == []


def test_summary_text_writes_one_line_per_compared_framework(run_cli: Callable[..., Result]) -> None:
    text = run_cli("summary", "-c", "gru", "-i", "10", "-H", "3", "-F", "all").output
    assert "PyTorch 135 vs Keras 135" in text
    assert "PyTorch 135 vs Flax NNX 126" in text
    assert "PyTorch 135 vs ONNX 135" in text
