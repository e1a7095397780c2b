"""A Keras JSON that leaves a recurrent option out means Keras 3's default, as the real layer
builds it: a GRU without ``reset_after`` is ``reset_after=True`` (keras/src/layers/rnn/gru.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

keras = pytest.importorskip("keras")


@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_keras_json_gru_without_reset_after_counts_as_keras_3_builds_it(
    tmp_path: Path, run_json: Any, bidirectional: bool
) -> None:
    layer = keras.layers.GRU(4)
    model = keras.Sequential(
        [keras.Input((5, 3)), keras.layers.Bidirectional(layer) if bidirectional else layer]
    )
    expected = model.count_params()
    assert expected == (2 if bidirectional else 1) * 108  # 3 * (3*4 + 4*4 + 2*4): two biases
    config = json.loads(model.to_json())
    gru = next(entry for entry in config["config"]["layers"] if entry["class_name"] != "InputLayer")["config"]
    options = gru["layer"]["config"] if bidirectional else gru
    assert options.pop("reset_after") is True
    path = tmp_path / "gru.json"
    path.write_text(json.dumps(config))
    inspected = run_json("inspect", str(path))
    assert inspected["total_params"] == expected
    assert [layer["spec"]["reset_after"] for layer in inspected["recurrent"]] == [True]
    summary = run_json("summary", str(path), "-F", "keras")
    assert summary["spec"]["reset_after"] is True
    assert summary["frameworks"]["keras"]["total_params"] == expected
