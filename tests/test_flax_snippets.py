"""Every Flax NNX snippet runs as it stands and builds the model the report describes: the same
parameter paths and shapes, the same returned shapes, the same count. All snippets run in ONE
subprocess (each exec'd in a fresh namespace), so jax and flax start once."""

from __future__ import annotations

from typing import Any

import pytest
from snippet_runner import parse_printed, run_snippets

from rnncalc.core.spec import Spec, spec_from_mapping
from rnncalc.frameworks.adapter import probe_spec
from rnncalc.frameworks.flax import CONVENTION

pytest.importorskip("flax")

CONFIGS: dict[str, dict[str, Any]] = {
    "rnn": {"cell": "rnn", "input_size": 5, "hidden_size": 4},
    "rnn_relu_batch_given": {
        "cell": "rnn",
        "input_size": 3,
        "hidden_size": 2,
        "nonlinearity": "relu",
        "batch_size": 4,
        "seq_len": 2,
    },
    "rnn_unbatched": {"cell": "rnn", "input_size": 3, "hidden_size": 2, "unbatched": True},
    "rnn_bi_mul": {
        "cell": "rnn",
        "input_size": 4,
        "hidden_size": 3,
        "bidirectional": True,
        "merge_mode": "mul",
    },
    "lstm": {"cell": "lstm", "input_size": 5, "hidden_size": 3},
    "lstm_bi": {"cell": "lstm", "input_size": 5, "hidden_size": 3, "bidirectional": True},
    "lstm_bi_ave_2_layers": {
        "cell": "lstm",
        "input_size": 4,
        "hidden_size": 3,
        "num_layers": 2,
        "bidirectional": True,
        "merge_mode": "ave",
    },
    "gru": {"cell": "gru", "input_size": 10, "hidden_size": 3},
    "gru_3_layers": {"cell": "gru", "input_size": 4, "hidden_size": 2, "num_layers": 3},
    "gru_bi_sum_2_layers_unbatched": {
        "cell": "gru",
        "input_size": 4,
        "hidden_size": 3,
        "num_layers": 2,
        "bidirectional": True,
        "merge_mode": "sum",
        "unbatched": True,
    },
    # Not expressible: the snippet is a comment giving the reason.
    "lstm_proj": {"cell": "lstm", "input_size": 5, "hidden_size": 6, "proj_size": 3},
    "gru_no_reset_after": {"cell": "gru", "input_size": 4, "hidden_size": 3, "reset_after": False},
    "rnn_no_bias": {"cell": "rnn", "input_size": 4, "hidden_size": 3, "bias": False},
}


def spec_of(name: str) -> Spec:
    return spec_from_mapping(CONFIGS[name])


@pytest.fixture(scope="module")
def executed() -> dict[str, dict[str, Any]]:
    """Every config's snippet, run in one fresh interpreter (this venv's python)."""
    names = list(CONFIGS)
    return dict(zip(names, run_snippets([CONVENTION.snippet(spec_of(name)) for name in names]), strict=True))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_flax_snippet_runs_and_prints_what_the_report_says(
    executed: dict[str, dict[str, Any]], name: str
) -> None:
    spec = spec_of(name)
    result = executed[name]
    assert result["error"] is None, result["error"]
    report = CONVENTION.report(probe_spec(spec))
    if not report.supported:
        assert result["stdout"] == ""
        return
    printed, count = parse_printed(result["stdout"])
    assert count == report.total.value
    weights = printed[: len(report.weights)]
    assert dict(weights) == {w.path: w.shape for w in report.weights}
    assert len(dict(weights)) == len(weights)
    assert printed[len(report.weights) :] == list(report.outputs)


@pytest.mark.parametrize("name", ["lstm_proj", "gru_no_reset_after", "rnn_no_bias"])
def test_a_spec_flax_cannot_build_gets_only_a_comment_with_the_reason(name: str) -> None:
    source = CONVENTION.snippet(spec_of(name))
    reason = CONVENTION.unsupported(spec_of(name))
    assert reason is not None and reason in source
    assert all(line.startswith("#") for line in source.splitlines())
