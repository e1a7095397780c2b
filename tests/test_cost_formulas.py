"""Every FLOP cell of ``rnncalc cost --format json`` against formulas written out from the equations.

The per-step terms are counted here from the cell equations (PyTorch's nn.RNN/LSTM/GRU docs,
Keras's cells), one line per elementwise operation, not copied from rnncalc's constants; the
sequence and batch totals are the per-step terms times ``seq_len`` and times the real steps
(``batch × seq_len``, or the sum of ``--lengths``), checked term by term for every layer and
direction and for the framework totals. The training-memory figures are not checked here.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

GATES = {"rnn": 1, "lstm": 4, "gru": 3}

#: Elementwise operations per step, each a vector of H elements, counted from the equations.
#: RNN:  h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
#: LSTM: i, f, o = σ(·), g = tanh(·); c' = f⊙c + i⊙g; h' = o⊙tanh(c')
#: GRU:  r, z = σ(·); n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn)); h' = (1 - z)⊙n + z⊙h
ACTIVATIONS: dict[str, list[str]] = {
    "rnn": ["tanh (or relu) of the pre-activation"],
    "lstm": ["σ(i)", "σ(f)", "σ(o)", "tanh(g)", "tanh(c')"],
    "gru": ["σ(r)", "σ(z)", "tanh(n)"],
}
GATING: dict[str, list[str]] = {
    "rnn": [],
    "lstm": ["f⊙c", "i⊙g", "f⊙c + i⊙g", "o⊙tanh(c')"],
    "gru": ["r⊙(W_hn h + b_hn)", "1 - z", "(1 - z)⊙n", "z⊙h", "(1 - z)⊙n + z⊙h"],
}


@dataclass(frozen=True)
class Case:
    cell: str
    hidden: int = 4
    inputs: int = 3
    layers: int = 1
    bi: bool = False
    bias: bool = True
    proj: int = 0
    reset_after: bool = True
    merge: str = "concat"
    batch: int | None = 2
    seq_len: int | None = 5
    unbatched: bool = False
    lengths: tuple[int, ...] = ()

    def flags(self) -> list[str]:
        flags = ["-c", self.cell, "-H", str(self.hidden), "-i", str(self.inputs), "-l", str(self.layers)]
        flags += ["--bi", "--merge-mode", self.merge] if self.bi else []
        flags += [] if self.bias else ["--no-bias"]
        flags += ["--proj-size", str(self.proj)] if self.proj else []
        flags += [] if self.reset_after else ["--no-reset-after"]
        flags += ["-b", str(self.batch)] if self.batch is not None else []
        flags += ["-t", str(self.seq_len)] if self.seq_len is not None else []
        flags += ["--unbatched"] if self.unbatched else []
        flags += ["--lengths", ",".join(map(str, self.lengths))] if self.lengths else []
        return flags

    def expressible_in(self, framework: str) -> bool:
        """PyTorch: no reset_after=False, no merge but concat; Keras: no projection, no unbatched."""
        if framework == "torch":
            return self.reset_after and (not self.bi or self.merge == "concat")
        return not (self.proj or self.unbatched)

    @property
    def directions(self) -> int:
        return 2 if self.bi else 1

    def sequence_steps(self) -> int:
        """The padded length one sequence runs: the longest length, else seq_len (1 when unknown)."""
        if self.lengths:
            return self.seq_len or max(self.lengths)
        return self.seq_len or 1

    def batch_steps(self, framework: str = "torch") -> int:
        """Time steps of one direction over the batch: with lengths, the real ones in PyTorch
        (packed sequences run only those) and the padded batch elsewhere (a Keras mask still runs
        the cell on every padded step: tests/test_cost_keras_lengths.py counts them)."""
        if self.lengths and framework == "torch":
            return sum(self.lengths)
        if self.lengths:
            return len(self.lengths) * self.sequence_steps()
        return (1 if self.unbatched else self.batch or 1) * (self.seq_len or 1)


def per_step(case: Case, framework: str, layer: int) -> dict[str, int]:
    """One direction of one layer, one sample, one step."""
    cell, hidden, gates = case.cell, case.hidden, GATES[case.cell]
    recurrent = case.proj or hidden  # PyTorch's weight_hh is (4H, P) with a projection
    inputs = layer_input(case, framework, layer)
    if framework == "torch":
        macs = gates * hidden * inputs + gates * hidden * recurrent + case.proj * hidden
        bias_vectors = 2 * gates  # bias_ih and bias_hh
    else:
        macs = gates * hidden * (inputs + hidden)
        bias_vectors = 2 * gates if cell == "gru" and case.reset_after else gates
    terms = {
        "macs": macs,
        "bias_adds": bias_vectors * hidden if case.bias else 0,
        "product_sums": gates * hidden,  # W·x + U·h, one add per gate row
        "activations": len(ACTIVATIONS[cell]) * hidden,
        "gating": len(GATING[cell]) * hidden,
    }
    return finish(terms)


def layer_input(case: Case, framework: str, layer: int) -> int:
    """Features layer ``layer`` reads: PyTorch concatenates directions, Keras merges them."""
    if layer == 0:
        return case.inputs
    if framework == "torch":
        return case.directions * (case.proj or case.hidden)
    return 2 * case.hidden if case.bi and case.merge == "concat" else case.hidden


def finish(terms: dict[str, int]) -> dict[str, int]:
    elementwise = terms["product_sums"] + terms["activations"] + terms["gating"]
    flops = 2 * terms["macs"] + terms["bias_adds"] + elementwise
    # Training: forward plus backward, the backward pass counted as twice the forward (the
    # convention docs/cost.md states; the matmul part is checked against FlopCounterMode).
    return {
        **terms,
        "matmul_flops": 2 * terms["macs"],
        "elementwise": elementwise,
        "flops": flops,
        "training_matmul_flops": 3 * 2 * terms["macs"],
        "training_flops": 3 * flops,
    }


def scaled(terms: dict[str, int], factor: int) -> dict[str, int]:
    return {name: value * factor for name, value in terms.items()}


def summed(parts: list[dict[str, int]]) -> dict[str, int]:
    return {name: sum(part[name] for part in parts) for name in parts[0]}


CASES: list[Case] = [
    Case(cell, layers=layers, bi=bi, bias=bias)
    for cell, layers, bi, bias in itertools.product(
        ["rnn", "lstm", "gru"], [1, 3], [False, True], [True, False]
    )
] + [
    Case("lstm", proj=2, layers=2, bi=True),
    Case("lstm", proj=3, hidden=5),
    Case("gru", reset_after=False, layers=2, bi=True),
    Case("gru", reset_after=False, bias=False),
    *(Case(cell, layers=2, bi=True, merge=merge) for cell in GATES for merge in ("sum", "mul", "ave")),
    Case("rnn", batch=None, seq_len=None),
    Case("lstm", batch=7, seq_len=None),
    Case("gru", batch=None, seq_len=9, layers=2),
    Case("rnn", unbatched=True, batch=None, seq_len=6),
    Case("lstm", unbatched=True, batch=None, seq_len=None, proj=2),
    Case("gru", batch=None, seq_len=None, lengths=(3, 7, 2), layers=2, bi=True),
    Case("lstm", batch=3, seq_len=10, lengths=(3, 7, 2)),
    Case("rnn", batch=None, seq_len=None, lengths=(4,), unbatched=True),
]


def case_id(case: Case) -> str:
    default = Case(case.cell)
    return "-".join(
        [case.cell]
        + [
            f"{name}={getattr(case, name)}"
            for name in case.__dataclass_fields__
            if name != "cell"
            if getattr(case, name) != getattr(default, name)
        ]
    )


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_flop_cell_matches_the_hand_formula(run_cli: Callable[..., Any], case: Case) -> None:
    check_every_cell(run_cli, case)


def check_every_cell(run_cli: Callable[..., Any], case: Case) -> None:
    result = run_cli("cost", *case.flags(), "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["workload"]["steps_per_direction"] == case.batch_steps()
    for framework, cost in document["frameworks"].items():
        assert cost["supported"] == case.expressible_in(framework), cost["reason"]
        if not cost["supported"]:
            continue
        expected_layers = [
            per_step(case, framework, layer) for layer in range(case.layers) for _ in range(case.directions)
        ]
        assert len(cost["layers"]) == len(expected_layers)
        directions = ["forward", "backward"][: case.directions]
        for index, (row, step) in enumerate(zip(cost["layers"], expected_layers, strict=True)):
            layer = index // case.directions
            assert row["direction"] == directions[index % case.directions]
            assert row["input_size"] == layer_input(case, framework, layer)
            assert len({r["layer"] for r in cost["layers"][: index + 1]}) == layer + 1  # one name a layer
            assert [m["macs"] for m in row["matmuls"]] == [
                m["shape"][0] * m["shape"][1] for m in row["matmuls"]
            ]
            assert sum(m["macs"] for m in row["matmuls"]) == step["macs"]
            assert all(isinstance(m["weight"], str) and m["weight"] for m in row["matmuls"])
            assert row["per_step"] == step, (framework, row["layer"], row["direction"])
            assert row["per_sequence"] == scaled(step, case.sequence_steps()), (framework, row["layer"])
            assert row["total"] == scaled(step, case.batch_steps(framework)), (framework, row["layer"])
        everything = summed(expected_layers)
        assert cost["per_step"] == everything, framework
        assert cost["per_sequence"] == scaled(everything, case.sequence_steps()), framework
        assert cost["total"] == scaled(everything, case.batch_steps(framework)), framework


def test_one_lstm_step_written_out_in_full() -> None:
    """PyTorch LSTM, I=3, H=2, one direction: every term by hand, no helper."""
    step = per_step(Case("lstm", hidden=2, inputs=3), "torch", 0)
    assert step == {
        "macs": 8 * 3 + 8 * 2,  # weight_ih (8, 3), weight_hh (8, 2)
        "bias_adds": 16,  # bias_ih (8,) + bias_hh (8,)
        "product_sums": 8,
        "activations": 10,  # five H-vectors
        "gating": 8,  # four H-vectors
        "matmul_flops": 80,
        "elementwise": 26,
        "flops": 80 + 16 + 26,
        "training_matmul_flops": 3 * 80,  # forward, and backward as twice the forward
        "training_flops": 3 * (80 + 16 + 26),
    }


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """Any cost case: every field test_cost's strategy leaves out is drawn too."""
    cell = draw(st.sampled_from(sorted(GATES)))
    hidden = draw(st.integers(2, 9))
    bi = draw(st.booleans())
    unbatched = draw(st.booleans())
    lengths: tuple[int, ...] = ()
    batch: int | None = None if unbatched else draw(st.none() | st.integers(1, 5))
    seq_len: int | None = draw(st.none() | st.integers(1, 8))
    if draw(st.booleans()):
        count = 1 if unbatched else batch or draw(st.integers(1, 4))
        lengths = tuple(draw(st.lists(st.integers(1, seq_len or 8), min_size=count, max_size=count)))
    return Case(
        cell,
        hidden=hidden,
        inputs=draw(st.integers(1, 7)),
        layers=draw(st.integers(1, 3)),
        bi=bi,
        bias=draw(st.booleans()),
        proj=draw(st.integers(0, hidden - 1)) if cell == "lstm" else 0,
        reset_after=draw(st.booleans()) if cell == "gru" else True,
        merge=draw(st.sampled_from(["concat", "sum", "mul", "ave"])) if bi else "concat",
        batch=batch,
        seq_len=seq_len,
        unbatched=unbatched,
        lengths=lengths,
    )


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(case=cases())
def test_every_flop_cell_matches_the_hand_formula_for_drawn_cases(case: Case) -> None:
    from rnncalc.cli import cli

    check_every_cell(lambda *args: CliRunner().invoke(cli, list(args)), case)
