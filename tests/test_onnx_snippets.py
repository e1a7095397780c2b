"""Every ONNX snippet runs as it stands (onnx.helper builds the graph, onnx.checker accepts it,
onnxruntime runs it) and prints the initializers, output shapes and parameter count the
analytic report gives. All snippets run in one subprocess, each in a fresh namespace."""

from __future__ import annotations

from typing import Any

import pytest
from snippet_runner import parse_printed, run_snippets

from rnncalc.core.spec import Spec, spec_from_mapping
from rnncalc.frameworks.adapter import probe_spec
from rnncalc.frameworks.onnx import CONVENTION as ONNX

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

#: Every attribute and layout the snippet spells out, plus what ONNX cannot build.
CONFIGS: dict[str, dict[str, Any]] = {
    "rnn": {"cell": "rnn", "input_size": 5, "hidden_size": 8},
    "rnn_relu_2_layers": {
        "cell": "rnn",
        "input_size": 4,
        "hidden_size": 3,
        "num_layers": 2,
        "nonlinearity": "relu",
    },
    "rnn_relu_bi": {
        "cell": "rnn",
        "input_size": 4,
        "hidden_size": 3,
        "bidirectional": True,
        "nonlinearity": "relu",
    },
    "rnn_bi_2_layers_no_bias": {
        "cell": "rnn",
        "input_size": 4,
        "hidden_size": 3,
        "num_layers": 2,
        "bidirectional": True,
        "bias": False,
    },
    "rnn_batch_first_batch_given": {
        "cell": "rnn",
        "input_size": 10,
        "hidden_size": 3,
        "batch_first": True,
        "batch_size": 8,
        "seq_len": 2,
    },
    "lstm": {"cell": "lstm", "input_size": 5, "hidden_size": 8},
    "lstm_no_bias": {"cell": "lstm", "input_size": 5, "hidden_size": 4, "bias": False},
    "lstm_bi_3_layers_batch_first": {
        "cell": "lstm",
        "input_size": 5,
        "hidden_size": 4,
        "num_layers": 3,
        "bidirectional": True,
        "batch_first": True,
    },
    "gru": {"cell": "gru", "input_size": 10, "hidden_size": 3},
    "gru_no_reset_after": {"cell": "gru", "input_size": 10, "hidden_size": 3, "reset_after": False},
    "gru_no_reset_after_bi_2_layers": {
        "cell": "gru",
        "input_size": 4,
        "hidden_size": 3,
        "reset_after": False,
        "num_layers": 2,
        "bidirectional": True,
    },
    "lstm_proj": {"cell": "lstm", "input_size": 5, "hidden_size": 6, "proj_size": 3},
    "rnn_unbatched": {"cell": "rnn", "input_size": 3, "hidden_size": 2, "unbatched": True},
    "gru_bi_sum": {
        "cell": "gru",
        "input_size": 4,
        "hidden_size": 3,
        "bidirectional": True,
        "merge_mode": "sum",
    },
}


def spec_of(name: str) -> Spec:
    return spec_from_mapping(CONFIGS[name])


@pytest.fixture(scope="module")
def executed() -> dict[str, dict[str, Any]]:
    names = list(CONFIGS)
    return dict(zip(names, run_snippets([ONNX.snippet(spec_of(name)) for name in names]), strict=True))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_onnx_snippet_runs_and_prints_what_the_report_says(
    executed: dict[str, dict[str, Any]], name: str
) -> None:
    spec = spec_of(name)
    result = executed[name]
    assert result["error"] is None, result["error"]
    report = ONNX.report(probe_spec(spec))
    if not report.supported:
        assert result["stdout"] == ""
        assert report.reason is not None and report.reason in ONNX.snippet(spec)
        return
    pairs, count = parse_printed(result["stdout"])
    assert count == report.total.value
    assert pairs == [(w.path, w.shape) for w in report.weights] + list(report.outputs)


def test_a_snippet_needs_the_input_size() -> None:
    from rnncalc.core.errors import SpecError

    with pytest.raises(SpecError, match="input_size"):
        ONNX.snippet(spec_from_mapping({"cell": "lstm", "hidden_size": 3}))
