"""``rnncalc explain``: the equations and every number, checked against closed forms written
here independently of the calculator, and the rendered text and markdown."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner

from rnncalc.analysis import analyze
from rnncalc.cli import cli
from rnncalc.core.errors import SpecError
from rnncalc.core.spec import spec_from_mapping
from rnncalc.explain.model import Equations, Section, Table, cell_equations, explain, explain_analysis
from rnncalc.explain.render import to_markdown, to_text


def text_of(**fields: Any) -> str:
    return to_text(explain(fields))


def section(text: str, title: str) -> str:
    """The body of the plain-text section whose heading starts with ``title``."""
    match = re.search(rf"^{re.escape(title)}[^\n]*\n-+\n(.*?)(?=^\S[^\n]*\n[-=]+\n|\Z)", text, re.S | re.M)
    assert match, f"no section {title!r}"
    return match.group(1)


def n(value: int) -> str:
    return f"{value:,}"


# --- Closed forms, independent of the calculator ------------------------------------------------


def keras_single(cell: str, i: int, h: int, d: int, bias: bool = True, reset_after: bool = True) -> int:
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    vectors = (2 if cell == "gru" and reset_after else 1) if bias else 0
    return gates * h * (i + h + vectors) * d


def torch_single(cell: str, i: int, h: int, d: int, bias: bool = True) -> int:
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    return gates * h * (i + h + (2 if bias else 0)) * d


# --- The example from the issue ------------------------------------------------------------------


def test_bidirectional_rnn_5_to_8_shows_each_weight_the_sums_and_the_16_bias_difference() -> None:
    text = text_of(cell="rnn", input_size=5, hidden_size=8, bidirectional=True)
    equations = section(text, "The equations")
    assert "h_t = tanh(W_x x_t + W_h h_{t-1} + b)" in equations
    assert re.search(r"W_x\s+\(8, 5\)\s+40\b", equations)
    assert re.search(r"W_h\s+\(8, 8\)\s+64\b", equations)
    assert re.search(r"\bb\s+\(8,\)\s+8\b", equations)
    assert "40 + 64 + 8 = 112 per direction; both directions 224" in section(text, "Keras 3")
    assert "40 + 64 + 8 + 8 = 120 per direction; both directions 240" in section(text, "PyTorch: nn.RNN")
    assert "Total: 224." in section(text, "Keras 3")
    assert "Total: 240." in section(text, "PyTorch: nn.RNN")
    versus = " ".join(section(text, "PyTorch vs Keras").split())
    assert "PyTorch 240, Keras 224: PyTorch has 16 more." in versus
    assert "bias_ih, bias_hh" in versus


# --- Totals and differences against closed forms --------------------------------------------------

SINGLE = [
    ("rnn", 5, 8, False, True, True),
    ("rnn", 5, 8, True, True, True),
    ("rnn", 7, 3, True, False, True),
    ("lstm", 300, 512, False, True, True),
    ("lstm", 5, 8, True, True, True),
    ("lstm", 6, 4, False, False, True),
    ("gru", 10, 3, False, True, True),
    ("gru", 10, 3, True, True, True),
    ("gru", 10, 3, True, False, True),
]


@pytest.mark.parametrize(("cell", "i", "h", "bi", "bias", "reset_after"), SINGLE)
def test_each_frameworks_total_and_the_difference_match_the_closed_forms(
    cell: str, i: int, h: int, bi: bool, bias: bool, reset_after: bool
) -> None:
    d = 2 if bi else 1
    text = text_of(
        cell=cell, input_size=i, hidden_size=h, bidirectional=bi, bias=bias, reset_after=reset_after
    )
    keras, torch = keras_single(cell, i, h, d, bias, reset_after), torch_single(cell, i, h, d, bias)
    assert f"Total: {n(keras)}." in section(text, "Keras 3")
    assert f"Total: {n(torch)}." in section(text, "PyTorch: nn.")
    versus = " ".join(section(text, "PyTorch vs Keras").split())
    if torch == keras:
        assert f"PyTorch {n(torch)}, Keras {n(keras)}. Same total" in versus
    else:
        assert f"PyTorch {n(torch)}, Keras {n(keras)}: PyTorch has {n(torch - keras)} more." in versus


def test_gru_without_reset_after_is_explained_by_keras_alone() -> None:
    text = text_of(cell="gru", input_size=10, hidden_size=3, reset_after=False)
    assert f"Total: {n(keras_single('gru', 10, 3, 1, reset_after=False))}." in section(text, "Keras 3")
    assert "Cannot build this model" in section(text, "PyTorch: nn.GRU")
    assert "Only Keras 3 can build this model (126 parameters)" in " ".join(text.split())  # 3*3*(10+3+1)


def test_stacked_bidirectional_lstm_feeds_layer_1_with_directions_times_hidden() -> None:
    i, h = 5, 8
    text = text_of(cell="lstm", input_size=i, hidden_size=h, num_layers=2, bidirectional=True)
    layer0_torch = 4 * h * (i + h + 2) * 2
    layer1_torch = 4 * h * (2 * h + h + 2) * 2
    layer0_keras = 4 * h * (i + h + 1) * 2
    layer1_keras = 4 * h * (2 * h + h + 1) * 2
    stacked = " ".join(section(text, "Stacked layers").split())
    assert "layer 1's input has 16 features (2 directions × hidden_size, concatenated)" in stacked
    assert f"weight_ih_l1 are (32, 16) = {4 * h * 2 * h}" in stacked
    assert f"kernel are (16, 32) = {4 * h * 2 * h}" in stacked
    torch = section(text, "PyTorch: nn.LSTM")
    keras = section(text, "Keras 3")
    assert f"Total: {n(layer0_torch)} + {n(layer1_torch)} = {n(layer0_torch + layer1_torch)}." in torch
    assert f"Total: {n(layer0_keras)} + {n(layer1_keras)} = {n(layer0_keras + layer1_keras)}." in keras


def test_keras_merge_mode_sum_hands_the_next_layer_hidden_size_features() -> None:
    text = text_of(
        cell="gru", input_size=4, hidden_size=3, num_layers=2, bidirectional=True, merge_mode="sum"
    )
    stacked = " ".join(section(text, "Stacked layers").split())
    assert "layer 1's input has 3 features (merge_mode='sum' combines the 2 directions" in stacked
    assert "adds the two outputs element by element" in " ".join(section(text, "Two directions").split())
    assert "PyTorch always concatenates" in section(text, "PyTorch: nn.GRU")


def test_lstm_projection_equation_sizes_and_pytorch_only_total() -> None:
    i, h, p = 5, 6, 3
    text = text_of(cell="lstm", input_size=i, hidden_size=h, proj_size=p)
    assert "h_t = W_hr (o_t * tanh(c_t))" in text
    assert re.search(rf"W_hr\s+\({p}, {h}\)\s+{p * h}\b", section(text, "The equations"))
    torch = 4 * h * (i + p + 2) + p * h
    assert f"Total: {torch}." in section(text, "PyTorch: nn.LSTM")
    assert "Keras LSTM has no projection" in section(text, "Keras 3")


def test_unknown_input_size_gives_formulas_in_i() -> None:
    text = text_of(cell="rnn", hidden_size=8)
    assert re.search(r"W_x\s+\(8, I\)\s+8\*I\b", section(text, "The equations"))
    assert "Total: 8*I + 80." in section(text, "PyTorch: nn.RNN")  # 8I + 64 + 2*8
    assert "Total: 8*I + 72." in section(text, "Keras 3")  # 8I + 64 + 8
    assert "formulas in I" in " ".join(text.split())


# --- Equations ------------------------------------------------------------------------------------


def test_lstm_equations_have_the_four_gates_the_cell_state_and_the_output() -> None:
    lines = cell_equations(spec_from_mapping({"cell": "lstm", "hidden_size": 4}))
    assert [line.split(" = ")[0] for line in lines] == ["i_t", "f_t", "g_t", "o_t", "c_t", "h_t"]
    assert lines[2] == "g_t = tanh(W_xg x_t + W_hg h_{t-1} + b_g)"
    assert lines[4] == "c_t = f_t * c_{t-1} + i_t * g_t"
    assert lines[5] == "h_t = o_t * tanh(c_t)"


def test_gru_reset_after_applies_r_to_the_recurrent_product_and_keeps_two_biases() -> None:
    after = cell_equations(spec_from_mapping({"cell": "gru", "hidden_size": 4}))
    before = cell_equations(spec_from_mapping({"cell": "gru", "hidden_size": 4, "reset_after": False}))
    assert "n_t = tanh(W_xn x_t + b_xn + r_t * (W_hn h_{t-1} + b_hn))" in after
    assert "n_t = tanh(W_xn x_t + W_hn (r_t * h_{t-1}) + b_n)" in before
    assert "h_t = (1 - z_t) * n_t + z_t * h_{t-1}" in after


def test_relu_rnn_and_bias_free_cells_change_the_equations() -> None:
    relu = cell_equations(spec_from_mapping({"cell": "rnn", "hidden_size": 4, "nonlinearity": "relu"}))
    assert relu == ("h_t = relu(W_x x_t + W_h h_{t-1} + b)",)
    for cell in ("rnn", "lstm", "gru"):
        lines = cell_equations(spec_from_mapping({"cell": cell, "hidden_size": 4, "bias": False}))
        assert not any(" + b" in line for line in lines)


def test_gate_order_of_each_framework_is_named() -> None:
    lstm = " ".join(text_of(cell="lstm", input_size=5, hidden_size=8).split())
    gru = " ".join(text_of(cell="gru", input_size=5, hidden_size=8).split())
    assert (
        "PyTorch stacks them in the order i, f, g, o; Keras in the order i, f, c, o, where its c is the g"
        in lstm
    )
    assert "PyTorch stacks them in the order r, z, n; Keras in the order z, r, h, where its h is the n" in gru


def test_explanation_takes_its_numbers_from_the_analysis_it_is_given() -> None:
    analysis = analyze({"cell": "rnn", "input_size": 5, "hidden_size": 8})
    torch = analysis.framework("torch")
    layer = torch.layers[0]
    doctored_row = layer.weights[0].replace(shape=(8, 99))
    doctored_layer = layer.replace(weights=(doctored_row, *layer.weights[1:]))
    doctored = analysis.replace(
        frameworks=(torch.replace(layers=(doctored_layer,)), *analysis.frameworks[1:])
    )
    text = to_text(explain_analysis(doctored))
    assert re.search(r"W_x\s+\(8, 99\)\s+792\b", section(text, "The equations"))
    assert "Total: 872." in section(text, "PyTorch: nn.RNN")  # 792 + 64 + 8 + 8


# --- Keras 2 spellings ----------------------------------------------------------------------------


def test_keras_2_spelling_is_mentioned_with_this_models_numbers_and_the_keras_3_form() -> None:
    text = " ".join(text_of(cell="rnn", input_size=10, hidden_size=3, seq_len=2, batch_size=8).split())
    assert "SimpleRNN(3, input_length=2, input_dim=10)" in text
    assert "SimpleRNN(3, batch_input_shape=(8, 2, 10))" in text
    assert "Unrecognized keyword arguments passed to SimpleRNN" in text
    assert "keras.Input(shape=(2, 10))" in text
    assert "keras.Input(batch_shape=(8, 2, 10))" in text


@pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`/`input_dim`:UserWarning")
def test_keras_3_really_rejects_the_keras_2_spellings_with_the_quoted_message() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    keras = pytest.importorskip("keras")
    text = " ".join(text_of(cell="rnn", input_size=10, hidden_size=3, seq_len=2, batch_size=8).split())
    for kwargs in ({"input_length": 2, "input_dim": 10}, {"batch_input_shape": (8, 2, 10)}):
        with pytest.raises(ValueError, match="Unrecognized keyword arguments passed to SimpleRNN") as caught:
            keras.layers.SimpleRNN(3, **kwargs)
        first_key = str(caught.value).split("{")[1].split(":")[0]
        assert first_key in text


# --- Rendering -----------------------------------------------------------------------------------

GRID: list[dict[str, Any]] = [
    {"cell": "rnn", "input_size": 5, "hidden_size": 8, "bidirectional": True},
    {"cell": "rnn", "hidden_size": 64, "nonlinearity": "relu", "num_layers": 3},
    {"cell": "lstm", "input_size": 300, "hidden_size": 512, "num_layers": 2, "bidirectional": True},
    {
        "cell": "lstm",
        "input_size": 300,
        "hidden_size": 512,
        "proj_size": 128,
        "batch_size": 32,
        "seq_len": 100,
    },
    {"cell": "gru", "input_size": 10, "hidden_size": 3, "reset_after": False, "bias": False},
    {"cell": "gru", "hidden_size": 256, "num_layers": 2, "bidirectional": True, "merge_mode": "ave"},
    {"cell": "gru", "input_size": 4, "hidden_size": 3, "bidirectional": True, "merge_mode": "none"},
    {"cell": "lstm", "input_size": 3, "hidden_size": 4, "unbatched": True},
]


@pytest.mark.parametrize("fields", GRID)
def test_plain_text_fits_80_columns(fields: dict[str, Any]) -> None:
    for line in to_text(explain(fields)).splitlines():
        assert len(line) <= 80, line


@pytest.mark.parametrize("fields", GRID)
def test_markdown_is_well_formed(fields: dict[str, Any]) -> None:
    markdown = to_markdown(explain(fields))
    assert "$" not in markdown  # no LaTeX
    assert markdown.startswith("## ")
    assert markdown.count("```") % 2 == 0
    lines = markdown.splitlines()
    in_fence = False
    for index, line in enumerate(lines):
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if line.startswith("|"):
            columns = line.count("|") - line.count(r"\|")
            header = index == 0 or not lines[index - 1].startswith("|")
            if header:
                separator = lines[index + 1]
                assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", separator), separator
                assert separator.count("|") == columns
            assert columns == line.count("|") - line.count(r"\|")
            assert line.endswith("|")
        # Emphasis characters outside code spans are escaped.
        outside = "".join(re.split(r"`[^`]*`", line))
        assert not re.search(r"(?<!\\)\*", outside), line


def every_valid_spec() -> list[dict[str, Any]]:
    """Every combination of the fields explain talks about that makes a valid spec."""
    specs = []
    for cell, bi, layers, bias, merge, proj, reset_after, input_size, unbatched in itertools.product(
        ("rnn", "lstm", "gru"),
        (False, True),
        (1, 3),
        (True, False),
        ("concat", "sum", "none"),
        (0, 5),
        (True, False),
        (None, 700),
        (False, True),
    ):
        fields = {
            "cell": cell, "hidden_size": 1024, "bidirectional": bi, "num_layers": layers, "bias": bias,
            "merge_mode": merge, "proj_size": proj, "reset_after": reset_after, "input_size": input_size,
            "unbatched": unbatched,
        }  # fmt: skip
        try:
            spec_from_mapping(fields)
        except SpecError:
            continue
        specs.append(fields)
    return specs


@pytest.mark.parametrize("names", [None, ["torch", "keras", "flax", "onnx"], ["flax"]])
def test_every_valid_combination_renders_in_both_formats_within_80_columns(names: list[str] | None) -> None:
    specs = every_valid_spec()
    assert len(specs) > 100
    for fields in specs:
        explanation = explain(fields, names)
        assert to_markdown(explanation).startswith("## ")
        for line in to_text(explanation).splitlines():
            assert len(line) <= 80, (fields, line)


def test_every_table_row_has_as_many_cells_as_its_header() -> None:
    for fields in GRID:
        for sec in explain(fields).sections:
            assert isinstance(sec, Section)
            for block in sec.blocks:
                if isinstance(block, Table):
                    assert all(len(row) == len(block.headers) for row in block.rows)
                if isinstance(block, Equations):
                    assert block.lines


# --- The command ---------------------------------------------------------------------------------


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_explain_command_prints_text_by_default_and_markdown_on_request() -> None:
    text = invoke("explain", "--cell", "rnn", "-i", "5", "-H", "8", "--bi")
    markdown = invoke("explain", "--cell", "rnn", "-i", "5", "-H", "8", "--bi", "--format", "markdown")
    assert text.exit_code == 0 and markdown.exit_code == 0
    assert text.output.startswith("rnn, input 5, hidden 8, 1 layer, bidirectional\n====")
    assert markdown.output.startswith("## rnn, input 5, hidden 8, 1 layer, bidirectional")
    assert "| symbol" in markdown.output


def test_explain_code_appends_both_snippets_and_markdown_fences_them() -> None:
    result = invoke("explain", "-c", "gru", "-i", "4", "-H", "3", "--code", "-f", "markdown")
    assert result.exit_code == 0
    assert "### PyTorch code\n\n```python\n" in result.output
    assert "### Keras 3 code\n\n```python\n" in result.output
    assert "nn.GRU(" in result.output and "keras.layers.GRU(" in result.output


def test_code_command_prints_only_the_requested_framework() -> None:
    keras = invoke("code", "-c", "lstm", "-i", "5", "-H", "8", "--framework", "keras")
    both = invoke("code", "-c", "lstm", "-i", "5", "-H", "8")
    assert keras.exit_code == 0 and both.exit_code == 0
    assert keras.output.startswith('"""Keras 3: lstm')
    assert "nn.LSTM" not in keras.output
    assert both.output.index("nn.LSTM(") < both.output.index("keras.layers.LSTM(")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["code", "-c", "rnn", "-H", "8"], "rnncalc: error: --input: is required to write code"),
        (["explain", "-c", "rnn", "-H", "8", "--code"], "rnncalc: error: --input: is required to write code"),
        (["explain", "-H", "8"], "rnncalc: error: --cell is required"),
        (
            ["explain", "-c", "gru", "-H", "8", "--proj-size", "2"],
            "rnncalc: error: --proj-size: applies to lstm",
        ),
        (["code", "-c", "rnn", "-i", "3", "-H", "8", "--framework", "jax"], "rnncalc: error: Invalid value"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(args: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "rnncalc", *args], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(message)
    assert len(done.stderr.strip().splitlines()) == 1


def test_explain_and_code_import_no_framework_and_no_numpy() -> None:
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from rnncalc.cli import cli\n"
        "for args in (['explain', '-c', 'lstm', '-i', '5', '-H', '8', '--code', '-f', 'markdown'],\n"
        "             ['code', '-c', 'gru', '-i', '5', '-H', '8']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0\n"
        "heavy = {'torch', 'tensorflow', 'keras', 'numpy'} & {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- Golden files ---------------------------------------------------------------------------------

GOLDEN_CASES: dict[str, list[str]] = {
    "rnn_bi": ["--cell", "rnn", "-i", "5", "-H", "8", "--bi"],
    "lstm_2_layers_bi_proj": [
        "--cell",
        "lstm",
        "-i",
        "300",
        "-H",
        "512",
        "-l",
        "2",
        "--bi",
        "--proj-size",
        "128",
    ],
    "gru_no_reset_after_batch": [
        "--cell",
        "gru",
        "-i",
        "10",
        "-H",
        "3",
        "--no-reset-after",
        "-b",
        "8",
        "-t",
        "2",
    ],
    "gru_unknown_input_markdown": ["--cell", "gru", "-H", "3", "-l", "2", "--format", "markdown"],
}


@pytest.mark.parametrize("name", list(GOLDEN_CASES))
def test_explain_output_matches_its_golden_file(name: str, golden: Callable[[str, str], None]) -> None:
    result = invoke("explain", *GOLDEN_CASES[name])
    assert result.exit_code == 0, result.output
    golden(f"explain/{name}.txt", result.output)
