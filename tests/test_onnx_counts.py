"""ONNX's counts against formulas written out by hand from the operator spec (W, R, B shapes),
and what ONNX cannot hold. Analytic: needs neither onnx nor onnxruntime."""

from __future__ import annotations

import pytest

from rnncalc.core.model import Dense, Embedding, Model
from rnncalc.core.spec import Cell, MergeMode, Nonlinearity, Spec
from rnncalc.core.symbolic import INPUT, Count
from rnncalc.frameworks.onnx import CONVENTION as ONNX


def test_a_one_layer_lstm_holds_w_r_and_b_with_both_bias_vectors() -> None:
    # W [1, 4H, I] + R [1, 4H, H] + B [1, 8H] with I=10, H=20.
    spec = Spec(cell=Cell.LSTM, input_size=10, hidden_size=20)
    assert ONNX.report(spec).total == Count(0, 4 * 20 * 10 + 4 * 20 * 20 + 8 * 20)
    assert [(w.path, w.shape) for w in ONNX.report(spec).weights] == [
        ("lstm_0.W", (1, 80, 10)),
        ("lstm_0.R", (1, 80, 20)),
        ("lstm_0.B", (1, 160)),
    ]


def test_a_bidirectional_two_layer_gru_reads_both_directions_in_the_second_layer() -> None:
    # Per direction: 3H*in + 3H*H + 6H; layer 1's input is 2H. Two directions each.
    i, h = 7, 4
    expected = 2 * (3 * h * i + 3 * h * h + 6 * h) + 2 * (3 * h * 2 * h + 3 * h * h + 6 * h)
    spec = Spec(cell=Cell.GRU, input_size=i, hidden_size=h, num_layers=2, bidirectional=True)
    assert ONNX.report(spec).total == Count(0, expected)
    assert ONNX.totals(spec).total == Count(0, expected)


def test_a_gru_without_linear_before_reset_still_keeps_the_recurrent_bias() -> None:
    # Keras reset_after=False keeps 3H*(I+H) + 3H; ONNX linear_before_reset=0 adds Rb: 6H.
    spec = Spec(cell=Cell.GRU, input_size=5, hidden_size=3, reset_after=False)
    assert ONNX.report(spec).total == Count(0, 9 * 5 + 9 * 3 + 18)
    assert ONNX.report(spec).model == "GRU (linear_before_reset=0)"


def test_an_rnn_without_bias_has_no_b_initializer() -> None:
    spec = Spec(cell=Cell.RNN, input_size=6, hidden_size=5, bias=False, nonlinearity=Nonlinearity.RELU)
    report = ONNX.report(spec)
    assert [w.name for w in report.weights] == ["W", "R"]
    assert report.total == Count(0, 5 * 6 + 5 * 5)


def test_an_unknown_input_size_leaves_a_formula_in_i() -> None:
    # Layer 0: 4H*I + 4H*H + 8H with H=3; layer 1 reads H=3 features: 4H*3 + 4H*H + 8H.
    spec = Spec(cell=Cell.LSTM, hidden_size=3, num_layers=2)
    report = ONNX.report(spec)
    assert report.total == Count(12, 12 * 3 + 24 + 12 * 3 + 12 * 3 + 24)
    assert report.weights[0].shape == (1, 12, INPUT)
    assert ONNX.totals(spec).total == report.total


def test_outputs_keep_the_directions_on_their_own_axis_and_stack_every_layers_states() -> None:
    spec = Spec(cell=Cell.LSTM, input_size=3, hidden_size=5, num_layers=3, bidirectional=True, seq_len=7)
    assert ONNX.report(spec).outputs == (("Y", (7, 2, None, 5)), ("Y_h", (6, None, 5)), ("Y_c", (6, None, 5)))


def test_batch_first_outputs_have_layout_1_shapes() -> None:
    spec = Spec(cell=Cell.GRU, input_size=3, hidden_size=5, batch_first=True, batch_size=4, seq_len=7)
    assert ONNX.report(spec).outputs == (("Y", (4, 7, 1, 5)), ("Y_h", (4, 1, 5)))


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (Spec(cell=Cell.LSTM, input_size=3, hidden_size=5, proj_size=2), "no projection"),
        (Spec(cell=Cell.LSTM, input_size=3, hidden_size=5, unbatched=True), "batch axis"),
        (
            Spec(cell=Cell.GRU, input_size=3, hidden_size=5, bidirectional=True, merge_mode=MergeMode.SUM),
            "merge_mode sum",
        ),
    ],
    ids=["projection", "unbatched", "merge_sum"],
)
def test_what_onnx_cannot_hold_gets_a_reason_and_no_weights(spec: Spec, words: str) -> None:
    report = ONNX.report(spec)
    assert report.reason is not None and words in report.reason
    assert report.weights == ()
    assert ONNX.totals(spec).reason == report.reason


def test_a_model_counts_gather_operators_and_matmul_heads() -> None:
    # Embedding 100x8; LSTM 8->6: 24*8 + 24*6 + 48; GRU 6->4 bidirectional: 2*(12*6 + 12*4 + 24);
    # dense 8->3 with bias: 8*3 + 3.
    model = Model(
        layers=(
            Spec(cell=Cell.LSTM, hidden_size=6),
            Spec(cell=Cell.GRU, hidden_size=4, bidirectional=True),
        ),
        embedding=Embedding(100, 8),
        dense=(Dense(3),),
    )
    report = ONNX.model_report(model)
    expected = 800 + (24 * 8 + 24 * 6 + 48) + 2 * (12 * 6 + 12 * 4 + 24) + (8 * 3 + 3)
    assert report.total == Count(0, expected)
    assert [w.path for w in report.weights][:1] == ["embedding.weight"]
    assert report.outputs == (("output", (None, None, 3)),)


def test_the_analytic_methods_import_no_numpy_onnx_or_onnxruntime() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from rnncalc.core.spec import Cell, Spec\n"
        "from rnncalc.frameworks.onnx import CONVENTION\n"
        "spec = Spec(cell=Cell.GRU, input_size=3, hidden_size=4, num_layers=2, bidirectional=True)\n"
        "CONVENTION.report(spec); CONVENTION.totals(spec); CONVENTION.snippet(spec)\n"
        "CONVENTION.explain_notes(spec); CONVENTION.is_installed()\n"
        "print(sorted(m for m in ('numpy', 'onnx', 'onnxruntime') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_notes_give_onnxs_gate_order_and_the_grus_recurrent_bias() -> None:
    notes = " ".join(ONNX.explain_notes(Spec(cell=Cell.GRU, input_size=3, hidden_size=4, reset_after=False)))
    assert "z, r, h" in notes and "linear_before_reset=1" in notes and "2*3*H" in notes
    assert "i, o, f, c" in " ".join(ONNX.explain_notes(Spec(cell=Cell.LSTM, input_size=3, hidden_size=4)))


def test_the_bias_note_names_both_vectors_of_b_even_for_a_gru_without_linear_before_reset() -> None:
    gru = Spec(cell=Cell.GRU, input_size=3, hidden_size=4, reset_after=False, bidirectional=True)
    assert "two bias vectors" in ONNX.bias_note(gru)
    # Two vectors of 3H per direction: B is [D, 2*3*H].
    assert ONNX.report(gru).weights[-1].shape == (2, 2 * 3 * 4)
    assert "no bias vector" in ONNX.bias_note(gru.replace(bias=False))
