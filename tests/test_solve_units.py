"""Budgets, ranges and lengths parse as documented; solve's answer fits and the next size does not."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnncalc.core.errors import SpecError
from rnncalc.core.spec import spec_from_mapping
from rnncalc.core.units import parse_bytes, parse_count, parse_int_range, parse_lengths
from rnncalc.cost.model import DType
from rnncalc.cost.solve import MemoryKind, Metric, Quadratic, largest_within, metric_function, solve
from rnncalc.io.text import read_lengths

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def closed_form_params(cell: str, framework: str, i: int, h: int, layers: int, bi: bool) -> int:
    """Independent closed form: per direction gates·H·(in + H) + vectors·gates·H."""
    dirs = 2 if bi else 1
    vectors = 2 if framework == "torch" or cell == "gru" else 1
    total = 0
    in_size = i
    for _ in range(layers):
        total += dirs * (GATES[cell] * h * (in_size + h) + vectors * GATES[cell] * h)
        in_size = dirs * h
    return total


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1M", 1_000_000),
        ("250k", 250_000),
        ("1.5G", 1_500_000_000),
        ("1_000_000", 1_000_000),
        ("1,000", 1000),
        ("2.5M", 2_500_000),
        ("7", 7),
        (7, 7),
    ],
)
def test_count_budgets_read_si_suffixes_and_underscores(text: str | int, value: int) -> None:
    assert parse_count("budget", text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("512MiB", 512 * 2**20), ("2GB", 2 * 10**9), ("1.5GiB", 3 * 2**29), ("4096", 4096), ("1k", 1000)],
)
def test_memory_budgets_read_si_and_iec_units(text: str, value: int) -> None:
    assert parse_bytes("max_memory", text) == value


@pytest.mark.parametrize("text", ["", "M", "1.2.3k", "12 parsecs", "12q", "-5", "0", "1.5", True])
def test_unreadable_budgets_are_rejected_naming_the_field(text: str | bool) -> None:
    with pytest.raises(SpecError, match="budget"):
        parse_count("budget", text)


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("32,64,128", (32, 64, 128)),
        ("64:1024:x2", (64, 128, 256, 512, 1024)),
        ("64:256:+64", (64, 128, 192, 256)),
        ("10:30:7", (10, 17, 24)),
        ("100:900:x3", (100, 300, 900)),
        ("8,8:32:x2", (8, 16, 32)),
    ],
)
def test_hidden_ranges_expand_geometrically_or_arithmetically(text: str, values: tuple[int, ...]) -> None:
    assert parse_int_range("hidden_size", text) == values


@pytest.mark.parametrize("text", ["64:32:x2", "1:10:x1", "1:10", "a,b", "1:10:+0", "4,,5"])
def test_bad_ranges_are_rejected(text: str) -> None:
    with pytest.raises(SpecError):
        parse_int_range("hidden_size", text)


def test_lengths_come_from_a_list_or_a_file_with_line_numbers_in_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert parse_lengths("lengths", "12,30,7") == (12, 30, 7)
    good = tmp_path / "lengths.txt"
    good.write_text("12 30\n# comment\n7,\n")
    assert read_lengths("lengths", f"@{good}") == (12, 30, 7)
    bad = tmp_path / "bad.txt"
    bad.write_text("3\n4 x\n")
    with pytest.raises(SpecError, match=r"bad.txt:2: 'x' is not a whole number"):
        read_lengths("lengths", f"@{bad}")


@given(a=st.integers(0, 50), b=st.integers(1, 500), c=st.integers(-100, 100), budget=st.integers(0, 10**7))
@settings(max_examples=200, deadline=None)
def test_the_integer_solution_of_a_quadratic_is_the_last_size_within_budget(
    a: int, b: int, c: int, budget: int
) -> None:
    q = Quadratic(Fraction(a, 2), Fraction(b), Fraction(c))
    answer = largest_within(q, budget, 1)
    if q(1) > budget:
        assert answer is None
        return
    assert answer is not None
    assert q(answer) <= budget < q(answer + 1)


def test_the_quadratic_through_three_points_reproduces_them() -> None:
    q = Quadratic.through(3, 10, 25, 46)  # 3h² - 6h + 1 at h = 3, 4, 5
    assert (q.a, q.b, q.c) == (Fraction(3), Fraction(-6), Fraction(1))


@given(
    cell=st.sampled_from(["rnn", "lstm", "gru"]),
    framework=st.sampled_from(["torch", "keras"]),
    i=st.integers(1, 500),
    layers=st.integers(1, 4),
    bi=st.booleans(),
    budget=st.integers(10, 10**8),
)
@settings(max_examples=60, deadline=None)
def test_solved_hidden_size_fits_the_parameter_budget_and_the_next_one_does_not(
    cell: str, framework: str, i: int, layers: int, bi: bool, budget: int
) -> None:
    spec = spec_from_mapping(
        {"cell": cell, "input_size": i, "hidden_size": 1, "num_layers": layers, "bidirectional": bi}
    )
    solution = solve(spec, framework, {Metric.PARAMS: budget})
    h = solution.hidden
    if h is None:
        assert closed_form_params(cell, framework, i, 1, layers, bi) > budget
        return
    assert closed_form_params(cell, framework, i, h, layers, bi) <= budget
    assert closed_form_params(cell, framework, i, h + 1, layers, bi) > budget


@given(
    cell=st.sampled_from(["rnn", "lstm", "gru"]),
    flops=st.integers(10**4, 10**12),
    memory=st.integers(10**4, 10**10),
    kind=st.sampled_from(list(MemoryKind)),
)
@settings(max_examples=30, deadline=None)
def test_combined_budgets_give_the_smallest_of_the_per_budget_answers(
    cell: str, flops: int, memory: int, kind: MemoryKind
) -> None:
    spec = spec_from_mapping(
        {"cell": cell, "input_size": 30, "hidden_size": 1, "num_layers": 2, "batch_size": 4, "seq_len": 10}
    )
    solution = solve(spec, "torch", {Metric.FLOPS: flops, Metric.MEMORY: memory}, memory_kind=kind)
    for bound in solution.bounds:
        f = metric_function(spec, "torch", bound.metric, None, DType.FLOAT32, kind)
        if bound.hidden is not None:
            assert f(bound.hidden) <= bound.budget < f(bound.hidden + 1)
    sizes = [b.hidden for b in solution.bounds]
    assert solution.hidden == (None if None in sizes else min(s for s in sizes if s is not None))


def test_projection_keeps_the_solved_hidden_size_above_the_projection() -> None:
    spec = spec_from_mapping({"cell": "lstm", "input_size": 10, "hidden_size": 9, "proj_size": 8})
    solution = solve(spec, "torch", {Metric.PARAMS: 10})
    assert solution.hidden is None
    assert solution.bounds[0].smallest == 9
