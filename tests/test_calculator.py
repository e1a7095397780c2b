"""The analytic calculator against independent closed-form counts and its own formula mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rnncalc import analyze
from rnncalc.core.spec import spec_from_mapping

GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def keras_closed_form(
    cell: str, i: int, h: int, layers: int, directions: int, reset_after: bool = True
) -> int:
    """Keras: kernel I×gH, recurrent H×gH, one bias gH (two for GRU reset_after)."""
    g = GATES[cell]
    biases = 2 if cell == "gru" and reset_after else 1
    total, inputs = 0, i
    for _ in range(layers):
        total += directions * g * h * (inputs + h + biases)
        inputs = directions * h
    return total


def torch_closed_form(cell: str, i: int, h: int, layers: int, directions: int, proj: int = 0) -> int:
    """PyTorch: W_ih gH×in, W_hh gH×(P or H), b_ih and b_hh, plus W_hr P×H with a projection."""
    g = GATES[cell]
    out = proj or h
    total, inputs = 0, i
    for _ in range(layers):
        total += directions * (g * h * (inputs + out + 2) + proj * h)
        inputs = directions * out
    return total


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize(("i", "h", "layers", "bi"), [(5, 8, 1, False), (300, 512, 2, True), (1, 1, 3, True)])
def test_totals_equal_closed_forms(cell: str, i: int, h: int, layers: int, bi: bool) -> None:
    doc = analyze(
        {"cell": cell, "input_size": i, "hidden_size": h, "num_layers": layers, "bidirectional": bi}
    )
    directions = 2 if bi else 1
    assert doc["frameworks"]["keras"]["total_params"] == keras_closed_form(cell, i, h, layers, directions)
    assert doc["frameworks"]["torch"]["total_params"] == torch_closed_form(cell, i, h, layers, directions)


def test_lstm_projection_changes_recurrent_weights_and_next_layer_input() -> None:
    doc = analyze(
        {
            "cell": "lstm",
            "input_size": 7,
            "hidden_size": 6,
            "proj_size": 3,
            "num_layers": 2,
            "bidirectional": True,
        }
    )
    torch = doc["frameworks"]["torch"]
    assert torch["total_params"] == torch_closed_form("lstm", 7, 6, 2, 2, proj=3)
    shapes = {w["name"]: w["shape"] for layer in torch["layers"] for w in layer["weights"]}
    assert shapes["weight_hh_l0"] == [24, 3]
    assert shapes["weight_hr_l0_reverse"] == [3, 6]
    assert shapes["weight_ih_l1"] == [24, 6]
    assert doc["frameworks"]["keras"]["supported"] is False
    assert "projection" in doc["frameworks"]["keras"]["reason"]


def test_keras_gru_reset_after_keeps_a_2_by_3h_bias_and_matches_torch() -> None:
    doc = analyze({"cell": "gru", "input_size": 10, "hidden_size": 3})
    keras_bias = doc["frameworks"]["keras"]["layers"][0]["weights"][2]
    assert (keras_bias["name"], keras_bias["shape"]) == ("bias", [2, 9])
    assert (
        doc["frameworks"]["keras"]["total_params"]
        == doc["frameworks"]["torch"]["total_params"]
        == 3 * 3 * (10 + 3 + 2)
    )
    assert doc["difference"]["params"] == 0


def test_keras_gru_without_reset_after_has_one_bias_and_no_torch_equivalent() -> None:
    doc = analyze({"cell": "gru", "input_size": 10, "hidden_size": 3, "reset_after": False})
    assert doc["frameworks"]["keras"]["total_params"] == keras_closed_form(
        "gru", 10, 3, 1, 1, reset_after=False
    )
    assert doc["frameworks"]["torch"]["supported"] is False
    assert doc["difference"] is None


@pytest.mark.parametrize(("mode", "next_input"), [("concat", 16), ("sum", 8), ("mul", 8), ("ave", 8)])
def test_keras_merge_mode_sets_the_next_layers_input_size(mode: str, next_input: int) -> None:
    doc = analyze(
        {
            "cell": "rnn",
            "input_size": 5,
            "hidden_size": 8,
            "bidirectional": True,
            "num_layers": 2,
            "merge_mode": mode,
        }
    )
    kernel = doc["frameworks"]["keras"]["layers"][1]["weights"][0]
    assert kernel["shape"] == [next_input, 8]


def test_without_input_size_counts_are_formulas_in_i(run_json: Callable[..., Any]) -> None:
    doc = run_json("summary", "--cell", "rnn", "--hidden", "8", "--bi")
    keras, torch = doc["frameworks"]["keras"], doc["frameworks"]["torch"]
    assert keras["total_params"] is None and torch["total_params"] is None
    assert keras["total_params_formula"] == {"I": 16, "const": 144, "text": "16*I + 144"}
    assert torch["total_params_formula"] == {"I": 16, "const": 160, "text": "16*I + 160"}
    recurrent = next(w for w in keras["layers"][0]["weights"] if w["name"] == "recurrent_kernel")
    assert recurrent["params"] == 64
    assert doc["difference"]["params"] == 16


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_formula_in_i_evaluates_to_the_count_with_a_known_input(cell: str) -> None:
    fields = {"cell": cell, "hidden_size": 6, "num_layers": 3, "bidirectional": True}
    formula = analyze(fields)["frameworks"]
    for i in (1, 17, 300):
        known = analyze({**fields, "input_size": i})["frameworks"]
        for name in ("torch", "keras"):
            f = formula[name]["total_params_formula"]
            assert f["I"] * i + f["const"] == known[name]["total_params"]


def test_summary_text_says_how_to_get_plain_numbers(run_cli: Callable[..., Any]) -> None:
    result = run_cli("summary", "--cell", "rnn", "--hidden", "8", "--bi")
    assert result.exit_code == 0
    assert "16*I + 160" in result.stdout and "16*I + 144" in result.stdout
    assert "pass --input N for plain numbers" in result.stdout


def test_summary_names_the_defaults_it_used(run_cli: Callable[..., Any]) -> None:
    result = run_cli("summary", "-c", "lstm", "-i", "3", "-H", "4", "--bi")
    assert "Defaults used:" in result.stdout
    assert "num_layers=1" in result.stdout and "bidirectional" not in result.stdout.split("Defaults used:")[1]


def test_unsupported_field_makes_only_that_framework_not_expressible(run_cli: Callable[..., Any]) -> None:
    result = run_cli("summary", "-c", "rnn", "-i", "5", "-H", "8", "--bi", "--merge-mode", "sum")
    assert result.exit_code == 0
    assert "PyTorch (nn.RNN): not expressible" in result.stdout
    assert "merge_mode sum" in result.stdout
    assert "Keras 3 (Bidirectional(SimpleRNN)): 224 parameters" in result.stdout


def test_json_document_has_the_documented_top_level_schema(run_json: Callable[..., Any]) -> None:
    doc = run_json("summary", "-c", "lstm", "-i", "300", "-H", "512", "-l", "2", "-b", "32", "-t", "100")
    assert list(doc) == ["schema_version", "spec", "defaults_used", "frameworks", "difference", "differences"]
    assert doc["schema_version"] == 1
    for framework in doc["frameworks"].values():
        assert list(framework) == [
            "supported",
            "reason",
            "model",
            "total_params",
            "total_params_formula",
            "layers",
            "outputs",
            "input_shape",
        ]
        layer = framework["layers"][0]
        assert list(layer) == ["name", "type", "params", "params_formula", "output_shape", "weights"]
        assert list(layer["weights"][0]) == ["name", "path", "shape", "params", "direction", "role"]
    assert list(doc["frameworks"]["torch"]["outputs"]) == ["output", "h_n", "c_n"]
    assert doc["frameworks"]["torch"]["outputs"]["output"] == [100, 32, 512]
    # The input each framework takes: PyTorch (L, N, H_in), Keras batch first.
    assert doc["frameworks"]["torch"]["input_shape"] == [100, 32, 300]
    assert doc["frameworks"]["keras"]["input_shape"] == [32, 100, 300]


def test_library_analyze_returns_exactly_what_json_prints_for_every_framework(
    run_json: Callable[..., Any],
) -> None:
    doc = run_json("summary", "-c", "gru", "-i", "10", "-H", "3", "-F", "all")
    assert analyze({"cell": "gru", "input_size": 10, "hidden_size": 3}) == doc
    assert analyze(spec_from_mapping({"cell": "gru", "input_size": 10, "hidden_size": 3})) == doc


def test_unbatched_torch_output_drops_the_batch_dimension() -> None:
    doc = analyze(
        {
            "cell": "lstm",
            "input_size": 3,
            "hidden_size": 4,
            "unbatched": True,
            "seq_len": 6,
            "bidirectional": True,
        }
    )
    assert doc["frameworks"]["torch"]["outputs"] == {"output": [6, 8], "h_n": [2, 4], "c_n": [2, 4]}
    assert doc["frameworks"]["keras"]["supported"] is False
