"""``rnncalc check`` end to end: exit codes, tables, JSON, skips, memory limit, quiet stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from click.testing import CliRunner, Result

from rnncalc.cli import cli


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["check", *args])


def run_python(code: str, **env_vars: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter, as a user's terminal would see it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "KERAS_"))} | env_vars
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=300
    )


def test_agreeing_frameworks_exit_0_with_a_side_by_side_table() -> None:
    result = run("--cell", "rnn", "-i", "5", "-H", "8", "--bi", "--against", "torch,keras")
    assert result.exit_code == 0, result.output + result.stderr
    assert "PyTorch (nn.RNN): ok" in result.stdout
    assert "Keras 3 (Bidirectional(SimpleRNN)): ok" in result.stdout
    # closed forms: PyTorch 2 × (8*5 + 8*8 + 8 + 8) = 240, Keras 2 × (8*5 + 8*8 + 8) = 224
    lines = result.stdout.splitlines()
    assert [line.split() for line in lines if line.startswith("total params")] == [
        ["total", "params", "240", "240", "ok"],
        ["total", "params", "224", "224", "ok"],
    ]
    assert any(line.split() == ["weight_hh_l0_reverse", "(8,", "8)", "(8,", "8)", "ok"] for line in lines)
    assert result.stderr == ""


def test_a_budget_below_the_real_count_exits_1_with_the_numbers() -> None:
    result = run("-c", "rnn", "-i", "5", "-H", "8", "--bi", "--max-params", "230", "--against", "torch")
    assert result.exit_code == 1
    assert "torch: over budget: params 240 > max_params 230 (+10)" in result.stderr
    assert "keras" not in result.stderr  # Keras's 224 is within the budget
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("max_params")]
    assert rows == [
        ["max_params", "<=", "230", "240", "OVER", "BUDGET"],
        ["max_params", "<=", "230", "224", "ok"],
    ]


def test_a_budget_written_1M_passes_a_model_of_a_few_thousand() -> None:
    result = run("-c", "gru", "-i", "10", "-H", "3", "--max-params", "1M", "--against", "keras")
    assert result.exit_code == 0, result.stderr
    assert "<= 1,000,000" in result.stdout


def test_several_hidden_sizes_check_every_combination_in_one_run() -> None:
    result = run(
        "-c", "rnn", "-i", "2", "-H", "3,4", "--hidden", "5", "-l", "1,2", "--against", "torch", "-f", "json"
    )
    assert result.exit_code == 0, result.stderr
    models = json.loads(result.stdout)["models"]
    assert [(m["spec"]["hidden_size"], m["spec"]["num_layers"]) for m in models] == [
        (3, 1),
        (3, 2),
        (4, 1),
        (4, 2),
        (5, 1),
        (5, 2),
    ]
    # nn.RNN 2→H, one layer: H*2 + H*H + 2H; a second layer adds H*H + H*H + 2H
    expected = [
        h * 2 + h * h + 2 * h + (layers - 1) * (2 * h * h + 2 * h) for h in (3, 4, 5) for layers in (1, 2)
    ]
    assert [m["frameworks"]["torch"]["params"] for m in models] == expected
    assert all(m["frameworks"]["torch"]["crosscheck"]["status"] == "ok" for m in models)


def test_a_failing_model_among_several_is_named_and_counted() -> None:
    result = run("-c", "gru", "-i", "4", "-H", "3,5", "--max-params", "100", "--against", "none")
    assert result.exit_code == 1
    # GRU 4→H: 3*(4H + H*H + 2H) — H=3: 81 within, H=5: 165 over
    prefix = "rnncalc: FAILED gru, input 4, hidden 5, 1 layer"
    assert result.stderr.splitlines() == [
        f"{prefix}: torch: over budget: params 165 > max_params 100 (+65)",
        f"{prefix}: keras: over budget: params 165 > max_params 100 (+65)",
        "rnncalc: check failed: 1 of 2 model(s)",
        "rnncalc: no real framework checked (--against none or none installed)",
    ]


def test_json_output_is_one_document_with_every_row() -> None:
    result = run("-c", "gru", "-i", "10", "-H", "3", "--against", "keras", "--format", "json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["ok"] is True
    (model,) = document["models"]
    keras = model["frameworks"]["keras"]
    assert keras["status"] == "ok" and keras["params"] == 135  # 3*(10*3 + 3*3) + 2*9
    rows = {row["item"]: row for row in keras["crosscheck"]["rows"]}
    assert rows["gru/gru_cell/bias"] == {
        "kind": "weight",
        "item": "gru/gru_cell/bias",
        "analytic": [2, 9],
        "real": [2, 9],
        "ok": True,
    }
    torch = model["frameworks"]["torch"]
    assert torch["checked"] is False and torch["crosscheck"]["status"] == "not requested"
    assert set(torch["crosscheck"]) == set(keras["crosscheck"])  # one shape for every document


def test_a_spec_a_framework_cannot_express_is_reported_and_not_a_failure() -> None:
    result = run("-c", "lstm", "-i", "4", "-H", "6", "--proj-size", "3", "--against", "all")
    assert result.exit_code == 0, result.stderr
    assert "real model: not expressible: Keras LSTM has no projection" in result.stdout
    assert "PyTorch (nn.LSTM): ok" in result.stdout


def test_a_model_larger_than_memory_runs_on_meta_and_keras_is_refused() -> None:
    result = run("-c", "lstm", "-i", "100000", "-H", "100000", "-l", "4", "--bi", "--against", "all")
    assert result.exit_code == 0, result.stderr
    assert "built on the meta device (no memory allocated): weights would need 3.2 TiB" in result.stdout
    assert ["total", "params", "880,006,400,000", "880,006,400,000", "ok"] in [
        line.split() for line in result.stdout.splitlines()
    ]
    assert (
        "skipped: weights would need 3.2 TiB > --max-memory 1.0 GiB; Keras has no meta device"
        in result.stdout
    )


def test_a_small_max_memory_sends_even_a_small_model_to_meta() -> None:
    # GRU 4→3 in torch: 3*(3*4 + 3*3 + 3 + 3) = 81 params = 324 bytes > 100 bytes
    result = run("-c", "gru", "-i", "4", "-H", "3", "--max-memory", "100", "--against", "torch,keras")
    assert result.exit_code == 0, result.stderr
    assert "weights would need 324 B > --max-memory 100 B" in result.stdout
    assert "Keras 3 (GRU): skipped" in result.stdout


def test_with_require_a_skipped_framework_exits_1() -> None:
    # Keras GRU 4→300: 3*(4*300 + 300*300) + 2*900 = 275,400 params = 1,101,600 bytes ≈ 1.1 MiB
    args = ("-c", "gru", "-i", "4", "-H", "300", "--max-memory", "1MiB", "--against", "keras")
    assert run(*args).exit_code == 0
    result = run(*args, "--require")
    assert result.exit_code == 1
    assert "keras: skipped but required: weights would need 1.1 MiB > --max-memory 1.0 MiB" in result.stderr


def test_bad_input_exits_2_with_one_line_naming_the_flag() -> None:
    cases = {
        ("-c", "gru", "-i", "4", "-H", "3", "--max-params", "12q"): "Invalid value for '--max-params'",
        ("-c", "gru", "-i", "4", "-H", "3", "--max-memory", "lots"): "Invalid value for '--max-memory'",
        ("-c", "gru", "-i", "4", "-H", "3", "--against", "jax"): "Invalid value for '--against'",
        ("-c", "gru", "-H", "3", "--against", "torch"): "--input: is required to build the real models",
        ("-c", "gru", "-i", "4", "-H", "3", "--proj-size", "2"): "--proj-size: applies to lstm only",
        ("-c", "gru", "-H", "3", "--max-params", "9", "--against", "none"): "--input: is required to check",
    }
    for args, text in cases.items():
        result = run(*args)
        assert result.exit_code == 2, args
        assert result.stdout == ""
        assert result.stderr.startswith("rnncalc: error: ") and text in result.stderr, result.stderr
        assert len(result.stderr.splitlines()) == 1


def test_against_none_checks_budgets_without_importing_any_framework() -> None:
    proc = run_python(
        """
        import sys
        from rnncalc.cli import cli
        code = cli.main(["check", "-c", "lstm", "-i", "300", "-H", "512", "--max-params", "1M",
                         "--against", "none"], standalone_mode=False)
        heavy = {"torch", "tensorflow", "keras", "numpy"} & set(sys.modules)
        print("HEAVY", sorted(heavy), "CODE", code)
        """
    )
    # LSTM 300→512: PyTorch 4*(512*300 + 512*512 + 2*512) = 1,667,072; Keras one bias: 1,665,024
    assert "over budget: params 1,667,072 > max_params 1,000,000" in proc.stderr
    assert "over budget: params 1,665,024 > max_params 1,000,000" in proc.stderr
    assert proc.stdout.splitlines()[-1] == "HEAVY [] CODE 1"


def test_a_missing_framework_is_skipped_with_the_install_command() -> None:
    # A real interpreter where keras cannot be imported: sys.modules[name] = None hides it.
    proc = run_python(
        """
        import sys
        sys.modules["keras"] = None
        from rnncalc.cli import cli
        plain = cli.main(["check", "-c", "gru", "-i", "4", "-H", "3", "--against", "keras"],
                         standalone_mode=False)
        required = cli.main(["check", "-c", "gru", "-i", "4", "-H", "3", "--against", "keras", "--require"],
                            standalone_mode=False)
        print("CODES", plain, required)
        """
    )
    assert "real model: skipped: keras is not installed; pip install 'rnncalc[tensorflow]'" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "CODES 0 1"
    assert "FAILED gru, input 4, hidden 3, 1 layer: keras: skipped but required: keras is not installed" in (
        proc.stderr
    )


def test_with_require_and_no_against_every_framework_must_be_installed() -> None:
    proc = run_python(
        """
        import sys
        sys.modules["keras"] = sys.modules["torch"] = None
        from rnncalc.cli import cli
        args = ["check", "-c", "rnn", "-i", "2", "-H", "2"]
        plain = cli.main(args, standalone_mode=False)
        required = cli.main([*args, "--require"], standalone_mode=False)
        print("CODES", plain, required)
        """
    )
    assert proc.stdout.splitlines()[-1] == "CODES 0 1"
    assert proc.stderr.splitlines() == [
        "rnncalc: no real framework checked (--against none or none installed)",
        "rnncalc: FAILED rnn, input 2, hidden 2, 1 layer: torch: skipped but required: "
        "torch is not installed; pip install 'rnncalc[torch]'",
        "rnncalc: FAILED rnn, input 2, hidden 2, 1 layer: keras: skipped but required: "
        "keras is not installed; pip install 'rnncalc[tensorflow]'",
        "rnncalc: check failed: 1 of 1 model(s)",
    ]


def test_framework_start_up_noise_never_reaches_stderr() -> None:
    # The noisiest TensorFlow settings a user may have: every C++ log line, oneDNN banner.
    noisy = {"TF_CPP_MIN_LOG_LEVEL": "0", "TF_ENABLE_ONEDNN_OPTS": "1"}
    proc = run_python(
        **noisy,
        code="""
        import sys
        from rnncalc.cli import cli
        code = cli.main(["check", "-c", "lstm", "-i", "3", "-H", "4", "--bi", "--proj-size", "2",
                         "--against", "torch"], standalone_mode=False)
        code2 = cli.main(["check", "-c", "gru", "-i", "3", "-H", "4", "--max-params", "10",
                          "--against", "all"], standalone_mode=False)
        print("CODES", code, code2)
        """,
    )
    assert proc.stdout.splitlines()[-1] == "CODES 0 1"
    # Only our own lines: the budget failures (TensorFlow's and jax's start-up logs are gone).
    # Flax NNX's GRU has no recurrent bias: 3*(3*4 + 4*4) + 3*4 = 96.
    prefix = "rnncalc: FAILED gru, input 3, hidden 4, 1 layer"
    assert proc.stderr.splitlines() == [
        f"{prefix}: torch: over budget: params 108 > max_params 10 (+98)",
        f"{prefix}: keras: over budget: params 108 > max_params 10 (+98)",
        f"{prefix}: flax: over budget: params 96 > max_params 10 (+86)",
        f"{prefix}: onnx: over budget: params 108 > max_params 10 (+98)",
        "rnncalc: check failed: 1 of 1 model(s)",
    ]


def test_quiet_swallows_writes_to_file_descriptor_2_and_python_warnings(capfd: object) -> None:
    import warnings

    from rnncalc.frameworks.adapter import quiet

    with quiet():
        os.write(2, b"2026-11-23 I tensorflow/core/util/port.cc:153] oneDNN custom operations are on\n")
        warnings.warn("a framework warning", UserWarning, stacklevel=1)
        print("absl-style line", file=sys.stderr)
    os.write(2, b"ours\n")
    captured = capfd.readouterr()  # type: ignore[attr-defined]
    assert captured.err == "ours\n"
