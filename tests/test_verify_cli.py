"""``rnncalc verify`` end to end with the real frameworks, and its comparison logic."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from rnncalc import frameworks as backends
from rnncalc import reference
from rnncalc.cli import cli
from rnncalc.core.spec import Cell, Spec
from rnncalc.frameworks import adapter
from rnncalc.frameworks import torch as torch_adapter
from rnncalc.verify.model import Status
from rnncalc.verify.run import compare, random_input

TORCH = backends.get("torch")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["verify", *args])


def verify_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = invoke(*args, "--format", "json")
    return result.exit_code, json.loads(result.stdout)


def test_bidirectional_two_layer_lstm_agrees_with_both_frameworks_and_exits_0() -> None:
    result = invoke("--cell", "lstm", "-i", "5", "-H", "8", "-l", "2", "--bi", "--against", "torch,keras")
    assert result.exit_code == 0, result.output
    assert "OK: all 4 tensors agree" in result.stdout
    for name in ("output", "h_n", "c_n"):
        assert name in result.stdout


def test_json_reports_every_tensor_of_each_framework_with_its_difference() -> None:
    code, document = verify_json(
        "-c", "gru", "-i", "3", "-H", "4", "--bi", "--return-state", "--against", "torch,keras", "--seed", "7"
    )
    assert code == 0
    assert document["ok"] is True
    assert document["spec"]["batch_size"] == adapter.PROBE_BATCH
    assert document["spec"]["seq_len"] == adapter.PROBE_SEQ_LEN
    tensors = {f["framework"]: [t["name"] for t in f["tensors"]] for f in document["frameworks"]}
    assert tensors == {
        "torch": ["output", "h_n"],
        "keras": ["output", "forward_state_h", "backward_state_h"],
    }
    for framework in document["frameworks"]:
        assert framework["status"] == "agrees"
        for tensor in framework["tensors"]:
            assert 0 <= tensor["max_abs_diff"] <= 1e-5
            assert tensor["shape"] == tensor["reference_shape"]


def test_keras_only_variants_are_not_expressible_in_torch_and_still_exit_0() -> None:
    code, document = verify_json(
        "-c", "gru", "-i", "3", "-H", "4", "--no-reset-after", "--against", "torch,keras"
    )
    assert code == 0
    statuses = {f["framework"]: f["status"] for f in document["frameworks"]}
    assert statuses == {"torch": "not expressible", "keras": "agrees"}
    torch_note = document["frameworks"][0]["note"]
    assert "reset_after=False has no PyTorch equivalent" in torch_note


def test_projection_and_unbatched_run_in_torch_silently_and_are_not_expressible_in_keras() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = invoke(
            "-c", "lstm", "-i", "4", "-H", "5", "--proj-size", "2", "--unbatched", "-a", "torch,keras"
        )
    assert result.exit_code == 0, result.output
    assert "Keras 3 not expressible" in result.stdout
    assert [str(w.message) for w in caught] == []  # e.g. torch's oneDNN projection warning


def test_missing_input_size_exits_2_naming_the_input_flag() -> None:
    result = invoke("--cell", "rnn", "-H", "2", "--against", "torch")
    assert result.exit_code == 2
    assert result.stderr.strip() == "rnncalc: error: --input is required: verify runs real forward passes"
    assert result.stdout == ""


def test_against_none_exits_2_with_a_clear_message() -> None:
    result = invoke("--cell", "rnn", "-i", "2", "-H", "2", "--against", "none")
    assert result.exit_code == 2
    assert "--against none is not meaningful for verify" in result.stderr


def test_unknown_framework_exits_2_with_a_suggestion() -> None:
    result = invoke("--cell", "rnn", "-i", "2", "-H", "2", "--against", "torhc")
    assert result.exit_code == 2
    assert "unknown framework 'torhc' (did you mean 'torch'?)" in result.stderr


def test_a_framework_that_is_not_installed_is_skipped_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(type(backends.get("keras")), "is_installed", lambda self: False)
    result = invoke("-c", "rnn", "-i", "2", "-H", "3", "--against", "torch,keras")
    assert result.exit_code == 0, result.output
    assert (
        "Keras 3 skipped: not installed; install it with: pip install 'rnncalc[tensorflow]'" in result.stdout
    )
    assert "OK: all 2 tensors agree" in result.stdout


def test_require_turns_a_skipped_framework_into_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(type(backends.get("keras")), "is_installed", lambda self: False)
    code, document = verify_json("-c", "rnn", "-i", "2", "-H", "3", "--against", "torch,keras", "--require")
    assert code == 1
    assert [f["status"] for f in document["frameworks"]] == ["agrees", "skipped"]


def test_default_against_is_every_installed_framework(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(type(backends.get("keras")), "is_installed", lambda self: False)
    _, document = verify_json("-c", "rnn", "-i", "2", "-H", "3")
    assert [f["framework"] for f in document["frameworks"]] == ["torch"]


# --- The failing path: a perturbed reference must not agree ---------------------------------------


@pytest.fixture(scope="module")
def lstm_run() -> tuple[Spec, dict[str, Any], dict[str, Any], np.ndarray[Any, Any]]:
    spec = Spec(cell=Cell.LSTM, input_size=3, hidden_size=4, num_layers=2, batch_size=2, seq_len=4)
    x = random_input(spec, "torch", seed=0)
    module = torch_adapter.build_seeded(spec, 0)
    return spec, torch_adapter.weights_numpy(module), torch_adapter.run(module, spec, x), x


def test_comparison_agrees_for_the_true_weights(lstm_run: Any) -> None:
    spec, weights, real, x = lstm_run
    expected = TORCH.reference_forward(spec, TORCH.to_canonical(spec, weights), x)
    assert all(c.within for c in compare(real, expected, atol=1e-5))


def test_comparison_fails_when_one_reference_weight_is_perturbed(lstm_run: Any) -> None:
    spec, weights, real, x = lstm_run
    perturbed = dict(weights)
    perturbed["weight_hh_l1"] = weights["weight_hh_l1"].copy()
    perturbed["weight_hh_l1"][0, 0] += 1e-2
    expected = TORCH.reference_forward(spec, TORCH.to_canonical(spec, perturbed), x)
    comparisons = {c.name: c for c in compare(real, expected, atol=1e-5)}
    assert not comparisons["output"].within
    assert comparisons["output"].max_abs_diff is not None and comparisons["output"].max_abs_diff > 1e-5


def test_comparison_never_agrees_on_a_missing_tensor_or_a_shape_mismatch() -> None:
    real = {"output": np.zeros((2, 3)), "h_n": np.zeros((1, 3))}
    expected = {"output": np.zeros((3, 2)), "c_n": np.zeros((1, 3))}
    comparisons = {c.name: c for c in compare(real, expected, atol=1.0)}
    assert [name for name, c in comparisons.items() if c.within] == []
    assert comparisons["output"].max_abs_diff is None


def test_cli_exits_1_and_names_the_tensors_when_the_reference_weights_are_perturbed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    true_convert = type(TORCH).to_canonical

    def convert_then_perturb(self: Any, spec: Spec, weights: Any) -> reference.StackWeights:
        converted = true_convert(self, spec, weights)
        converted.layers[0][0].w_x[0, 0] += 0.5
        return converted

    monkeypatch.setattr(type(TORCH), "to_canonical", convert_then_perturb)
    result = invoke("-c", "gru", "-i", "3", "-H", "4", "--against", "torch")
    assert result.exit_code == 1
    assert "DIFFERS" in result.stdout
    assert "FAILED: 2 of 2 tensors differ beyond atol: PyTorch output, PyTorch h_n." in result.stdout


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        ([1.0, float("nan")], [1.0, 2.0]),  # NaN in the framework's output
        ([1.0, 2.0], [1.0, float("nan")]),  # NaN in the reference
        ([1.0, float("nan")], [1.0, float("nan")]),  # NaN in both, at the same place
        ([float("inf")], [float("inf")]),  # equal infinities
        ([0.0], [float("-inf")]),
    ],
)
def test_a_nan_or_an_infinity_in_either_output_never_agrees_whatever_the_tolerance(
    actual: list[float], expected: list[float]
) -> None:
    (comparison,) = compare({"output": np.array(actual)}, {"output": np.array(expected)}, atol=1e30)
    assert not comparison.within
    assert comparison.max_abs_diff is None


def test_cli_exits_1_when_the_reference_holds_a_nan(monkeypatch: pytest.MonkeyPatch) -> None:
    true_convert = type(TORCH).to_canonical

    def convert_then_spoil(self: Any, spec: Spec, weights: Any) -> reference.StackWeights:
        converted = true_convert(self, spec, weights)
        converted.layers[0][0].b_h[0] = np.nan
        return converted

    monkeypatch.setattr(type(TORCH), "to_canonical", convert_then_spoil)
    result = invoke("-c", "lstm", "-i", "3", "-H", "4", "--against", "torch", "--atol", "1e30")
    assert result.exit_code == 1
    assert "FAILED: 3 of 3 tensors differ beyond atol" in result.stdout
    document = json.loads(
        invoke("-c", "lstm", "-i", "3", "-H", "4", "--against", "torch", "-f", "json").stdout
    )
    assert document["ok"] is False
    assert [t["max_abs_diff"] for r in document["frameworks"] for t in r["tensors"]] == [None, None, None]


def test_status_of_a_perturbed_run_is_differs(monkeypatch: pytest.MonkeyPatch) -> None:
    from rnncalc.verify.run import verify

    true_forward = type(TORCH).reference_forward

    def forward_then_shift(*args: Any) -> dict[str, Any]:
        return {name: value + 1e-3 for name, value in true_forward(*args).items()}

    monkeypatch.setattr(type(TORCH), "reference_forward", forward_then_shift)
    result = verify(Spec(cell=Cell.RNN, input_size=2, hidden_size=2), ["torch"], atol=1e-4)
    assert result.results[0].status is Status.DIFFERS
    assert not result.ok


# --- Process-level behaviour ---------------------------------------------------------------------


def test_verify_writes_nothing_to_stderr_even_with_both_frameworks_loaded() -> None:
    args = ["-c", "lstm", "-i", "3", "-H", "4", "--bi", "-a", "torch,keras", "-f", "json"]
    run = subprocess.run(
        [sys.executable, "-m", "rnncalc", "verify", *args], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert json.loads(run.stdout)["ok"] is True


def test_summary_path_imports_neither_numpy_nor_the_reference() -> None:
    code = (
        "import sys\n"
        "from rnncalc.cli import cli\n"
        "cli(['summary', '-c', 'lstm', '-H', '4'], standalone_mode=False)\n"
        "heavy = ('numpy', 'rnncalc.reference', 'torch', 'keras', 'tensorflow')\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


def test_without_numpy_verify_says_how_to_install_it_in_one_line() -> None:
    code = (
        "import sys\n"
        "sys.modules['numpy'] = None\n"
        "from rnncalc.cli import cli\n"
        "cli.main(['verify', '-c', 'rnn', '-i', '2', '-H', '3'], prog_name='rnncalc')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == (
        "rnncalc: error: numpy is not installed; the reference forward pass needs it: "
        "pip install 'rnncalc[numpy]'\n"
    )
