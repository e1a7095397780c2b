"""rnncalc's Keras weight paths are the ones Keras names by itself in a fresh process.

The adapter and the snippets pass rnncalc's names into Keras, so they never exercise Keras's
own numbering (``lstm``, ``lstm_1``, ``bidirectional_1``, ``dense_1`` ...). Here every model is
built without a single name, in a fresh Python process (``keras.backend.clear_session()``
between models, and a check that it restarts the numbering), and its ``weight.path`` list is
compared with what ``rnncalc summary --format json`` prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("keras")

#: Builds each described model with no names at all and prints its weights' paths and shapes.
BUILDER = textwrap.dedent(
    """
    import json, os, sys
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    CELLS = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}

    def build(model):
        if model.get("embedding"):
            layers = [keras.Input(shape=(7,)), keras.layers.Embedding(*model["embedding"])]
        else:
            layers = [keras.Input(shape=(7, model["input_size"]))]
        blocks = model["layers"]
        for number, block in enumerate(blocks):
            for index in range(block.get("num_layers", 1)):
                last = number == len(blocks) - 1 and index == block.get("num_layers", 1) - 1
                kwargs = {"return_sequences": not last, "use_bias": block.get("bias", True)}
                if block["cell"] == "gru":
                    kwargs["reset_after"] = block.get("reset_after", True)
                layer = CELLS[block["cell"]](block["hidden_size"], **kwargs)
                if block.get("bidirectional"):
                    layer = keras.layers.Bidirectional(layer, merge_mode=block.get("merge_mode", "concat"))
                layers.append(layer)
        layers += [keras.layers.Dense(units) for units in model.get("dense", [])]
        return keras.Sequential(layers)

    results = []
    for model in json.loads(sys.stdin.read()):
        keras.backend.clear_session()
        built = build(model)
        results.append([[w.path, list(w.shape)] for w in built.weights])
    print(json.dumps(results))
    """
)

#: Models whose automatic names collide and number on: repeated cells, wrappers, dense heads.
MODELS: dict[str, dict[str, Any]] = {
    "one-lstm": {"input_size": 3, "layers": [{"cell": "lstm", "hidden_size": 2}]},
    "three-stacked-rnn": {"input_size": 3, "layers": [{"cell": "rnn", "hidden_size": 2, "num_layers": 3}]},
    "two-stacked-bidirectional-gru": {
        "input_size": 3,
        "layers": [{"cell": "gru", "hidden_size": 2, "num_layers": 2, "bidirectional": True}],
    },
    "lstm-gru-lstm-then-two-dense": {
        "input_size": 3,
        "layers": [
            {"cell": "lstm", "hidden_size": 2},
            {"cell": "gru", "hidden_size": 3},
            {"cell": "lstm", "hidden_size": 2},
        ],
        "dense": [4, 1],
    },
    "embedding-bi-lstm-bi-lstm-lstm-dense": {
        "embedding": [50, 4],
        "layers": [
            {"cell": "lstm", "hidden_size": 2, "num_layers": 2, "bidirectional": True},
            {"cell": "lstm", "hidden_size": 3},
        ],
        "dense": [2],
    },
    "bi-gru-sum-then-bi-rnn": {
        "input_size": 3,
        "layers": [
            {
                "cell": "gru",
                "hidden_size": 2,
                "bidirectional": True,
                "merge_mode": "sum",
                "reset_after": False,
            },
            {"cell": "rnn", "hidden_size": 2, "bidirectional": True, "bias": False},
        ],
    },
}


def to_config(model: dict[str, Any]) -> dict[str, Any]:
    """The same model as an rnncalc config mapping."""
    config: dict[str, Any] = {"layers": [dict(block) for block in model["layers"]]}
    if model.get("embedding"):
        vocab, dim = model["embedding"]
        config["embedding"] = {"vocab_size": vocab, "dim": dim}
    else:
        config["layers"][0]["input_size"] = model["input_size"]
    if model.get("dense"):
        config["dense"] = [{"units": units} for units in model["dense"]]
    return config


@pytest.fixture(scope="module")
def keras_paths() -> dict[str, list[tuple[str, list[int]]]]:
    """Every model of MODELS built by Keras alone; the first one twice, to prove clear_session."""
    names = sorted(MODELS)
    request = [MODELS[name] for name in names] + [MODELS[names[0]]]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    completed = subprocess.run(
        [sys.executable, "-c", BUILDER],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=300,
    )
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    assert results[0] == results[-1], "clear_session did not restart Keras's layer numbering"
    return {
        name: [(unprefixed(path), shape) for path, shape in result]
        for name, result in zip(names, results, strict=False)
    }


def rnncalc_paths(
    run_cli: Callable[..., Any], tmp_path: Path, model: dict[str, Any]
) -> list[tuple[str, list[int]]]:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(to_config(model)), encoding="utf-8")
    result = run_cli("summary", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    keras = json.loads(result.stdout)["frameworks"]["keras"]
    return [(unprefixed(w["path"]), w["shape"]) for layer in keras["layers"] for w in layer["weights"]]


def unprefixed(path: str) -> str:
    """Without the model's own name: rnncalc prefixes it only when the model has non-recurrent parts."""
    return path.removeprefix("sequential/")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_names_every_weight_as_rnncalc_predicts_when_no_name_is_given(
    run_cli: Callable[..., Any],
    tmp_path: Path,
    keras_paths: dict[str, list[tuple[str, list[int]]]],
    name: str,
) -> None:
    assert rnncalc_paths(run_cli, tmp_path, MODELS[name]) == keras_paths[name]


def test_a_flat_spec_names_its_stacked_layers_as_keras_does(
    run_json: Callable[..., Any], keras_paths: dict[str, list[tuple[str, list[int]]]]
) -> None:
    document = run_json("summary", "-c", "gru", "-H", "2", "-i", "3", "-l", "2", "--bi")
    paths = [
        (w["path"], w["shape"])
        for layer in document["frameworks"]["keras"]["layers"]
        for w in layer["weights"]
    ]
    expected = [
        (path.removeprefix("sequential/"), shape)
        for path, shape in keras_paths["two-stacked-bidirectional-gru"]
    ]
    assert paths == expected
