"""Why PyTorch and Keras differ, and which defaults applied: the JSON fields, against hand counts.

Found by the mutation run: the difference line and the "defaults used" list were held only by
golden files and README transcripts. The expected delta is the bias vectors counted by hand:
PyTorch keeps two per gate block (``bias_ih``, ``bias_hh``), Keras one, Keras GRU with
``reset_after=True`` two.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import rnncalc
from rnncalc.cli import cli

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("bi", [False, True])
@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_the_difference_is_one_bias_vector_per_gate_block_layer_and_direction(
    cell: str, bi: bool, layers: int
) -> None:
    hidden = 6
    document = rnncalc.analyze(
        {"cell": cell, "hidden_size": hidden, "input_size": 4, "num_layers": layers, "bidirectional": bi}
    )
    delta = GATES[cell] * hidden * layers * (2 if bi else 1)
    torch, keras = (document["frameworks"][name]["total_params"] for name in ("torch", "keras"))
    assert torch - keras == delta
    assert document["difference"]["params"] == delta
    assert document["difference"]["reason"] == (
        "PyTorch keeps two bias vectors per layer and direction (bias_ih, bias_hh), "
        f"Keras one bias vector: +{delta}"
    )


def test_the_difference_with_the_input_size_unknown_is_still_a_number() -> None:
    """The bias vectors do not depend on I: the delta is a plain number even as a formula."""
    document = rnncalc.analyze({"cell": "lstm", "hidden_size": 8, "bidirectional": True})
    assert document["difference"]["reason"].endswith(": +64")
    formulas = [document["frameworks"][name]["total_params_formula"] for name in ("torch", "keras")]
    assert formulas[0]["I"] == formulas[1]["I"] and formulas[0]["const"] - formulas[1]["const"] == 64


def test_a_gru_with_reset_after_has_the_same_total_and_says_why() -> None:
    document = rnncalc.analyze({"cell": "gru", "hidden_size": 3, "input_size": 10})
    assert document["difference"] == {
        "params": 0,
        "params_formula": None,
        "reason": "same total: Keras GRU with reset_after=True keeps two bias vectors too",
    }


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_without_bias_both_frameworks_keep_the_same_weights(cell: str) -> None:
    document = rnncalc.analyze({"cell": cell, "hidden_size": 3, "input_size": 10, "bias": False})
    assert document["difference"]["params"] == 0
    assert document["difference"]["reason"] == "same total: both frameworks keep the same weights"


def test_no_difference_is_given_when_one_framework_cannot_build_the_spec() -> None:
    document = rnncalc.analyze({"cell": "lstm", "hidden_size": 6, "input_size": 3, "proj_size": 2})
    assert document["difference"] is None


@pytest.mark.parametrize(
    ("fields", "applies", "left_out"),
    [
        ({"cell": "lstm", "hidden_size": 3}, {"proj_size"}, {"reset_after", "nonlinearity", "merge_mode"}),
        ({"cell": "gru", "hidden_size": 3}, {"reset_after"}, {"proj_size", "nonlinearity", "merge_mode"}),
        ({"cell": "rnn", "hidden_size": 3}, {"nonlinearity"}, {"proj_size", "reset_after", "merge_mode"}),
        ({"cell": "rnn", "hidden_size": 3, "bidirectional": True}, {"merge_mode"}, {"proj_size"}),
    ],
)
def test_defaults_used_lists_only_the_fields_that_apply_to_the_cell(
    fields: dict[str, Any], applies: set[str], left_out: set[str]
) -> None:
    used = set(rnncalc.analyze(fields)["defaults_used"])
    assert applies <= used
    assert not used & left_out
    assert not used & {"input_size", "batch_size", "seq_len", "unbatched"}


def test_a_models_difference_sums_its_blocks_bias_vectors(
    run_json: Callable[..., Any], tmp_path: Path
) -> None:
    """Embedding and dense heads are equal in both; each recurrent block adds its own delta."""
    path = tmp_path / "model.yaml"
    path.write_text(
        "embedding: {vocab_size: 30, dim: 4}\n"
        "layers:\n"
        "  - {cell: lstm, hidden_size: 5, bidirectional: true}\n"  # 4·5·2 = 40
        "  - {cell: rnn, hidden_size: 3, num_layers: 2}\n"  # 1·3·2 = 6
        "  - {cell: gru, hidden_size: 2}\n"  # reset_after: 0
        "dense: [{units: 2}]\n",
        encoding="utf-8",
    )
    document = run_json("summary", str(path))
    torch, keras = (document["frameworks"][name]["total_params"] for name in ("torch", "keras"))
    assert torch - keras == document["difference"]["params"] == 40 + 6
    reason = document["difference"]["reason"]
    assert "layers[0] (lstm)" in reason and "+40" in reason
    assert "layers[1] (rnn)" in reason and "+6" in reason
    assert "layers[2]" not in reason


def test_a_bidirectional_onnx_layer_is_said_to_keep_two_bias_vectors_per_direction() -> None:
    # ONNX's bidirectional B is (2, 8H) for an LSTM, rows of no single direction: Keras keeps
    # 4H(I+H+1) per direction, ONNX 4H(I+H+2); at I=5, H=8: 896 and 960.
    result = CliRunner().invoke(
        cli, ["summary", "-c", "lstm", "-i", "5", "-H", "8", "--bi", "-F", "keras,onnx"]
    )
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Keras 896 vs ONNX 960" in text
    assert "Keras keeps one bias vector per layer and direction, ONNX two bias vectors: -64" in text
