"""``rnncalc cost``, ``solve`` and ``sweep`` on the command line: data on stdout, one-line errors."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnncalc.cli import cli
from rnncalc.cli.cost import DTYPE_CHOICES, OPTIMIZER_CHOICES
from rnncalc.cost.model import DType, Optimizer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_dtype_choices_of_the_cli_are_the_cost_models_dtypes() -> None:
    assert tuple(d.value for d in DType) == DTYPE_CHOICES


def test_optimizer_choices_of_the_cli_are_the_cost_models_optimizers() -> None:
    assert tuple(o.value for o in Optimizer) == OPTIMIZER_CHOICES


@pytest.mark.parametrize("command", ["cost", "solve", "sweep"])
def test_every_format_a_commands_help_offers_is_accepted(command: str) -> None:
    _, help_text, _ = run(command, "--help")
    offered = [name for name in ("csv", "json", "table") if name in help_text.lower().split("--format")[1]]
    args = {
        "cost": ["-c", "rnn", "-i", "3", "-H", "4"],
        "solve": ["-c", "rnn", "-i", "3", "--max-params", "100"],
        "sweep": ["-c", "rnn", "-H", "4", "-i", "3"],
    }[command]
    assert offered
    for name in offered:
        code, _, err = run(command, *args, "-f", name)
        assert code == 0, (name, err)


def test_cost_json_reports_per_step_macs_and_the_padded_versus_real_steps() -> None:
    code, out, _ = run("cost", "-c", "lstm", "-i", "300", "-H", "512", "--lengths", "12,30,7", "-f", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["workload"]["steps_per_direction"] == 49
    assert doc["workload"]["padded_steps"] == 90
    torch = doc["frameworks"]["torch"]
    assert torch["per_step"]["macs"] == 4 * 512 * (300 + 512)
    assert torch["total"]["macs"] == 4 * 512 * (300 + 512) * 49
    assert (
        torch["total"]["flops"]
        == 2 * torch["total"]["macs"] + torch["total"]["bias_adds"] + torch["total"]["elementwise"]
    )
    assert "FLOPs = 2 × MACs" in doc["convention"]


def test_cost_table_states_the_convention_and_each_frameworks_totals() -> None:
    code, out, _ = run("cost", "-c", "gru", "-i", "10", "-H", "8", "-b", "2", "-t", "3")
    assert code == 0
    assert "Convention: MAC = one multiply-accumulate" in out
    # 3·8·(10 + 8) weights + two bias vectors of 3·8 in both frameworks
    assert "PyTorch (nn.GRU): 480 parameters" in out
    assert "Keras 3 (GRU): 480 parameters" in out


def test_cost_with_lengths_that_contradict_the_batch_is_a_one_line_error() -> None:
    code, out, err = run("cost", "-c", "rnn", "-i", "3", "-H", "4", "-b", "2", "--lengths", "1,2,3")
    assert code == 2
    assert out == ""
    assert err.strip() == "rnncalc: error: --lengths: 3 lengths given but batch_size is 2"


def test_cost_without_input_names_the_input_flag() -> None:
    code, _, err = run("cost", "-c", "rnn", "-H", "4")
    assert code == 2
    assert err.startswith("rnncalc: error: --input: is required for costs")


def test_solve_prints_the_count_at_the_answer_and_one_size_up() -> None:
    code, out, _ = run(
        "solve",
        "--cell",
        "lstm",
        "-i",
        "300",
        "-l",
        "2",
        "--bi",
        "--max-params",
        "1M",
        "--framework",
        "keras",
    )
    assert code == 0
    # Keras keeps one bias: 2·4H(300 + H + 1) + 2·4H(2H + H + 1) at H = 143 and 144.

    def at(h: int) -> int:
        return 8 * h * (300 + h + 1) + 8 * h * (3 * h + 1)

    assert at(143) <= 1_000_000 < at(144)
    assert f"{at(143):,}" in out and f"{at(144):,}" in out
    assert "Largest hidden size within all budgets: 143" in out


def test_solve_json_combines_budgets_by_the_smallest_answer() -> None:
    code, out, _ = run(
        "solve", "-c", "gru", "-i", "80", "-b", "32", "-t", "200",
        "--max-params", "2.5M", "--max-flops", "50G", "--max-memory", "512MiB", "-f", "json",
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    assert doc["hidden_size"] == min(b["hidden_size"] for b in doc["budgets"])
    assert [b["budget"] for b in doc["budgets"]] == [2_500_000, 50 * 10**9, 512 * 2**20]


def test_solve_that_nothing_fits_exits_1_and_says_by_how_much_on_one_stderr_line() -> None:
    code, out, err = run("solve", "-c", "lstm", "-i", "300", "--max-params", "10")
    assert code == 1
    assert "No hidden size fits" in out
    # LSTM at H=1: 4 gates × (300 inputs + 1 recurrent + 2 biases); no part is free of H.
    assert (
        err
        == "rnncalc: no hidden size fits: --max-params 10: H=1 already needs 1,212 parameters, 1,202 over\n"
    )


def test_solve_names_every_budget_that_even_the_smallest_size_exceeds() -> None:
    args = ("solve", "-c", "gru", "-i", "8", "-b", "1", "-t", "1", "--max-params", "1", "--max-flops", "2")
    code, _, err = run(*args)
    assert code == 1
    assert len(err.splitlines()) == 1
    assert re.fullmatch(
        r"rnncalc: no hidden size fits: --max-params 1: H=1 already needs 33 parameters, 32 over; "
        r"--max-flops 2: H=1 already needs [\d,]+ FLOPs, [\d,]+ over\n",
        err,
    )


def test_solve_says_when_the_part_that_does_not_grow_with_h_is_over_the_budget_alone() -> None:
    torch = pytest.importorskip("torch")

    def real_params(h: int) -> int:  # examples/sentiment.yaml built in PyTorch with hidden size h
        modules = [
            torch.nn.Embedding(20000, 128),
            torch.nn.LSTM(128, h, bidirectional=True),
            torch.nn.Linear(2 * h, 64),
            torch.nn.Linear(64, 1),
        ]
        return sum(p.numel() for m in modules for p in m.parameters())

    fixed = 3 * real_params(1) - 3 * real_params(2) + real_params(3)  # the quadratic at H=0
    code, out, err = run("solve", str(EXAMPLES / "sentiment.yaml"), "--max-params", "1M")
    assert code == 1
    assert f"H=1: {real_params(1):,}" in out
    assert err == (
        f"rnncalc: no hidden size fits: --max-params 1,000,000: H=1 already needs {real_params(1):,} "
        f"parameters, {real_params(1) - 10**6:,} over ({fixed:,} of them do not depend on H: over "
        "the budget by themselves)\n"
    )


def test_solve_without_a_budget_is_a_usage_error() -> None:
    code, _, err = run("solve", "-c", "lstm", "-i", "300")
    assert code == 2
    assert "give at least one budget" in err


def test_solve_rejects_an_unreadable_budget() -> None:
    code, _, err = run("solve", "-c", "lstm", "-i", "300", "--max-memory", "lots")
    assert code == 2
    assert "--max-memory" in err


def test_sweep_csv_has_a_row_per_cell_and_hidden_size() -> None:
    code, out, _ = run("sweep", "--cell", "rnn,lstm,gru", "--hidden", "64:256:+64", "-i", "100", "-f", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["cell"], r["hidden_size"]) for r in rows] == [
        (cell, str(h)) for cell in ("rnn", "lstm", "gru") for h in (64, 128, 192, 256)
    ]
    lstm_64 = rows[4]
    assert int(lstm_64["params"]) == 4 * 64 * (100 + 64) + 2 * 4 * 64


def test_sweep_marks_what_a_framework_cannot_build() -> None:
    code, out, _ = run(
        "sweep", "-c", "lstm", "-H", "32:128:x2", "-i", "10", "--proj-size", "16", "-F", "keras"
    )
    assert code == 0
    assert "n/a: Keras LSTM has no projection" in out


def test_sweep_reports_a_bad_range_naming_the_flag() -> None:
    code, _, err = run("sweep", "-c", "lstm", "-H", "64:32:x2", "-i", "10")
    assert code == 2
    assert err.startswith("rnncalc: error: --hidden: range '64:32:x2' ends before it starts")


def test_cost_with_adam_adds_two_parameter_copies_to_training_memory() -> None:
    args = ["cost", "-c", "gru", "-i", "10", "-H", "8", "-b", "2", "-t", "3", "-f", "json"]
    plain = json.loads(run(*args)[1])["frameworks"]["torch"]["memory"]
    adam = json.loads(run(*args, "--optimizer", "adam")[1])["frameworks"]["torch"]["memory"]
    param_bytes = plain["param_bytes"]["float32"]
    assert adam["training"]["optimizer_bytes"] == 2 * param_bytes
    assert adam["training"]["total_bytes"] == plain["training"]["total_bytes"] + 2 * param_bytes


def test_cost_reads_a_config_file_model_with_embedding_and_dense_heads() -> None:
    code, out, _ = run("cost", str(EXAMPLES / "sentiment.yaml"), "-b", "4", "-t", "10", "-f", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["model"]["name"] == "sentiment-bilstm"
    torch = doc["frameworks"]["torch"]
    assert torch["params"] == 2667649  # the file's own measured expectation
    assert [head["per_sample"] for head in torch["heads"]] == [10, 10]  # nn.Linear runs every step
    assert [head["per_sample"] for head in doc["frameworks"]["keras"]["heads"]] == [1, 1]


def test_cost_of_several_files_is_a_json_list_and_flags_override_their_fields() -> None:
    code, out, _ = run(
        "cost", str(EXAMPLES / "sentiment.yaml"), str(EXAMPLES / "char_lm.toml"), "-t", "5", "-f", "json"
    )
    assert code == 0
    docs = json.loads(out)
    assert len(docs) == 2
    assert all(doc["workload"]["seq_len"] == 5 for doc in docs)


def test_cost_of_a_bad_config_file_is_a_one_line_error_naming_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text("layers:\n  - {cell: lstm, hiden_size: 8}\n")
    code, out, err = run("cost", str(bad))
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "bad.yaml:2" in err


def test_solve_on_a_config_file_sizes_every_recurrent_layer_within_the_budget() -> None:
    torch = pytest.importorskip("torch")
    code, out, _ = run("solve", str(EXAMPLES / "sentiment.yaml"), "--max-params", "3M", "-f", "json")
    assert code == 0
    hidden = json.loads(out)["hidden_size"]

    def real_params(h: int) -> int:  # the file's model, built in PyTorch with hidden size h
        modules = [
            torch.nn.Embedding(20000, 128),
            torch.nn.LSTM(128, h, bidirectional=True),
            torch.nn.Linear(2 * h, 64),
            torch.nn.Linear(64, 1),
        ]
        return sum(p.numel() for m in modules for p in m.parameters())

    assert real_params(hidden) <= 3_000_000 < real_params(hidden + 1)


def test_sweep_over_config_files_gives_a_table_per_model_and_a_model_column_in_csv() -> None:
    files = [str(EXAMPLES / "sentiment.yaml"), str(EXAMPLES / "char_lm.toml")]
    code, out, _ = run("sweep", *files, "-H", "32,64", "-f", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["model"], r["cell"], r["hidden_size"]) for r in rows] == [
        ("0", "lstm", "32"),
        ("0", "lstm", "64"),
        ("1", "gru", "32"),
        ("1", "gru", "64"),
    ]
    # sentiment at H = 64 is the file as written: its measured PyTorch count
    assert rows[1]["params"] == "2667649"
    code, out, _ = run("sweep", *files, "-H", "32")
    assert code == 0
    assert out.count("cell      hidden") == 2


def test_sweep_without_files_still_needs_a_cell() -> None:
    code, _, err = run("sweep", "-H", "4", "-i", "3")
    assert code == 2
    assert "--cell" in err
