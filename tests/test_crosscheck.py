"""crosscheck() and the check model against the real frameworks, with closed-form numbers."""

from __future__ import annotations

import pytest

from rnncalc import frameworks as backends
from rnncalc.analysis import analyze
from rnncalc.check.crosscheck import RowKind, crosscheck
from rnncalc.check.model import (
    CheckTarget,
    Expectations,
    FrameworkExpectation,
    Status,
    evaluate,
)
from rnncalc.core.errors import SpecError
from rnncalc.core.spec import spec_from_mapping

TORCH = "torch"
KERAS = "keras"


def lstm_torch_params(i: int, h: int) -> int:
    """nn.LSTM, one layer, one direction: 4 gates × (W_ih + W_hh + b_ih + b_hh)."""
    return 4 * (h * i + h * h + 2 * h)


def test_real_torch_lstm_agrees_with_analysis_on_every_row() -> None:
    spec = spec_from_mapping({"cell": "lstm", "input_size": 5, "hidden_size": 8})
    measured = backends.measure(spec, TORCH)
    check = crosscheck(analyze(measured.probe).framework(TORCH), measured)
    assert check.ok
    rows = {row.item: row for row in check.rows}
    assert rows["total params"].real == lstm_torch_params(5, 8) == 480
    assert rows["weight_ih_l0"].real == (32, 5)
    # probe: seq 3, batch 2 (batch_first=False → (L, N, H))
    assert rows["output"].real == (3, 2, 8)
    assert rows["c_n"].real == (1, 2, 8)
    assert [row.kind for row in check.rows].count(RowKind.WEIGHT) == 4


def test_a_real_model_of_a_different_hidden_size_names_every_differing_row() -> None:
    real_spec = spec_from_mapping({"cell": "lstm", "input_size": 5, "hidden_size": 9, "batch_size": 2})
    measured = backends.measure(real_spec, TORCH)
    analytic = analyze(measured.probe.replace(hidden_size=8))
    check = crosscheck(analytic.framework(TORCH), measured)
    assert not check.ok
    differing = {row.item: (row.analytic, row.real) for row in check.differing}
    assert differing == {
        "total params": (lstm_torch_params(5, 8), lstm_torch_params(5, 9)),
        "weight_ih_l0": ((32, 5), (36, 5)),
        "weight_hh_l0": ((32, 8), (36, 9)),
        "bias_ih_l0": ((32,), (36,)),
        "bias_hh_l0": ((32,), (36,)),
        "output": ((3, 2, 8), (3, 2, 9)),
        "h_n": ((1, 2, 8), (1, 2, 9)),
        "c_n": ((1, 2, 8), (1, 2, 9)),
    }
    assert "weight_hh_l0: analytic (32, 8), real (36, 9)" in [row.describe() for row in check.differing]


def test_a_tensor_present_on_one_side_only_is_a_row_with_a_missing_value() -> None:
    with_bias = spec_from_mapping({"cell": "gru", "input_size": 4, "hidden_size": 3})
    measured = backends.measure(with_bias.replace(bias=False), KERAS)
    check = crosscheck(analyze(measured.probe.replace(bias=True)).framework(KERAS), measured)
    missing = [row for row in check.differing if row.kind is RowKind.WEIGHT]
    assert [(row.item, row.analytic, row.real) for row in missing] == [("gru/gru_cell/bias", (2, 9), None)]
    # Keras GRU reset_after: 3 gates × (I*H + H*H) + bias (2, 3H) = 3*(12 + 9) + 18
    assert check.rows[0].analytic == 81 and check.rows[0].real == 63


def test_real_keras_bidirectional_gru_with_states_agrees_with_analysis() -> None:
    spec = spec_from_mapping(
        {"cell": "gru", "input_size": 10, "hidden_size": 3, "bidirectional": True, "return_state": True}
    )
    measured = backends.measure(spec, KERAS)
    check = crosscheck(analyze(measured.probe).framework(KERAS), measured)
    assert check.ok, [row.describe() for row in check.differing]
    # 2 directions × (3*(10*3 + 3*3) + 2*9) = 2 * 135
    assert measured.total_params == 270
    assert dict(measured.outputs) == {
        "output": (2, 6),
        "forward_state_h": (2, 3),
        "backward_state_h": (2, 3),
    }


def test_comparing_reports_of_different_frameworks_is_refused() -> None:
    spec = spec_from_mapping({"cell": "rnn", "input_size": 2, "hidden_size": 2})
    measured = backends.measure(spec, TORCH)
    with pytest.raises(ValueError, match="cannot compare a keras report"):
        crosscheck(analyze(measured.probe).framework(KERAS), measured)


def test_meta_device_checks_a_model_of_terabytes_in_no_memory() -> None:
    spec = spec_from_mapping(
        {
            "cell": "lstm",
            "input_size": 100_000,
            "hidden_size": 100_000,
            "num_layers": 4,
            "bidirectional": True,
        }
    )
    measured = backends.measure(spec, TORCH, device="meta")
    h = 100_000
    per_direction = lstm_torch_params(h, h) * 1 + 3 * lstm_torch_params(2 * h, h)
    assert measured.total_params == 2 * per_direction == 880_006_400_000
    assert measured.device == "meta" and measured.outputs_checked
    check = crosscheck(analyze(measured.probe).framework(TORCH), measured)
    assert check.ok and check.device == "meta"
    assert dict(measured.outputs)["output"] == (3, 2, 2 * h)


# --- the check model, judged analytically -----------------------------------------------------


def rnn_bi_target(expect: Expectations) -> CheckTarget:
    spec = spec_from_mapping({"cell": "rnn", "input_size": 5, "hidden_size": 8, "bidirectional": True})
    return CheckTarget("rnn", spec, "models/rnn.yaml:1", expect)


def test_a_budget_between_keras_224_and_torch_240_fails_torch_only() -> None:
    target = rnn_bi_target(Expectations.budget(230))
    result = evaluate(target, analyze(target.spec, ("torch", "keras")).frameworks)
    assert result.framework(TORCH).status is Status.OVER_BUDGET
    assert result.framework(KERAS).status is Status.OK
    assert result.failures() == ["torch: over budget: params 240 > max_params 230 (+10)"]


def test_exact_params_and_output_shapes_are_judged_with_none_matching_any_size() -> None:
    expect = Expectations(
        {
            KERAS: FrameworkExpectation(params=224, outputs={"output": (None, 16)}),
            TORCH: FrameworkExpectation(params=224, outputs={"h_n": (2, None, 9), "hidden": (1,)}),
        }
    )
    target = rnn_bi_target(expect)
    result = evaluate(target, analyze(target.spec).frameworks)
    assert result.framework(KERAS).status is Status.OK
    assert result.failures() == [
        "torch: mismatch: params 240, expected 224 (+16)",
        "torch: mismatch: output h_n (2, None, 8), expected (2, None, 9)",
        "torch: mismatch: no output named 'hidden'; outputs are output, h_n",
    ]


def test_an_expectation_a_framework_cannot_express_is_not_a_failure() -> None:
    spec = spec_from_mapping({"cell": "lstm", "input_size": 5, "hidden_size": 8, "proj_size": 4})
    target = CheckTarget("proj", spec, None, Expectations.budget(10))
    result = evaluate(target, analyze(spec).frameworks)
    assert result.framework(KERAS).status is Status.NOT_EXPRESSIBLE
    assert result.framework(TORCH).status is Status.OVER_BUDGET
    assert [line.split(":")[0] for line in result.failures()] == ["torch"]


def test_budgets_merge_to_the_tighter_one_and_exact_values_override() -> None:
    file_expect = Expectations({TORCH: FrameworkExpectation(params=5, max_params=100)})
    merged = file_expect.merged(Expectations.budget(50))
    assert merged.for_framework(TORCH) == FrameworkExpectation(params=5, max_params=50)
    assert merged.for_framework(KERAS) == FrameworkExpectation(max_params=50)
    assert Expectations.budget(200).merged(file_expect).for_framework(TORCH).max_params == 100


def test_a_parameter_expectation_needs_a_known_input_size() -> None:
    spec = spec_from_mapping({"cell": "gru", "hidden_size": 8})
    with pytest.raises(SpecError, match="input_size"):
        evaluate(CheckTarget("g", spec, None, Expectations.budget(10)), analyze(spec).frameworks)


def test_without_a_meta_forward_pass_only_parameters_are_compared_and_the_note_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rnncalc.frameworks import torch as torch_adapter

    def no_meta_kernel(module: object, spec: object) -> None:
        raise NotImplementedError("Could not run 'aten::_lstm' with arguments from the 'Meta' backend")

    monkeypatch.setattr(torch_adapter, "forward_shapes", no_meta_kernel)
    spec = spec_from_mapping({"cell": "lstm", "input_size": 3, "hidden_size": 4})
    measured = backends.measure(spec, TORCH, device="meta")
    check = crosscheck(analyze(measured.probe).framework(TORCH), measured)
    assert check.ok and check.note is not None and "output shapes not checked" in check.note
    assert {row.kind for row in check.rows} == {RowKind.PARAMS, RowKind.WEIGHT}
    assert check.rows[0].real == lstm_torch_params(3, 4) == 144
    with pytest.raises(NotImplementedError):  # on the CPU a failing forward pass is not hidden
        backends.measure(spec, TORCH)


def test_the_expect_block_of_issue_3s_example_file_is_read() -> None:
    import yaml

    from rnncalc.check.model import expectations_from_mapping

    block = yaml.safe_load(
        """
        keras: {params: 1234567}          # exact expectation
        torch: {max_params: 2_000_000}    # budget
        outputs: {keras: {output: [null, 10]}}
        max_params: 3M
        """
    )
    expect = expectations_from_mapping(block)
    assert expect.for_framework(KERAS) == FrameworkExpectation(
        params=1_234_567, max_params=3_000_000, outputs={"output": (None, 10)}
    )
    assert expect.for_framework(TORCH) == FrameworkExpectation(max_params=2_000_000)


@pytest.mark.parametrize(
    ("block", "field", "text"),
    [
        ({"keras": {"parms": 5}}, "expect.keras.parms", "did you mean 'params'"),
        ({"jax": {"params": 5}}, "expect.jax", "unknown key"),
        ({"outputs": {"keras": {"output": "10"}}}, "expect.outputs.keras.output", "must be a shape"),
        ({"torch": {"max_params": "lots"}}, "expect.torch.max_params", "cannot read 'lots' as a count"),
        ({"outputs": {"kears": {}}}, "expect.outputs.kears", "did you mean 'keras'"),
    ],
)
def test_a_bad_expect_block_names_the_key_path(block: dict[str, object], field: str, text: str) -> None:
    from rnncalc.check.model import expectations_from_mapping

    with pytest.raises(SpecError) as error:
        expectations_from_mapping(block)
    assert error.value.field == field and text in error.value.message
