"""Every subtotal and total row of the summary tables equals the sum of the weight rows it covers.

The golden files freeze the tables as they are; this test re-adds every row of the printed
text, so a total that shows one direction, drops a layer or repeats a subtotal fails for every
case below, in the table and the markdown format, with numbers and with formulas in ``I``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"

#: Flags that change the number of layers, directions or weight rows of a table.
FLAG_CASES: dict[str, tuple[str, ...]] = {
    "rnn-1": ("-c", "rnn", "-H", "8", "-i", "5"),
    "rnn-bi-formula": ("-c", "rnn", "-H", "8", "--bi"),
    "lstm-3-bi": ("-c", "lstm", "-H", "6", "-i", "4", "-l", "3", "--bi"),
    "lstm-2-bi-formula": ("-c", "lstm", "-H", "3", "-l", "2", "--bi"),
    "lstm-proj-bi": ("-c", "lstm", "-H", "6", "-i", "4", "-l", "2", "--bi", "--proj-size", "3"),
    "gru-2-bi-no-bias": ("-c", "gru", "-H", "5", "-i", "7", "-l", "2", "--bi", "--no-bias"),
    "gru-bi-sum": ("-c", "gru", "-H", "5", "-i", "7", "--bi", "--merge-mode", "sum", "--no-reset-after"),
    "lstm-big": ("-c", "lstm", "-H", "512", "-i", "300", "-l", "2", "--bi"),
}

#: The example config files (examples/ also holds the course notebook, which is no config).
FILE_CASES: dict[str, tuple[str, ...]] = {
    path.stem: (str(path),)
    for path in sorted(EXAMPLES.glob("*.*"))
    if path.suffix in {".yaml", ".toml", ".json"}
}


def parse_count(text: str) -> tuple[int, int]:
    """``"24*I + 1,384"`` → ``(24, 1384)``: the coefficient of ``I`` and the constant."""
    per_input = constant = 0
    for sign, term in re.findall(r"([+-]?)\s*([^+\-\s][^+\-]*)", text.replace(" ", "")):
        factor = -1 if sign == "-" else 1
        term = term.replace(",", "")
        if term.endswith("I"):
            per_input += factor * (int(term[:-2]) if term != "I" else 1)
        else:
            constant += factor * int(term)
    return per_input, constant


def add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return a[0] + b[0], a[1] + b[1]


def table_rows(table: str, markdown: bool) -> list[list[str]]:
    """The cells of each data row of one weights table (tabulate's simple or github format)."""
    lines = table.splitlines()
    if markdown:
        return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    rule = lines[1]
    spans = [match.span() for match in re.finditer(r"-+", rule)]
    rows = []
    for line in lines[2:]:
        padded = line.ljust(len(rule))
        cells = [padded[start:end].strip() for start, end in spans[:-1]]
        rows.append([*cells, padded[spans[-1][0] :].strip()])  # the right-aligned params column
    return rows


def weight_tables(text: str, markdown: bool) -> list[list[list[str]]]:
    """Each framework's weights table (the one whose header starts with ``layer``)."""
    header = re.compile(r"^\|?\s*layer\s+\|?\s*part\s")
    tables = []
    for block in text.split("\n\n"):
        lines = block.splitlines()
        starts = [number for number, line in enumerate(lines) if header.match(line)]
        if starts:
            tables.append(table_rows("\n".join(lines[starts[0] :]), markdown))
    return tables


def check_sums(rows: list[list[str]]) -> int:
    """Assert every subtotal, layer total and the final total; returns the number of sums checked."""
    zero = (0, 0)
    layer_sum = direction_sum = grand = zero
    layer_totals = zero
    checked = subtotals_in_layer = 0
    for layer, _part, weight, _shape, params in rows:
        value = parse_count(params)
        if layer == "total":
            assert value == grand, f"total row {params} != sum of all weight rows {grand}"
            assert value == layer_totals, f"total row {params} != sum of layer totals {layer_totals}"
            checked += 1
        elif weight.endswith(" subtotal)"):
            assert value == direction_sum, f"{weight} {params} != sum of its weight rows {direction_sum}"
            direction_sum = zero
            subtotals_in_layer += 1
            checked += 1
        elif weight.endswith(" total)"):
            assert value == layer_sum, f"{weight} {params} != sum of the layer's weight rows {layer_sum}"
            if subtotals_in_layer:
                assert direction_sum == zero, f"{weight}: weight rows after the last subtotal"
                assert subtotals_in_layer == 2, f"{weight}: {subtotals_in_layer} direction subtotals"
            layer_totals = add(layer_totals, value)
            layer_sum = direction_sum = zero
            subtotals_in_layer = 0
            checked += 1
        else:
            layer_sum = add(layer_sum, value)
            direction_sum = add(direction_sum, value)
            grand = add(grand, value)
    return checked


def test_count_parser_reads_formulas_and_thousands_separators() -> None:
    assert parse_count("24*I + 1,384") == (24, 1384)
    assert parse_count("I") == (1, 0)
    assert parse_count("12*I") == (12, 0)
    assert parse_count("2,048,000") == (0, 2048000)


@pytest.mark.parametrize("fmt", ["table", "markdown"])
@pytest.mark.parametrize("case", sorted({**FLAG_CASES, **FILE_CASES}))
def test_every_subtotal_and_total_row_is_the_sum_of_the_rows_it_covers(
    run_cli: Callable[..., Any], case: str, fmt: str
) -> None:
    args = {**FLAG_CASES, **FILE_CASES}[case]
    result = run_cli("summary", *args, "--format", fmt)
    assert result.exit_code == 0, result.stderr
    tables = weight_tables(result.stdout, markdown=fmt == "markdown")
    assert tables, "no weights table found"
    for rows in tables:
        assert rows[-1][0] == "total"
        assert check_sums(rows) >= 2  # at least one layer total and the final total


def test_a_bidirectional_layer_prints_one_subtotal_per_direction_and_a_total_of_both(
    run_cli: Callable[..., Any],
) -> None:
    """The layer total of a bidirectional RNN is twice one direction: 2·(H·I + H·H + 2H) in PyTorch."""
    text = run_cli("summary", "-c", "rnn", "-H", "8", "-i", "5", "--bi").stdout
    torch_rows = weight_tables(text, markdown=False)[0]
    totals = {row[2]: parse_count(row[4])[1] for row in torch_rows if row[2].startswith("(")}
    one_direction = 8 * 5 + 8 * 8 + 2 * 8
    assert totals == {
        "(forward subtotal)": one_direction,
        "(backward subtotal)": one_direction,
        "(layer 0 total)": 2 * one_direction,
    }
