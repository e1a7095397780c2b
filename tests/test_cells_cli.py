"""``--step`` and the Keras option flags in every command, and their errors at the door."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from rnncalc.core.errors import SpecError
from rnncalc.core.spec import spec_from_mapping

CELL = ("-c", "lstm", "-i", "4", "-H", "3", "--step")


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("-c", "lstm", "-H", "3", "--step", "--seq-len", "4"), "--seq-len"),
        (("-c", "lstm", "-H", "3", "--step", "--bi"), "--bi"),
        (("-c", "gru", "-H", "3", "--step", "--batch-first"), "--batch-first"),
        (("-c", "rnn", "-H", "3", "--step", "--return-sequences"), "--return-sequences"),
        (("-c", "rnn", "-H", "3", "--step", "--go-backwards"), "--go-backwards"),
        (("-c", "gru", "-H", "3", "--activation", "softplus"), "--activation"),
        (("-c", "rnn", "-H", "3", "--recurrent-activation", "sigmoid"), "--recurrent-activation"),
        (("-c", "rnn", "-H", "3", "--nonlinearity", "tanh", "--activation", "relu"), "--activation"),
        (("-c", "gru", "-H", "3", "--no-unit-forget-bias"), "--unit-forget-bias"),
        (("-c", "lstm", "-H", "3", "--stateful"), "--stateful"),
        (("-c", "lstm", "-H", "3", "--unroll"), "--unroll"),
        (("-c", "lstm", "-H", "3", "--bi", "--go-backwards"), "--go-backwards"),
    ],
)
def test_a_bad_combination_is_one_line_naming_the_flag_and_exit_2(
    run_cli: Callable[..., Result], args: tuple[str, ...], flag: str
) -> None:
    result = run_cli("summary", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"cell": "lstm", "hidden_size": 3, "step": "yes"}, "step"),
        ({"cell": "lstm", "hidden_size": 3, "activation": 3}, "activation"),
        ({"cell": "lstm", "hidden_size": 3, "stateful": 1}, "stateful"),
        ({"cell": "rnn", "hidden_size": 3, "nonlinearity": "relu", "activation": "tanh"}, "activation"),
    ],
)
def test_a_file_with_a_bad_new_field_names_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as error:
        spec_from_mapping(fields)
    assert error.value.field == field


def test_activation_tanh_or_relu_is_the_nonlinearity_of_a_simple_rnn() -> None:
    spec = spec_from_mapping({"cell": "rnn", "hidden_size": 3, "activation": "relu"})
    assert spec.nonlinearity.value == "relu" and spec.cell_activation.value == "relu"
    other = spec_from_mapping({"cell": "rnn", "hidden_size": 3, "activation": "sigmoid"})
    assert other.nonlinearity.value == "tanh" and other.cell_activation.value == "sigmoid"


def test_summary_of_a_step_names_the_cells_and_their_returned_states(run_json: Callable[..., Any]) -> None:
    document = run_json("summary", *CELL, "-b", "5")
    assert document["spec"]["step"] is True
    torch, keras = document["frameworks"]["torch"], document["frameworks"]["keras"]
    assert torch["model"] == "nn.LSTMCell" and keras["model"] == "LSTMCell"
    (cell,) = torch["layers"]
    assert [w["path"] for w in cell["weights"]] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert keras["layers"][0]["weights"][0]["path"] == "lstm_cell/kernel"
    assert torch["outputs"] == {"h_1": [5, 3], "c_1": [5, 3]}
    assert keras["outputs"] == {"output": [5, 3], "state_h": [5, 3], "state_c": [5, 3]}


def test_the_json_spec_of_an_existing_spec_only_gains_keys(run_json: Callable[..., Any]) -> None:
    spec = run_json("summary", "-c", "gru", "-i", "4", "-H", "3")["spec"]
    assert spec["nonlinearity"] == "tanh" and spec["reset_after"] is True
    new = {
        "step",
        "activation",
        "recurrent_activation",
        "go_backwards",
        "unit_forget_bias",
        "stateful",
        "unroll",
    }
    assert {name: spec[name] for name in new} == {
        "step": False,
        "activation": None,
        "recurrent_activation": None,
        "go_backwards": False,
        "unit_forget_bias": True,
        "stateful": False,
        "unroll": False,
    }


def test_explain_step_says_the_notebooks_hand_loop_is_the_cell_applied_over_time(
    run_cli: Callable[..., Result],
) -> None:
    result = run_cli("explain", *CELL)
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "One step of a cell" in text
    assert "hand loop" in text and "is exactly this cell applied over time" in text
    assert "lstm_cell/kernel" in text and "Keras 2 spelling" not in text


def test_cost_of_a_step_is_one_time_step_and_not_an_assumed_length(run_json: Callable[..., Any]) -> None:
    document = run_json("cost", *CELL, "-b", "4")
    assert document["workload"]["seq_len"] == 1
    assert document["workload"]["assumed"] == []


def test_check_builds_the_real_cells(run_json: Callable[..., Any]) -> None:
    (model,) = run_json("check", *CELL)["models"]
    for framework in ("torch", "keras"):
        crosscheck = model["frameworks"][framework]["crosscheck"]
        assert crosscheck["status"] == "ok" and crosscheck["probe"]["seq_len"] is None


def test_verify_step_compares_every_returned_state(run_json: Callable[..., Any]) -> None:
    document = run_json("verify", "-c", "gru", "-i", "4", "-H", "3", "--step")
    names = {r["framework"]: [t["name"] for t in r["tensors"]] for r in document["frameworks"]}
    assert names == {"torch": ["h_1"], "keras": ["output", "state_h"]}
    assert all(r["status"] == "agrees" for r in document["frameworks"])


def test_keras_options_make_pytorch_say_why_it_cannot(run_json: Callable[..., Any]) -> None:
    for flags, words in (
        (("--go-backwards",), "no go_backwards"),
        (("--stateful", "-b", "2"), "keeps no state"),
        (("--recurrent-activation", "hard_sigmoid"), "fixes tanh and sigmoid"),
    ):
        document = run_json("summary", "-c", "lstm", "-i", "4", "-H", "3", *flags)
        assert words in document["frameworks"]["torch"]["reason"]
        assert document["frameworks"]["keras"]["total_params"] == 96


def test_a_config_file_with_step_reads_like_the_flags(tmp_path: Path, run_json: Callable[..., Any]) -> None:
    path = tmp_path / "cell.json"
    path.write_text(json.dumps({"cell": "gru", "input_size": 4, "hidden_size": 3, "step": True}))
    (model,) = run_json("check", str(path), "--against", "none")["models"]
    assert model["spec"]["step"] is True
    assert model["frameworks"]["torch"]["model"] == "nn.GRUCell"
