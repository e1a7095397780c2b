"""``rnncalc cost``, ``rnncalc solve`` and ``rnncalc sweep``: compute, memory and sizing.

Pure arithmetic, no framework imported; the core modules are imported inside the command bodies
so ``rnncalc summary`` does not pay for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from rnncalc.cli.command import RnncalcCommand
from rnncalc.cli.options import (
    emit,
    flag_for,
    format_option,
    spec_from_flags,
    spec_options,
    spec_options_without,
)
from rnncalc.core.errors import SpecError
from rnncalc.core.limits import MAX_SWEEP_ROWS

F = TypeVar("F", bound=Callable[..., Any])

#: The values of :class:`rnncalc.cost.model.DType` (a test keeps them equal), kept literal here so
#: registering these commands does not import the cost model.
DTYPE_CHOICES = ("float32", "float16", "bfloat16", "int8")
FRAMEWORK_CHOICES = ("torch", "keras")

#: Fields these commands add to the spec's, for error messages.
_EXTRA_FLAGS = {"lengths": "--lengths", "framework": "--framework", "budget": "--max-params"}


def _lengths_option(command: F) -> F:
    return click.option(
        "--lengths",
        "lengths_text",
        metavar="N,N,...|@FILE",
        help="Real sequence lengths of a padded batch (e.g. 12,30,7, or @file): FLOPs count these "
        "steps, not the padded rectangle.",
    )(command)


def _dtype_option(command: F) -> F:
    return click.option(
        "--dtype",
        type=click.Choice(DTYPE_CHOICES, case_sensitive=False),
        default="float32",
        show_default=True,
        help="Element type for activation memory (parameter bytes are shown for every type).",
    )(command)


_FORMAT_HELP = "Output format: tables for people, JSON (or CSV) for machines."


def _framework_option(command: F) -> F:
    return click.option(
        "--framework",
        "-F",
        type=click.Choice(FRAMEWORK_CHOICES, case_sensitive=False),
        default="torch",
        show_default=True,
        help="Whose weight conventions to count (bias vectors differ).",
    )(command)


def _usage(error: SpecError) -> click.UsageError:
    flag = _EXTRA_FLAGS.get(error.field) or flag_for(error.field)
    return click.UsageError(f"{flag}: {error.message}")


def _parse_lengths(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    from rnncalc.core.units import parse_lengths

    try:
        return parse_lengths("lengths", text)
    except SpecError as error:
        raise _usage(error) from None


@click.command(cls=RnncalcCommand)
@spec_options
@_lengths_option
@_dtype_option
@format_option(("table", "json"), help=_FORMAT_HELP)
def cost(fmt: str, dtype: str, lengths_text: str | None, **flags: Any) -> None:
    """FLOPs, MACs and memory of a recurrent stack, per layer, direction and step.

    \b
    Examples:
      rnncalc cost -c lstm -i 300 -H 512 -l 2 --bi -b 32 -t 100
      rnncalc cost -c gru -i 80 -H 256 --lengths 12,30,7 -f json
    """
    from rnncalc.cost.model import DType
    from rnncalc.cost.model import cost as compute
    from rnncalc.cost.render import CostFormat, render_cost

    spec = spec_from_flags(flags)
    try:
        report = compute(spec, _parse_lengths(lengths_text), DType(dtype.lower()))
    except SpecError as error:
        raise _usage(error) from None
    emit(render_cost(report, CostFormat(fmt.lower())))


def _budget(kind: str) -> Callable[[click.Context, click.Parameter, str | None], int | None]:
    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
        if value is None:
            return None
        from rnncalc.core.units import parse_bytes, parse_count

        try:
            return parse_bytes(param.name or kind, value) if kind == "bytes" else parse_count(kind, value)
        except SpecError as error:
            raise click.BadParameter(error.message, ctx, param) from None

    return convert


@click.command(cls=RnncalcCommand)
@spec_options_without("hidden_size")
@_framework_option
@click.option(
    "--max-params", callback=_budget("count"), metavar="N", help="Parameter budget: 1M, 250k, 1_000_000."
)
@click.option(
    "--max-flops", callback=_budget("count"), metavar="N", help="FLOPs budget for the batch: 1.5G, 800M."
)
@click.option(
    "--max-memory", callback=_budget("bytes"), metavar="SIZE", help="Memory budget: 512MiB, 2GB, 1.5G."
)
@click.option(
    "--memory-kind",
    type=click.Choice(("inference", "training"), case_sensitive=False),
    default="inference",
    show_default=True,
    help="What --max-memory bounds: parameters + inference activations, or parameters + "
    "gradients + BPTT activations.",
)
@_lengths_option
@_dtype_option
@format_option(("table", "json"), help=_FORMAT_HELP)
def solve(
    fmt: str,
    dtype: str,
    lengths_text: str | None,
    framework: str,
    max_params: int | None,
    max_flops: int | None,
    max_memory: int | None,
    memory_kind: str,
    **flags: Any,
) -> None:
    """The largest hidden size whose parameters, FLOPs and memory fit the budgets.

    Solves the quadratic in H exactly, then verifies with the calculator that the count at H
    fits and the count at H+1 does not.

    \b
    Examples:
      rnncalc solve --cell lstm -i 300 -l 2 --bi --max-params 1M --framework keras
      rnncalc solve -c gru -i 80 -b 32 -t 200 --max-flops 50G --max-memory 512MiB
    """
    from rnncalc.core.spec import Framework
    from rnncalc.cost.model import DType
    from rnncalc.cost.render import CostFormat, render_solution
    from rnncalc.cost.solve import MemoryKind, Metric
    from rnncalc.cost.solve import solve as solve_hidden

    budgets = {
        metric: limit
        for metric, limit in (
            (Metric.PARAMS, max_params),
            (Metric.FLOPS, max_flops),
            (Metric.MEMORY, max_memory),
        )
        if limit is not None
    }
    if not budgets:
        raise click.UsageError("give at least one budget: --max-params, --max-flops or --max-memory")
    placeholder = (flags.get("proj_size") or 0) + 1
    spec = spec_from_flags({**flags, "hidden_size": placeholder})
    try:
        solution = solve_hidden(
            spec,
            Framework(framework.lower()),
            budgets,
            _parse_lengths(lengths_text),
            DType(dtype.lower()),
            MemoryKind(memory_kind.lower()),
        )
    except SpecError as error:
        if error.field == "hidden_size":  # the solved size (or the one after it) is beyond the limits
            raise click.UsageError(
                f"the budgets allow a hidden size beyond what rnncalc accepts ({error.message}); "
                "give smaller budgets"
            ) from None
        raise _usage(error) from None
    emit(render_solution(solution, CostFormat(fmt.lower())))
    if solution.hidden is None:
        raise SystemExit(1)


@click.command(cls=RnncalcCommand)
@click.option(
    "--cell",
    "-c",
    "cells_text",
    required=True,
    metavar="CELLS",
    help="Comma-separated cells: rnn,lstm,gru.",
)
@click.option(
    "--hidden",
    "-H",
    "hidden_text",
    required=True,
    metavar="SIZES",
    help="Hidden sizes: 32,64,128, 64:1024:x2 (geometric) or 64:256:+64 (arithmetic).",
)
@spec_options_without("cell", "hidden_size")
@_framework_option
@_lengths_option
@_dtype_option
@format_option(("table", "json", "csv"), help=_FORMAT_HELP)
def sweep(
    fmt: str,
    dtype: str,
    lengths_text: str | None,
    framework: str,
    cells_text: str,
    hidden_text: str,
    **flags: Any,
) -> None:
    """Parameters, FLOPs and memory across a grid of cells and hidden sizes.

    \b
    Examples:
      rnncalc sweep --cell rnn,lstm,gru --hidden 32,64,128,256 -i 100
      rnncalc sweep -c lstm,gru -H 64:1024:x2 -i 100 -b 32 -t 50 -f csv
    """
    from rnncalc.core.spec import Framework, parse_cell
    from rnncalc.core.units import parse_int_range
    from rnncalc.cost.model import DType
    from rnncalc.cost.model import cost as compute
    from rnncalc.cost.render import SweepFormat, SweepRow, describe_workload, render_sweep
    from rnncalc.summary.render import describe_spec

    try:
        cells = list(dict.fromkeys(parse_cell(name) for name in cells_text.split(",") if name.strip()))
        sizes = parse_int_range("hidden_size", hidden_text, limit=MAX_SWEEP_ROWS)
    except SpecError as error:
        raise _usage(error) from None
    if not cells:
        raise click.UsageError("--cell: give at least one of rnn, lstm, gru")
    lengths = _parse_lengths(lengths_text)
    _check_sweep_size(len(cells) * len(sizes), len(lengths or ()))
    chosen = Framework(framework.lower())
    element = DType(dtype.lower())
    rows = []
    for cell in cells:
        for size in sizes:
            spec = spec_from_flags({**flags, "cell": cell, "hidden_size": size})
            try:
                report = compute(spec, lengths, element)
            except SpecError as error:
                raise _usage(error) from None
            rows.append(SweepRow(spec, report.framework(chosen), element))
    first = rows[0]
    head = (
        describe_spec(first.spec)
        .replace(f"{first.spec.cell.value}, ", "", 1)
        .replace(f"hidden {first.spec.hidden_size}", "hidden H")
        + f"; {framework}; "
        + describe_workload(first.cost.workload)
        + f"; {element.value}"
    )
    emit(render_sweep(rows, SweepFormat(fmt.lower()), head))


def _check_sweep_size(rows: int, lengths: int) -> None:
    """Refuse a sweep whose rows, or rows times lengths (each row costs every length), exceed
    the bounds of :mod:`rnncalc.core.limits` (about a second of work)."""
    from rnncalc.core.limits import MAX_SWEEP_ROWS, MAX_SWEEP_WORK

    if rows > MAX_SWEEP_ROWS:
        raise click.UsageError(f"--cell x --hidden make {rows:,} rows; at most {MAX_SWEEP_ROWS:,}")
    if rows * lengths > MAX_SWEEP_WORK:
        raise click.UsageError(
            f"--lengths: {rows:,} rows x {lengths:,} lengths is more than {MAX_SWEEP_WORK:,}; "
            "sweep fewer sizes or give fewer lengths"
        )
