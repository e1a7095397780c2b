"""Keras's own weights give the MACs and bias adds the cost model counts for Keras."""

from __future__ import annotations

import math
from typing import Any

import pytest

from rnncalc.core.spec import spec_from_mapping
from rnncalc.cost.model import cost

pytest.importorskip("keras")


@pytest.mark.parametrize(
    "data",
    [
        {"cell": "gru", "input_size": 5, "hidden_size": 4, "num_layers": 2, "bidirectional": True},
        {"cell": "gru", "input_size": 5, "hidden_size": 4, "reset_after": False},
        {
            "cell": "lstm",
            "input_size": 3,
            "hidden_size": 6,
            "num_layers": 2,
            "bidirectional": True,
            "merge_mode": "sum",
        },
    ],
    ids=["gru-bi-2", "gru-reset-before", "lstm-bi-sum"],
)
def test_keras_kernels_and_biases_give_the_per_step_macs_and_bias_adds(data: dict[str, Any]) -> None:
    from rnncalc.frameworks.keras import build

    spec = spec_from_mapping({**data, "batch_size": 2, "seq_len": 3})
    model = build(spec)
    matrices = [w for w in model.weights if len(w.shape) == 2 and "bias" not in w.path]
    biases = [w for w in model.weights if "bias" in w.path]
    ours = cost(spec).framework("keras")
    assert ours.step.macs == sum(math.prod(w.shape) for w in matrices)
    assert ours.step.bias_adds == sum(math.prod(w.shape) for w in biases)
    assert ours.params == model.count_params()
