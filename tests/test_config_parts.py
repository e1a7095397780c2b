"""Config files with layer norms, dropout and dense layers in the chain: what the reader accepts,
the one-line errors it gives for what it refuses, and flags applied to such models."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rnncalc.core.errors import SpecError
from rnncalc.core.model import Dense, Dropout, Embedding, LayerNorm, Model
from rnncalc.core.parts import DenseActivation
from rnncalc.core.spec import Cell, Spec
from rnncalc.io.config import ModelEntry, read_text

RELU, TANH = DenseActivation.RELU, DenseActivation.TANH
CHAIN = """\
name: chain
embedding: {vocab_size: 30, dim: 4}
layers:
  - {cell: lstm, hidden_size: 3, bidirectional: true}
  - {kind: layer_norm, epsilon: 0.001, bias: false}
  - {kind: dropout, rate: 0.25}
  - {kind: dense, units: 5, activation: relu}
  - {cell: gru, hidden_size: 2}
dense:
  - {units: 6, activation: tanh, per_step: false}
  - {kind: dropout}
  - {units: 2, bias: false}
"""


def _model(text: str, kind: str = "yaml") -> Model:
    (entry,) = read_text(f"m.{kind}", text, kind)
    assert isinstance(entry, ModelEntry), entry
    return entry.model


def test_the_chain_keeps_every_part_in_the_order_written() -> None:
    model = _model(CHAIN)
    assert model.parts == (
        Embedding(30, 4),
        model.layers[0],
        LayerNorm(epsilon=0.001, bias=False),
        Dropout(0.25),
        Dense(5, activation=RELU),
        model.layers[1],
        Dense(6, activation=TANH, per_step=False),
        Dropout(),
        Dense(2, bias=False),
    )
    assert [spec.cell for spec in model.layers] == [Cell.LSTM, Cell.GRU]
    assert model.dense == (
        Dense(5, activation=RELU),
        Dense(6, activation=TANH, per_step=False),
        Dense(2, bias=False),
    )
    assert model.is_chain and model.last_step and not model.tail_sequences


def test_the_same_chain_reads_from_toml_and_json() -> None:
    pytest.importorskip("tomllib")
    toml = """\
name = "chain"
[embedding]
vocab_size = 30
dim = 4
[[layers]]
cell = "lstm"
hidden_size = 3
bidirectional = true
[[layers]]
kind = "layer_norm"
epsilon = 0.001
bias = false
[[layers]]
kind = "dropout"
rate = 0.25
[[layers]]
kind = "dense"
units = 5
activation = "relu"
[[layers]]
cell = "gru"
hidden_size = 2
[[dense]]
units = 6
activation = "tanh"
per_step = false
[[dense]]
kind = "dropout"
[[dense]]
units = 2
bias = false
"""
    import yaml

    assert _model(toml, "toml") == _model(CHAIN) == _model(json.dumps(yaml.safe_load(CHAIN)), "json")


def test_a_model_without_the_new_parts_reports_no_parts_list(run_json: Callable[..., Any]) -> None:
    examples = Path(__file__).resolve().parent.parent / "examples"
    assert "parts" not in run_json("summary", str(examples / "sentiment.yaml"))["model"]
    tagger = run_json("summary", str(examples / "tagger.yaml"))["model"]
    assert tagger["parts"][2] == {"kind": "layer_norm", "epsilon": 1e-05, "scale": True, "bias": True}
    assert tagger["parts"][3] == {"kind": "dropout", "rate": 0.5}
    assert tagger["parts"][4] == {
        "kind": "dense",
        "units": 17,
        "bias": True,
        "activation": "softmax",
        "per_step": True,
    }


REFUSED = {
    # case: (config, the error after "m.yaml:")
    "dense_before_the_first_recurrent_layer": (
        "layers:\n  - {kind: dense, units: 3}\n  - {cell: lstm, hidden_size: 4, input_size: 2}\n",
        "2: layers[0]: a dense layer before the first recurrent layer is not supported",
    ),
    "last_step_dense_between_blocks": (
        "layers:\n  - {cell: lstm, hidden_size: 4, input_size: 2}\n"
        "  - {kind: dense, units: 3, per_step: false}\n  - {cell: gru, hidden_size: 2}\n",
        "3: layers[1].per_step: a dense layer between recurrent layers acts on every step",
    ),
    "last_step_head_and_return_sequences": (
        "return_sequences: true\nlayers: [{cell: gru, hidden_size: 2, input_size: 3}]\n"
        "dense:\n  - {units: 3, per_step: false}\n",
        "4: dense[0].per_step: false contradicts return_sequences: true: the heads see every step",
    ),
    "last_step_and_per_step_heads": (
        "layers: [{cell: gru, hidden_size: 2, input_size: 3}]\n"
        "dense:\n  - {units: 3, per_step: true}\n  - {units: 3, per_step: false}\n",
        "4: dense[1].per_step: false contradicts a head with per_step: true: the heads see every step",
    ),
    "embedding_as_a_layer": (
        "layers:\n  - {kind: embedding, vocab_size: 3, dim: 2}\n  - {cell: rnn, hidden_size: 2}\n",
        "2: layers[0].kind: unknown kind 'embedding'; choose recurrent, layer_norm, dropout, dense",
    ),
    "only_norms": (
        "layers:\n  - {kind: layer_norm}\n  - {kind: dropout}\n",
        "1: layers: needs at least one recurrent layer (cell, hidden_size)",
    ),
    "input_size_on_the_second_block_after_a_norm": (
        "layers:\n  - {kind: layer_norm}\n  - {cell: lstm, hidden_size: 4, input_size: 2}\n"
        "  - {cell: gru, hidden_size: 2, input_size: 4}\n",
        "4: layers[2].input_size: only the first layer takes input_size",
    ),
    "merge_mode_none_in_a_chain": (
        "layers:\n  - {kind: dropout}\n"
        "  - {cell: gru, hidden_size: 2, input_size: 3, bidirectional: true, merge_mode: none}\n",
        "3: layers[1].merge_mode: none returns two separate outputs",
    ),
    "a_recurrent_block_in_dense": (
        "layers: [{cell: gru, hidden_size: 2, input_size: 3}]\n"
        "dense:\n  - {kind: recurrent, cell: gru, hidden_size: 2}\n",
        "3: dense[0].kind: unknown kind 'recurrent'; choose dense, layer_norm, dropout",
    ),
    "epsilon_zero": (
        "layers:\n  - {cell: gru, hidden_size: 2, input_size: 3}\n  - {kind: layer_norm, epsilon: 0}\n",
        "3: layers[1].epsilon: must be between 0 and 1, got 0",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_chain_the_model_cannot_hold_is_one_line_naming_file_line_and_key(
    case: str, tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    text, expected = REFUSED[case]
    path = tmp_path / "m.yaml"
    path.write_text(text)
    result = run_cli("summary", str(path))
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"rnncalc: error: {path}:{expected}"), line


def test_flags_apply_to_the_recurrent_blocks_and_keep_the_other_parts(
    tmp_path: Path, run_json: Callable[..., Any]
) -> None:
    path = tmp_path / "chain.yaml"
    path.write_text(CHAIN)
    document = run_json("summary", str(path), "--no-bias", "--batch", "3", "--seq-len", "4")
    model = document["model"]
    assert [part["kind"] for part in model["parts"]] == [
        "embedding",
        "recurrent",
        "layer_norm",
        "dropout",
        "dense",
        "recurrent",
        "dense",
        "dropout",
        "dense",
    ]
    assert [layer["bias"] for layer in model["layers"]] == [False, False]
    assert [head["bias"] for head in model["dense"]] == [True, True, False]  # dense layers keep theirs
    assert (model["batch_size"], model["seq_len"]) == (3, 4)
    # The last-step head: every framework's output is (batch, units) with no time axis.
    assert {fw: report["outputs"]["output"] for fw, report in document["frameworks"].items()} == {
        "torch": [3, 2],
        "keras": [3, 2],
    }


def test_a_chain_model_is_one_line_of_jsonl(tmp_path: Path, run_cli: Callable[..., Any]) -> None:
    import yaml

    path = tmp_path / "models.jsonl"
    path.write_text(
        json.dumps(yaml.safe_load(CHAIN)) + "\n" + json.dumps({"cell": "gru", "hidden_size": 2}) + "\n"
    )
    result = run_cli("check", str(path), "--against", "none")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2


def test_models_built_in_code_take_parts_or_the_classic_fields() -> None:
    lstm = Spec(cell=Cell.LSTM, hidden_size=3, input_size=2)
    classic = Model(layers=(lstm,), dense=(Dense(4),))
    assert classic.parts == (lstm, Dense(4)) and not classic.is_chain
    assert Model(parts=(lstm, Dense(4))) == classic
    # dataclasses.replace remakes a classic chain from the fields it changes
    gru = Spec(cell=Cell.GRU, hidden_size=3, input_size=2)
    assert dataclasses.replace(classic, layers=(gru,)).parts == (gru, Dense(4))
    chain = Model(parts=(lstm, LayerNorm(), Dense(4)))
    with pytest.raises(SpecError, match="give the chain as parts"):
        dataclasses.replace(chain, layers=(gru,))


def test_the_reports_parts_read_back_as_layers_give_the_same_model(tmp_path: Path) -> None:
    """``model.parts`` of the JSON report is config text: written back under ``layers:`` (the
    embedding under its own key) it reads as the same model."""
    model = _model(CHAIN)
    data = model.to_dict()
    config = {
        "name": data["name"],
        "embedding": data["embedding"],
        "layers": [part for part in data["parts"] if part["kind"] != "embedding"],
    }
    assert _model(json.dumps(config), "json") == model
