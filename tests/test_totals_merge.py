"""``check --against none`` (the fast totals path) counts stacked Keras layers after every merge mode.

Keras hands the next layer ``2H`` features with ``merge_mode=concat`` and ``H`` with sum, mul or
ave; PyTorch always concatenates. The expected numbers are the closed forms written out here
(one direction: ``G·(I·H + H·H + b·H)``), and a few are built in real Keras as well.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def keras_direction(cell: str, inputs: int, hidden: int, bias: bool = True) -> int:
    """One Keras direction: kernel (I, G·H), recurrent_kernel (H, G·H), bias (G·H), GRU's (2, 3H)."""
    gates = GATES[cell]
    biases = (2 if cell == "gru" else 1) * gates * hidden if bias else 0
    return gates * hidden * (inputs + hidden) + biases


def torch_direction(cell: str, inputs: int, hidden: int, bias: bool = True) -> int:
    """One PyTorch direction: weight_ih (G·H, I), weight_hh (G·H, H), bias_ih and bias_hh (G·H)."""
    gates = GATES[cell]
    return gates * hidden * (inputs + hidden) + (2 * gates * hidden if bias else 0)


def keras_stack(cell: str, inputs: int, hidden: int, layers: int, merge: str, bias: bool = True) -> int:
    handed_on = 2 * hidden if merge == "concat" else hidden
    sizes = [inputs] + [handed_on] * (layers - 1)
    return sum(2 * keras_direction(cell, size, hidden, bias) for size in sizes)


def checked_params(run_cli: Callable[..., Any], *flags: str) -> dict[str, int | None]:
    result = run_cli("check", *flags, "--against", "none", "--format", "json")
    assert result.exit_code == 0, result.stderr
    model = json.loads(result.stdout)["models"][0]
    return {name: framework["params"] for name, framework in model["frameworks"].items()}


CASES = list(
    itertools.product(["rnn", "lstm", "gru"], ["concat", "sum", "mul", "ave"], [2, 3], [True, False])
)


@pytest.mark.parametrize(("cell", "merge", "layers", "bias"), CASES)
def test_check_totals_of_stacked_bidirectional_keras_layers_follow_the_merge_mode(
    run_cli: Callable[..., Any], cell: str, merge: str, layers: int, bias: bool
) -> None:
    flags = ["-c", cell, "-i", "5", "-H", "4", "-l", str(layers), "--bi", "--merge-mode", merge]
    if not bias:
        flags.append("--no-bias")
    params = checked_params(run_cli, *flags)
    assert params["keras"] == keras_stack(cell, 5, 4, layers, merge, bias)
    if merge == "concat":
        sizes = [5] + [2 * 4] * (layers - 1)
        assert params["torch"] == sum(2 * torch_direction(cell, size, 4, bias) for size in sizes)


@pytest.mark.parametrize(("cell", "merge", "layers", "bias"), CASES)
def test_check_totals_equal_the_summary_totals_for_every_merge_mode(
    run_cli: Callable[..., Any], cell: str, merge: str, layers: int, bias: bool
) -> None:
    """The fast path of ``check`` and the full analysis of ``summary`` print the same totals."""
    flags = ["-c", cell, "-i", "5", "-H", "4", "-l", str(layers), "--bi", "--merge-mode", merge]
    if not bias:
        flags.append("--no-bias")
    summary = json.loads(run_cli("summary", *flags, "--format", "json").stdout)
    totals = {name: report["total_params"] for name, report in summary["frameworks"].items()}
    assert checked_params(run_cli, *flags) == totals


def test_a_max_params_budget_is_judged_on_the_merge_mode_total(run_cli: Callable[..., Any]) -> None:
    """Two bidirectional GRU layers, H=4 on I=5, merge sum: Keras 504 parameters (concat: 600)."""
    total = keras_stack("gru", 5, 4, 2, "sum")
    assert total == 504
    flags = ("-c", "gru", "-i", "5", "-H", "4", "-l", "2", "--bi", "--merge-mode", "sum", "--against", "none")
    assert run_cli("check", *flags, "--max-params", str(total)).exit_code == 0
    assert run_cli("check", *flags, "--max-params", str(total - 1)).exit_code == 1


@pytest.mark.parametrize("merge", ["sum", "mul", "ave", "concat"])
def test_the_closed_form_matches_real_keras_for_stacked_merges(merge: str) -> None:
    pytest.importorskip("keras")
    import keras

    inputs = keras.Input(shape=(3, 5))
    x = inputs
    for index in range(2):
        layer = keras.layers.GRU(4, return_sequences=index == 0)
        x = keras.layers.Bidirectional(layer, merge_mode=merge)(x)
    assert keras.Model(inputs, x).count_params() == keras_stack("gru", 5, 4, 2, merge)
