"""The framework registry: one module per framework, chosen with -F, converted to and from the
canonical weights, and never named by the core."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.shell_completion import ShellComplete
from click.testing import CliRunner

import rnncalc
from rnncalc import frameworks, reference
from rnncalc.cli import cli
from rnncalc.core import calc
from rnncalc.core.errors import ConversionError, SpecError
from rnncalc.core.spec import Cell, Spec, spec_from_mapping
from rnncalc.verify.run import random_input, random_weights

TORCH = frameworks.get("torch")
KERAS = frameworks.get("keras")


def test_registry_lists_pytorch_then_keras_first_and_shows_only_them_by_default() -> None:
    assert frameworks.names()[:2] == ("torch", "keras")
    assert frameworks.default_names() == ("torch", "keras")
    assert [c.name for c in frameworks.CONVENTIONS] == list(frameworks.names())


def test_an_unknown_name_is_refused_naming_every_registered_one() -> None:
    with pytest.raises(SpecError) as error:
        frameworks.get("pytorch")
    assert all(name in error.value.message for name in frameworks.names())


def test_select_keeps_registry_order_whatever_order_it_is_given() -> None:
    assert [c.name for c in frameworks.select(["keras", "torch"])] == ["torch", "keras"]
    assert frameworks.select(None) == frameworks.CONVENTIONS


def test_the_core_imports_no_framework_module() -> None:
    code = (
        "import sys, rnncalc.core.calc, rnncalc.core.convention, rnncalc.core.report, rnncalc.core.model\n"
        "print([m for m in sys.modules if m.startswith('rnncalc.frameworks')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_core_names_no_module_above_it_even_for_type_checking_or_inside_a_function() -> None:
    core = Path(rnncalc.__file__).parent / "core"
    above = []
    for path in sorted(core.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            above += [
                f"{path.name}: {name}"
                for name in names
                if name.startswith("rnncalc") and not name.startswith("rnncalc.core")
            ]
    assert above == []


def test_public_analyze_includes_every_registered_framework_with_the_same_structure() -> None:
    document = rnncalc.analyze({"cell": "lstm", "input_size": 3, "hidden_size": 4})
    assert list(document["frameworks"]) == list(frameworks.names())
    for report in document["frameworks"].values():
        assert set(report) >= {"supported", "reason", "total_params", "layers", "outputs"}
        if report["supported"]:
            assert all({"name", "shape"} <= set(w) for layer in report["layers"] for w in layer["weights"])
    assert document["schema_version"] == 1


# --- -F/--frameworks ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["summary", "explain", "code", "cost", "check", "verify"])
def test_a_bad_frameworks_value_is_one_line_naming_the_flag_and_the_valid_names(command: str) -> None:
    result = CliRunner().invoke(
        cli, [command, "-c", "rnn", "-i", "2", "-H", "3", "-b", "1", "-t", "2", "-F", "torch,jax"]
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "--frameworks" in line and "'torch,jax'" in line
    assert all(name in line for name in frameworks.names())


def test_summary_json_of_one_framework_holds_only_it_and_no_difference() -> None:
    result = CliRunner().invoke(
        cli, ["summary", "-c", "gru", "-i", "3", "-H", "4", "-F", "keras", "-f", "json"]
    )
    document = json.loads(result.stdout)
    assert list(document["frameworks"]) == ["keras"]
    assert document["difference"] is None


def test_summary_all_shows_every_registered_framework() -> None:
    result = CliRunner().invoke(
        cli, ["summary", "-c", "gru", "-i", "3", "-H", "4", "-F", "all", "-f", "json"]
    )
    assert list(json.loads(result.stdout)["frameworks"]) == list(frameworks.names())


def test_code_of_one_framework_prints_only_its_script() -> None:
    result = CliRunner().invoke(cli, ["code", "-c", "gru", "-i", "3", "-H", "4", "-F", "keras"])
    assert result.exit_code == 0
    assert "import keras" in result.stdout and "import torch" not in result.stdout


def test_frameworks_flag_completes_registry_names_and_all() -> None:
    completer = ShellComplete(cli, {}, "rnncalc", "_RNNCALC_COMPLETE")
    words = [item.value for item in completer.get_completions(["summary", "-F"], "")]
    assert words == [*frameworks.names(), "all"]
    after = [item.value for item in completer.get_completions(["summary", "-F"], "torch,")]
    assert after == [f"torch,{name}" for name in frameworks.names() if name != "torch"]


def test_check_against_completes_registry_names_all_and_none() -> None:
    completer = ShellComplete(cli, {}, "rnncalc", "_RNNCALC_COMPLETE")
    words = [item.value for item in completer.get_completions(["check", "--against"], "")]
    assert words == [*frameworks.names(), "all", "none"]


# --- Why two totals differ, in either order ------------------------------------------------------


def test_difference_is_first_minus_second_in_the_order_the_conventions_are_given() -> None:
    spec = spec_from_mapping({"cell": "lstm", "input_size": 3, "hidden_size": 4})
    keras_report, torch_report = KERAS.report(spec), TORCH.report(spec)
    difference = calc.explain_difference(spec, KERAS, TORCH, keras_report, torch_report)
    assert difference is not None
    # PyTorch's second bias vector: 4 gates × 4 units (nn.LSTM docs: bias_hh_l0 is (4*H,)).
    assert difference.delta.value == -16
    assert difference.reason == (
        "Keras keeps one bias vector per layer and direction, PyTorch two bias vectors: -16"
    )
    assert (difference.first, difference.second) == ("keras", "torch")


# --- Weights to and from the canonical layout ----------------------------------------------------

SPECS = [
    {"cell": "lstm", "input_size": 3, "hidden_size": 4, "num_layers": 2, "bidirectional": True},
    {"cell": "gru", "input_size": 3, "hidden_size": 4},
    {"cell": "gru", "input_size": 3, "hidden_size": 4, "bias": False},
    {"cell": "rnn", "input_size": 2, "hidden_size": 5, "num_layers": 2},
]


@pytest.mark.parametrize("fields", SPECS)
@pytest.mark.parametrize("name", ["torch", "keras"])
def test_from_canonical_inverts_to_canonical(name: str, fields: dict[str, Any]) -> None:
    convention = frameworks.get(name)
    spec = spec_from_mapping({**fields, "batch_size": 2, "seq_len": 3})
    weights = random_weights(spec, name, seed=3)
    back = convention.from_canonical(spec, convention.to_canonical(spec, weights))
    assert list(back) == list(weights)
    for path, value in weights.items():
        np.testing.assert_array_equal(back[path], value)


def test_canonical_lstm_weights_with_both_biases_run_the_same_in_real_keras() -> None:
    # Keras keeps one bias: from_canonical sums b_x and b_h, and the real layer must then agree
    # with the reference run on the two separate biases.
    spec = Spec(cell=Cell.LSTM, input_size=3, hidden_size=4, batch_size=2, seq_len=5)
    canonical = reference.random_weights(spec, seed=1)
    assert canonical.layers[0][0].b_h.any()
    x = random_input(spec, "keras", seed=1)
    real = KERAS.run_real(spec, KERAS.from_canonical(spec, canonical), x)
    expected = KERAS.reference_forward(spec, canonical, x)
    np.testing.assert_allclose(real["output"], expected["output"], atol=1e-5)


def test_canonical_weights_run_the_same_in_real_pytorch() -> None:
    spec = Spec(cell=Cell.GRU, input_size=3, hidden_size=4, num_layers=2, batch_size=2, seq_len=5)
    canonical = reference.random_weights(spec, seed=2)
    x = random_input(spec, "torch", seed=2)
    real = TORCH.run_real(spec, TORCH.from_canonical(spec, canonical), x)
    expected = TORCH.reference_forward(spec, canonical, x)
    for name in ("output", "h_n"):
        np.testing.assert_allclose(real[name], expected[name], atol=1e-5)


def test_a_projection_cannot_be_moved_into_keras() -> None:
    projected = spec_from_mapping({"cell": "lstm", "input_size": 3, "hidden_size": 4, "proj_size": 2})
    canonical = reference.random_weights(projected, seed=0)
    plain = projected.replace(proj_size=0)
    with pytest.raises(ConversionError):
        KERAS.from_canonical(plain, canonical)


def test_nonzero_biases_cannot_be_moved_into_a_model_without_bias() -> None:
    spec = spec_from_mapping({"cell": "rnn", "input_size": 3, "hidden_size": 4})
    canonical = reference.random_weights(spec, seed=0)
    with pytest.raises(ConversionError):
        TORCH.from_canonical(spec.replace(bias=False), canonical)


# --- Nothing outside rnncalc/frameworks/ names a framework --------------------------------------


def _code_strings(path: Any) -> list[str]:
    """Every string constant of a module that is not a docstring."""
    import ast

    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_no_module_outside_the_framework_modules_names_a_registered_framework_in_code() -> None:
    from pathlib import Path

    package = Path(rnncalc.__file__).parent
    offenders = [
        f"{path.relative_to(package)}: {text!r}"
        for path in sorted(package.rglob("*.py"))
        if "frameworks" not in path.parts
        for text in _code_strings(path)
        if text.strip().lower() in frameworks.names()
    ]
    assert offenders == []


@pytest.mark.parametrize("chosen", ["torch", "keras", "keras,torch"])
def test_explain_works_for_any_choice_and_compares_only_two_chosen(chosen: str) -> None:
    result = CliRunner().invoke(cli, ["explain", "-c", "gru", "-i", "3", "-H", "4", "-l", "2", "-F", chosen])
    assert result.exit_code == 0, result.output
    titles = [frameworks.get(name).title for name in chosen.split(",")]
    assert all(f"{title}: " in result.stdout for title in titles)
    assert ("PyTorch vs Keras" in result.stdout) == (len(titles) == 2)


def test_check_judges_the_chosen_frameworks_and_those_it_cross_checks() -> None:
    args = ["check", "-c", "lstm", "-i", "3", "-H", "4", "-F", "keras", "-f", "json"]
    analytic = json.loads(CliRunner().invoke(cli, [*args, "--against", "none"]).stdout)
    assert list(analytic["models"][0]["frameworks"]) == ["keras"]
    crossed = json.loads(CliRunner().invoke(cli, [*args, "--against", "torch"]).stdout)
    assert list(crossed["models"][0]["frameworks"]) == ["torch", "keras"]
