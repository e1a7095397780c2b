"""``rnncalc solve`` answers H such that H fits the budget and H+1 does not, judged independently.

The oracle is never rnncalc: parameters are the ``numel`` of the real ``torch.nn`` module at H and
H+1 (and hand closed forms for Keras), FLOPs the per-step terms written out from the cell
equations in ``test_cost_formulas``. Budgets set to exactly the count at some H check the
boundary (a budget equal to the count fits).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from test_cost_formulas import GATES, Case, per_step


def torch_params(cell: str, inputs: int, hidden: int, layers: int, bi: bool, bias: bool, proj: int) -> int:
    """Elements of the real torch module: the oracle for PyTorch parameter budgets."""
    torch = pytest.importorskip("torch")
    classes = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    extra = {"proj_size": proj} if proj else {}
    module = classes[cell](inputs, hidden, num_layers=layers, bidirectional=bi, bias=bias, **extra)
    return sum(parameter.numel() for parameter in module.parameters())


def keras_params(cell: str, inputs: int, hidden: int, layers: int, bi: bool, bias: bool) -> int:
    """Keras: kernel (I, G·H), recurrent_kernel (H, G·H), bias G·H (GRU reset_after: 2·G·H)."""
    gates = GATES[cell]
    directions = 2 if bi else 1
    biases = (2 if cell == "gru" else 1) * gates * hidden if bias else 0
    sizes = [inputs] + [directions * hidden] * (layers - 1)
    return sum(directions * (gates * hidden * (size + hidden) + biases) for size in sizes)


def solve(run_cli: Callable[..., Any], *flags: str) -> tuple[int | None, dict[str, Any]]:
    result = run_cli("solve", *flags, "--format", "json")
    assert result.exit_code in (0, 1), result.stderr
    document = json.loads(result.stdout)
    return document["hidden_size"], document


PARAM_CASES = [
    ("rnn", 10, 1, False, True, 0, 5_000),
    ("lstm", 10, 1, False, True, 0, 100_000),
    ("lstm", 300, 2, True, True, 0, 2_000_000),
    ("gru", 32, 3, False, False, 0, 250_000),
    ("gru", 7, 2, True, True, 0, 12_345),
    ("rnn", 5, 4, True, False, 0, 777),
    ("lstm", 20, 2, True, True, 8, 90_000),
]


def param_flags(cell: str, inputs: int, layers: int, bi: bool, bias: bool, proj: int) -> list[str]:
    flags = ["-c", cell, "-i", str(inputs), "-l", str(layers)]
    flags += ["--bi"] if bi else []
    flags += [] if bias else ["--no-bias"]
    flags += ["--proj-size", str(proj)] if proj else []
    return flags


def keras_oracle(cell: str, inputs: int, hidden: int, layers: int, bi: bool, bias: bool, proj: int) -> int:
    """``keras_params`` under ``torch_params``'s signature; Keras cases never project."""
    assert not proj
    return keras_params(cell, inputs, hidden, layers, bi, bias)


ORACLE_CASES = [
    pytest.param(framework, oracle, *case, id=f"{framework}-{i}")
    for framework, oracle in (("torch", torch_params), ("keras", keras_oracle))
    for i, case in enumerate(PARAM_CASES)
    if framework == "torch" or not case[5]  # Keras cannot build a projection
]


@pytest.mark.parametrize(
    ("framework", "oracle", "cell", "inputs", "layers", "bi", "bias", "proj", "budget"), ORACLE_CASES
)
def test_params_at_the_answer_fit_and_one_more_unit_does_not(
    run_cli: Callable[..., Any],
    framework: str,
    oracle: Callable[[str, int, int, int, bool, bool, int], int],
    cell: str,
    inputs: int,
    layers: int,
    bi: bool,
    bias: bool,
    proj: int,
    budget: int,
) -> None:
    flags = param_flags(cell, inputs, layers, bi, bias, proj)
    hidden, _ = solve(run_cli, *flags, "--max-params", str(budget), "-F", framework)
    assert hidden is not None
    assert oracle(cell, inputs, hidden, layers, bi, bias, proj) <= budget
    assert oracle(cell, inputs, hidden + 1, layers, bi, bias, proj) > budget


@pytest.mark.parametrize(("cell", "hidden"), [("rnn", 13), ("lstm", 37), ("gru", 64)])
def test_a_budget_equal_to_the_count_at_h_gives_exactly_h(
    run_cli: Callable[..., Any], cell: str, hidden: int
) -> None:
    budget = torch_params(cell, 9, hidden, 2, True, True, 0)
    answer, _ = solve(run_cli, "-c", cell, "-i", "9", "-l", "2", "--bi", "--max-params", str(budget))
    assert answer == hidden
    answer, _ = solve(run_cli, "-c", cell, "-i", "9", "-l", "2", "--bi", "--max-params", str(budget - 1))
    assert answer == hidden - 1


def test_a_budget_below_the_smallest_layer_has_no_answer_and_exits_1(run_cli: Callable[..., Any]) -> None:
    smallest = torch_params("lstm", 10, 1, 1, False, True, 0)  # H = 1: 4·(10 + 1 + 2) = 52
    assert smallest == 52
    result = run_cli("solve", "-c", "lstm", "-i", "10", "--max-params", str(smallest - 1), "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["hidden_size"] is None
    hidden, _ = solve(run_cli, "-c", "lstm", "-i", "10", "--max-params", str(smallest))
    assert hidden == 1


def batch_flops(case: Case, framework: str) -> int:
    """FLOPs of the whole batch from the hand-written per-step terms."""
    step = sum(
        per_step(case, framework, layer)["flops"]
        for layer in range(case.layers)
        for _ in range(case.directions)
    )
    return step * case.batch_steps(framework)


FLOP_CASES = [
    (Case("gru", inputs=10, batch=4, seq_len=20), "keras", 5_000_000),
    (Case("lstm", inputs=80, batch=8, seq_len=50, layers=2, bi=True), "torch", 3_000_000_000),
    (Case("rnn", inputs=3, batch=2, seq_len=7), "torch", 10_000),
    (Case("lstm", inputs=16, batch=None, seq_len=None, lengths=(5, 9, 2)), "torch", 1_000_000),
    (Case("gru", inputs=16, layers=3, bi=True, merge="sum", batch=4, seq_len=12), "keras", 40_000_000),
]


@pytest.mark.parametrize(("case", "framework", "budget"), FLOP_CASES)
def test_flops_at_the_answer_fit_and_one_more_unit_does_not(
    run_cli: Callable[..., Any], case: Case, framework: str, budget: int
) -> None:
    flags = case.flags()
    at = flags.index("-H")
    del flags[at : at + 2]  # solve picks the hidden size
    hidden, _ = solve(run_cli, *flags, "--max-flops", str(budget), "-F", framework)
    assert hidden is not None
    assert batch_flops(Case(**{**case.__dict__, "hidden": hidden}), framework) <= budget
    assert batch_flops(Case(**{**case.__dict__, "hidden": hidden + 1}), framework) > budget
