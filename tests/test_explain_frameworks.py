"""``rnncalc explain`` for every cell × framework × direction count × format, through the
command: each framework's table lists the tensors it really holds (Flax's LSTM four per-gate
biases among them), with counts that equal closed forms written here and the real ``flax.nnx``
model's parameters."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result

from rnncalc.notebook import run_command

IN, H = 5, 8
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
TITLES = {"torch": "PyTorch", "keras": "Keras 3", "flax": "Flax NNX", "onnx": "ONNX"}


def direction_count(framework: str, cell: str) -> int:
    """One direction's parameters for input size IN, hidden size H, bias on, GRU reset_after (the default)."""
    g = GATES[cell]
    vectors = {"torch": 2, "onnx": 2, "flax": 1, "keras": 2 if cell == "gru" else 1}[framework]
    return g * H * (IN + H + vectors)


#: The symbols of one direction's bias tensors in each framework's table.
BIAS_SYMBOLS = {
    ("torch", "rnn"): ["b_x", "b_h"],
    ("torch", "lstm"): ["b_x", "b_h"],
    ("torch", "gru"): ["b_x", "b_h"],
    ("keras", "rnn"): ["b"],
    ("keras", "lstm"): ["b"],
    ("keras", "gru"): ["b_x; b_h"],
    ("flax", "rnn"): ["b"],
    ("flax", "lstm"): ["b_i", "b_f", "b_g", "b_o"],
    ("flax", "gru"): ["b"],
    ("onnx", "rnn"): ["b_x; b_h"],
    ("onnx", "lstm"): ["b_x; b_h"],
    ("onnx", "gru"): ["b_x; b_h"],
}


def table_rows(output: str, title: str, markdown: bool) -> list[tuple[str, str, tuple[int, ...], int]]:
    """``(weight, symbol, shape, params)`` of the table in the section headed ``title``."""
    if markdown:
        body = re.search(rf"^### {re.escape(title)}: [^\n]*\n(.*?)(?=^### |\Z)", output, re.S | re.M)
    else:
        body = re.search(
            rf"^{re.escape(title)}: [^\n]*\n-+\n(.*?)(?=^\S[^\n]*\n-+\n|\Z)", output, re.S | re.M
        )
    assert body, f"no section {title!r}"
    rows = []
    for line in body.group(1).splitlines():
        if markdown:
            cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        else:
            cells = re.split(r"\s{2,}", line.strip())
        if len(cells) >= 4 and cells[-1].isdigit() and cells[-2].startswith("("):
            weight, symbol, shape, params = cells[-4:]
            rows.append((weight, symbol, tuple(ast.literal_eval(shape)), int(params)))
    return rows


@pytest.mark.parametrize("fmt", ["text", "markdown"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("framework", ["torch", "keras", "flax", "onnx", "all"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_explain_lists_every_tensor_and_the_closed_form_total_in_each_framework(
    run_cli: Callable[..., Result], cell: str, framework: str, bidirectional: bool, fmt: str
) -> None:
    args = ["explain", "-c", cell, "-i", str(IN), "-H", str(H), "-F", framework, "-f", fmt]
    result = run_cli(*args, *(["--bi"] if bidirectional else []))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    directions = 2 if bidirectional else 1
    chosen = list(TITLES) if framework == "all" else [framework]
    for name in chosen:
        rows = table_rows(result.stdout, TITLES[name], fmt == "markdown")
        assert sum(params for *_, params in rows) == direction_count(name, cell) * directions
        assert all(params == _product(shape) for _, _, shape, params in rows)
        biases = [symbol for _, symbol, _, _ in rows if symbol.startswith("b")]
        # ONNX holds both directions in one B; the others hold each direction's own tensors.
        per_direction = BIAS_SYMBOLS[name, cell] * (1 if name == "onnx" else directions)
        assert biases == per_direction
        total = f"Total: {direction_count(name, cell) * directions:,}."
        assert total in result.stdout


def _product(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def test_flax_lstm_legend_names_its_four_gate_biases_and_the_notebook_magic_prints_them() -> None:
    shown = run_command(f"explain -c lstm -i {IN} -H {H} -F flax")
    assert shown.exit_code == 0 and shown.stderr == ""
    for gate in "ifgo":
        assert re.search(rf"^  b_{gate} +\({H},\) +{H}  bias of gate {gate}$", shown.stdout, re.M)
        assert re.search(
            rf"^  W_x{gate} +\({H}, {IN}\) +{H * IN}  input weights of gate {gate}$", shown.stdout, re.M
        )
    assert "Flax NNX keeps each gate's block as a tensor of its own: W_xi, W_xf, W_xg," in shown.stdout
    # PyTorch shown first: its stacked tensors illustrate the equation, Flax's own table follows.
    both = run_command(f"explain -c lstm -i {IN} -H {H} -F torch,flax -f markdown")
    assert both.exit_code == 0 and both.stderr == ""
    assert re.search(rf"^\| `b` +\| `\({4 * H},\)` +\| +{4 * H} \| bias +\|$", both.stdout, re.M)
    assert re.search(r"^\| +\| `hi.bias` +\| `b_i` +\|", both.stdout, re.M)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_flax_tables_are_the_real_nnx_models_parameters(
    run_cli: Callable[..., Result], cell: str, bidirectional: bool
) -> None:
    nnx = pytest.importorskip("flax.nnx")
    cells: dict[str, Any] = {"rnn": nnx.SimpleCell, "lstm": nnx.LSTMCell, "gru": nnx.GRUCell}

    def rnn(seed: int) -> Any:
        return nnx.RNN(cells[cell](IN, H, rngs=nnx.Rngs(seed)))

    model = nnx.Bidirectional(rnn(0), rnn(1)) if bidirectional else rnn(0)
    real = sorted(
        (".".join(str(key) for key in path[-2:]), tuple(leaf.value.shape))
        for path, leaf in nnx.to_flat_state(nnx.state(model, nnx.Param))
    )
    args = ["explain", "-c", cell, "-i", str(IN), "-H", str(H), "-F", "flax"]
    result = run_cli(*args, *(["--bi"] if bidirectional else []))
    assert result.exit_code == 0, result.stderr
    rows = table_rows(result.stdout, "Flax NNX", markdown=False)
    assert sorted((weight, shape) for weight, _, shape, _ in rows) == real
    assert f"Total: {sum(_product(shape) for _, shape in real):,}." in result.stdout
