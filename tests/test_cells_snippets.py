"""Snippets for cells (``step``) and Keras's layer options run as they stand in the real
frameworks and build what the calculator describes: same count, names, shapes and outputs.

All snippets of one framework run in one subprocess (each exec'd in a fresh namespace).
"""

from __future__ import annotations

from typing import Any

import pytest
from snippet_runner import assert_built_what_the_calculator_describes, run_torch_and_keras_snippets

from rnncalc.core.spec import spec_from_mapping
from rnncalc.explain.code import snippet

CONFIGS: dict[str, dict[str, Any]] = {
    "rnn_step": {"cell": "rnn", "input_size": 5, "hidden_size": 3, "step": True},
    "rnn_relu_step_no_bias": {
        "cell": "rnn",
        "input_size": 4,
        "hidden_size": 2,
        "step": True,
        "nonlinearity": "relu",
        "bias": False,
    },
    "lstm_step_batch": {"cell": "lstm", "input_size": 4, "hidden_size": 3, "step": True, "batch_size": 5},
    "lstm_step_unbatched": {
        "cell": "lstm",
        "input_size": 4,
        "hidden_size": 3,
        "step": True,
        "unbatched": True,
    },
    "gru_step": {"cell": "gru", "input_size": 6, "hidden_size": 2, "step": True},
    "gru_step_no_reset_after": {
        "cell": "gru",
        "input_size": 6,
        "hidden_size": 2,
        "step": True,
        "reset_after": False,
    },
    "lstm_step_keras_activations": {
        "cell": "lstm",
        "input_size": 3,
        "hidden_size": 2,
        "step": True,
        "activation": "relu",
        "recurrent_activation": "hard_sigmoid",
        "unit_forget_bias": False,
    },
    "lstm_step_2_layers": {"cell": "lstm", "input_size": 4, "hidden_size": 3, "step": True, "num_layers": 2},
    "gru_step_3_layers_options": {
        "cell": "gru",
        "input_size": 2,
        "hidden_size": 3,
        "step": True,
        "num_layers": 3,
        "recurrent_activation": "linear",
        "bias": False,
    },
    "gru_keras_options": {
        "cell": "gru",
        "input_size": 3,
        "hidden_size": 4,
        "num_layers": 2,
        "activation": "linear",
        "go_backwards": True,
        "stateful": True,
        "unroll": True,
        "batch_size": 2,
        "seq_len": 3,
        "return_sequences": True,
    },
    "rnn_sigmoid_bi": {
        "cell": "rnn",
        "input_size": 3,
        "hidden_size": 4,
        "activation": "sigmoid",
        "bidirectional": True,
    },
}


@pytest.fixture(scope="module")
def executed() -> dict[tuple[str, str], dict[str, Any]]:
    return run_torch_and_keras_snippets(CONFIGS)


@pytest.mark.parametrize("framework", ["torch", "keras"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_cell_and_keras_option_snippet_runs_and_builds_what_the_calculator_describes(
    executed: dict[tuple[str, str], dict[str, Any]], name: str, framework: str
) -> None:
    assert_built_what_the_calculator_describes(
        executed[(framework, name)], spec_from_mapping(CONFIGS[name]), framework
    )


def test_the_pytorch_cell_snippet_calls_the_cell_with_its_states() -> None:
    source = snippet(spec_from_mapping(CONFIGS["lstm_step_batch"]), "torch")
    assert "nn.LSTMCell(" in source and "h_1, c_1 = cell(x, (h_0, c_0))" in source
    assert "num_layers" not in source and "batch_first" not in source


def test_the_keras_snippets_spell_out_only_the_options_that_differ_from_keras_defaults() -> None:
    source = snippet(spec_from_mapping(CONFIGS["gru_keras_options"]), "keras")
    for keyword in ('activation="linear"', "go_backwards=True", "stateful=True", "unroll=True"):
        assert keyword in source
    assert "recurrent_activation" not in source and "unit_forget_bias" not in source
    plain = snippet(spec_from_mapping({"cell": "lstm", "input_size": 3, "hidden_size": 2}), "keras")
    assert "activation" not in plain and "go_backwards" not in plain
