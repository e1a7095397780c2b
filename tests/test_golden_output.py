"""Human-readable output against golden files (``pytest --update-golden`` rewrites them)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CASES = {
    "rnn_bi_i5_h8": ("-c", "rnn", "-H", "8", "--bi", "-i", "5"),
    "rnn_bi_formula_in_i": ("-c", "rnn", "-H", "8", "--bi"),
    "lstm_2layer_bi_batch": (
        "-c",
        "lstm",
        "-i",
        "300",
        "-H",
        "512",
        "-l",
        "2",
        "--bi",
        "-b",
        "32",
        "-t",
        "100",
    ),
    "lstm_proj_keras_not_expressible": ("-c", "lstm", "-i", "10", "-H", "6", "--proj-size", "3"),
    "gru_reset_after_same_total": ("-c", "gru", "-i", "10", "-H", "3", "--return-state"),
}


@pytest.mark.parametrize("fmt", ["table", "markdown"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_summary_output_matches_golden_file(
    run_cli: Callable[..., Any], golden: Callable[[str, str], None], case: str, fmt: str
) -> None:
    result = run_cli("summary", *CASES[case], "--format", fmt)
    assert result.exit_code == 0, result.stderr
    extension = "md" if fmt == "markdown" else "txt"
    golden(f"summary/{case}.{extension}", result.stdout)


@pytest.mark.parametrize("case", sorted(c for c in CASES if "formula" not in c))
def test_table_rows_sum_to_the_printed_total(run_cli: Callable[..., Any], case: str) -> None:
    """Invariant: in every framework table, weight rows add up to that table's total row."""
    text = run_cli("summary", *CASES[case]).stdout
    for table in text.split("\n\n"):
        rows = [line for line in table.splitlines() if re.search(r"\(\S+, ?\S*\)\s+[\d,]+$", line)]
        total = [line for line in table.splitlines() if line.startswith("total ")]
        if not rows:
            continue
        weights = sum(int(line.split()[-1].replace(",", "")) for line in rows)
        assert total and weights == int(total[0].split()[-1].replace(",", ""))


@pytest.mark.parametrize("case", sorted(CASES))
def test_table_output_fits_80_columns(run_cli: Callable[..., Any], case: str) -> None:
    text = run_cli("summary", *CASES[case]).stdout
    assert max(len(line) for line in text.splitlines()) <= 80


#: Whole models from config files (issue 19): every part kind in every framework's table. Their
#: titles name every layer, so they are exempt from the 80-column check of flat specs.
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MODEL_CASES = {
    "tagger_example_all_frameworks": (str(EXAMPLES / "tagger.yaml"), "--frameworks", "torch,keras,flax,onnx"),
}


@pytest.mark.parametrize("fmt", ["table", "markdown"])
@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_model_summary_output_matches_golden_file(
    run_cli: Callable[..., Any], golden: Callable[[str, str], None], case: str, fmt: str
) -> None:
    result = run_cli("summary", *MODEL_CASES[case], "--format", fmt)
    assert result.exit_code == 0, result.stderr
    extension = "md" if fmt == "markdown" else "txt"
    golden(f"summary/{case}.{extension}", result.stdout)


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_model_table_rows_sum_to_the_printed_total(run_cli: Callable[..., Any], case: str) -> None:
    """Invariant: weight rows, and the 0 of a layer without weights, add up to the total row."""
    text = run_cli("summary", *MODEL_CASES[case]).stdout
    tables = 0
    for table in text.split("\n\n"):
        rows = [
            line for line in table.splitlines() if re.search(r"(\([\d, ]+\)|\(no weights\))\s+[\d,]+$", line)
        ]
        total = [line for line in table.splitlines() if line.startswith("total ")]
        if not rows:
            continue
        tables += 1
        weights = sum(int(line.split()[-1].replace(",", "")) for line in rows)
        assert total and weights == int(total[0].split()[-1].replace(",", ""))
    assert tables == 4
