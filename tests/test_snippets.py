"""Every snippet rnncalc emits runs as it stands in the real framework and builds the model the
calculator describes: same parameter count, same weight names and shapes, same output shapes.

All snippets of one framework run in ONE subprocess (each exec'd in a fresh namespace) so Keras
and PyTorch start once, not once per snippet.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from snippet_runner import assert_built_what_the_calculator_describes, run_torch_and_keras_snippets

from rnncalc.analysis import analyze
from rnncalc.core.spec import Spec, spec_from_mapping
from rnncalc.explain.code import snippet

#: A grid over every spec field a snippet spells out; small sizes keep the run short.
CONFIGS: dict[str, dict[str, Any]] = {
    "rnn": {"cell": "rnn", "input_size": 5, "hidden_size": 8},
    "rnn_bi": {"cell": "rnn", "input_size": 5, "hidden_size": 8, "bidirectional": True},
    "rnn_relu_2_layers": {
        "cell": "rnn",
        "input_size": 4,
        "hidden_size": 3,
        "num_layers": 2,
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
    "rnn_unbatched": {"cell": "rnn", "input_size": 3, "hidden_size": 2, "unbatched": True},
    "lstm": {"cell": "lstm", "input_size": 5, "hidden_size": 8},
    "lstm_no_bias": {"cell": "lstm", "input_size": 5, "hidden_size": 4, "bias": False},
    "lstm_bi_2_layers_state": {
        "cell": "lstm",
        "input_size": 5,
        "hidden_size": 4,
        "num_layers": 2,
        "bidirectional": True,
        "return_state": True,
    },
    "lstm_proj": {"cell": "lstm", "input_size": 5, "hidden_size": 6, "proj_size": 3},
    "lstm_proj_bi_2_layers": {
        "cell": "lstm",
        "input_size": 5,
        "hidden_size": 6,
        "proj_size": 2,
        "num_layers": 2,
        "bidirectional": True,
    },
    "lstm_sequences_batch_given": {
        "cell": "lstm",
        "input_size": 3,
        "hidden_size": 4,
        "return_sequences": True,
        "batch_size": 4,
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
    "gru_bi_2_layers_no_bias": {
        "cell": "gru",
        "input_size": 4,
        "hidden_size": 3,
        "num_layers": 2,
        "bidirectional": True,
        "bias": False,
    },
    "gru_bi_sum_2_layers": {
        "cell": "gru",
        "input_size": 4,
        "hidden_size": 3,
        "num_layers": 2,
        "bidirectional": True,
        "merge_mode": "sum",
    },
    "rnn_bi_mul_state": {
        "cell": "rnn",
        "input_size": 4,
        "hidden_size": 3,
        "bidirectional": True,
        "merge_mode": "mul",
        "return_state": True,
    },
    "lstm_bi_ave_batch_given": {
        "cell": "lstm",
        "input_size": 4,
        "hidden_size": 3,
        "bidirectional": True,
        "merge_mode": "ave",
        "batch_size": 2,
        "seq_len": 5,
    },
    "lstm_bi_none_state": {
        "cell": "lstm",
        "input_size": 3,
        "hidden_size": 2,
        "bidirectional": True,
        "merge_mode": "none",
        "return_state": True,
    },
    "gru_bi_none_sequences_state": {
        "cell": "gru",
        "input_size": 4,
        "hidden_size": 3,
        "bidirectional": True,
        "merge_mode": "none",
        "return_sequences": True,
        "return_state": True,
    },
}


def spec_of(name: str) -> Spec:
    return spec_from_mapping(CONFIGS[name])


@pytest.fixture(scope="module")
def executed() -> dict[tuple[str, str], dict[str, Any]]:
    """Each framework's snippets for every config, run once per framework."""
    return run_torch_and_keras_snippets(CONFIGS)


@pytest.mark.parametrize("framework", ["torch", "keras"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_snippet_runs_and_builds_the_model_the_calculator_describes(
    executed: dict[tuple[str, str], dict[str, Any]], name: str, framework: str
) -> None:
    assert_built_what_the_calculator_describes(executed[(framework, name)], spec_of(name), framework)


@pytest.mark.parametrize(
    ("name", "framework"),
    [
        ("lstm_proj", "keras"),
        ("gru_no_reset_after", "torch"),
        ("gru_bi_sum_2_layers", "torch"),
    ],
)
def test_a_framework_that_cannot_build_the_spec_gets_only_a_comment_with_the_reason(
    name: str, framework: str
) -> None:
    source = snippet(spec_of(name), framework)
    report = analyze(spec_of(name)).framework(framework)
    assert report.reason is not None
    assert all(line.startswith("#") for line in source.splitlines())
    assert report.reason in source


def test_keras_snippet_sets_the_tensorflow_variables_before_importing_keras() -> None:
    source = snippet(spec_of("lstm"), "keras")
    assert source.index('os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"') < source.index("import keras")
    assert source.index('os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"') < source.index("import keras")


def test_keras_snippet_uses_keras_3_inputs_never_keras_2_keywords() -> None:
    plain = snippet(spec_of("lstm"), "keras")
    batched = snippet(spec_of("rnn_batch_first_batch_given"), "keras")
    assert "keras.Input(shape=(None, 5))" in plain
    assert "keras.Input(batch_shape=(8, 2, 10))" in batched
    for source in (plain, batched):
        for keras2 in ("input_length", "input_dim", "batch_input_shape"):
            assert keras2 not in source


def test_torch_snippet_spells_out_every_keyword() -> None:
    source = snippet(spec_of("lstm_proj_bi_2_layers"), "torch")
    for keyword in (
        "input_size=5",
        "hidden_size=6",
        "num_layers=2",
        "bias=True",
        "batch_first=False",
        "bidirectional=True",
        "proj_size=2",
    ):
        assert keyword in source
    assert "nonlinearity='relu'" not in source
    assert 'nonlinearity="relu"' in snippet(spec_of("rnn_relu_2_layers"), "torch")


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_rnncalc_code_output_runs_as_a_standalone_script(tmp_path: Any, framework: str) -> None:
    flags = ["-c", "lstm", "-i", "5", "-H", "4", "-l", "2", "--bi", "--return-state"]
    code = subprocess.run(
        [sys.executable, "-m", "rnncalc", "code", *flags, "--framework", framework],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    script = tmp_path / f"{framework}_model.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=300
    )
    expected = analyze(spec_of("lstm_bi_2_layers_state")).framework(framework).total.value
    assert done.stdout.strip().splitlines()[-1] == str(expected)


@pytest.mark.parametrize(
    "name", ["rnn_bi", "lstm_proj_bi_2_layers", "gru_bi_none_sequences_state", "lstm_proj"]
)
def test_snippets_are_already_formatted_and_lint_clean(name: str) -> None:
    ruff = [sys.executable, "-m", "ruff", "--isolated"]
    for framework in ("torch", "keras"):
        source = snippet(spec_of(name), framework)
        formatted = subprocess.run(
            [*ruff, "format", "--diff", "-"], input=source, capture_output=True, text=True
        )
        assert formatted.returncode == 0, formatted.stdout
        linted = subprocess.run([*ruff, "check", "-"], input=source, capture_output=True, text=True)
        assert linted.returncode == 0, linted.stdout
