"""``rnncalc cost``, ``rnncalc solve`` and ``rnncalc sweep``: compute, memory and sizing.

Pure arithmetic, no framework imported; the core modules are imported inside the command bodies
so ``rnncalc summary`` does not pay for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from rnncalc import frameworks
from rnncalc.cli.command import RnncalcCommand
from rnncalc.cli.options import (
    emit,
    files_argument,
    flag_for,
    format_option,
    frameworks_option,
    given_fields,
    message,
    spec_from_flags,
    spec_options,
    spec_options_without,
)
from rnncalc.cli.progress import progress, quiet_option
from rnncalc.core.errors import SpecError
from rnncalc.core.limits import MAX_SWEEP_ROWS, MAX_SWEEP_WORK

if TYPE_CHECKING:
    from rnncalc.core.model import Model

F = TypeVar("F", bound=Callable[..., Any])

#: The values of :class:`rnncalc.cost.model.DType` (a test keeps them equal), kept literal here so
#: registering these commands does not import the cost model.
DTYPE_CHOICES = ("float32", "float16", "bfloat16", "int8")
#: The values of :class:`rnncalc.cost.model.Optimizer` (a test keeps them equal).
OPTIMIZER_CHOICES = ("none", "sgd", "adam")

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


def _optimizer_option(command: F) -> F:
    return click.option(
        "--optimizer",
        type=click.Choice(OPTIMIZER_CHOICES, case_sensitive=False),
        default="none",
        show_default=True,
        help="Optimizer state counted in training memory: adam (2 × parameters), sgd with "
        "momentum (1 ×), none.",
    )(command)


_FORMAT_HELP = "Output format: tables for people, JSON for machines."
_SWEEP_FORMAT_HELP = "Output format: a table for people, JSON or CSV for machines."


def _framework_option(command: F) -> F:
    return click.option(
        "--framework",
        "-F",
        type=click.Choice(frameworks.names(), case_sensitive=False),
        default=frameworks.names()[0],
        show_default=True,
        help="Whose weight conventions to count (bias vectors differ).",
    )(command)


def _usage(error: SpecError) -> click.UsageError:
    flag = _EXTRA_FLAGS.get(error.field) or flag_for(error.field)
    return click.UsageError(f"{flag}: {error.message}")


def _models(files: tuple[str, ...], fields: dict[str, Any]) -> list[Model]:
    """The models of config files, with the command line's spec flags applied as summary does."""
    from rnncalc.core.model import override
    from rnncalc.io.config import BadEntry, read_sources

    models = []
    for entry in read_sources(list(files)):
        if isinstance(entry, BadEntry):
            raise entry.error
        try:
            models.append(override(entry.model, fields))
        except SpecError as error:
            raise _usage(error) from None
    return models


def _parse_lengths(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    from rnncalc.io.text import read_lengths

    try:
        return read_lengths("lengths", text)
    except SpecError as error:
        raise _usage(error) from None


@click.command(cls=RnncalcCommand)
@files_argument
@spec_options
@_lengths_option
@_dtype_option
@_optimizer_option
@format_option(("table", "json"), help=_FORMAT_HELP)
@frameworks_option
def cost(
    files: tuple[str, ...],
    fmt: str,
    dtype: str,
    optimizer: str,
    lengths_text: str | None,
    framework_names: tuple[str, ...],
    **flags: Any,
) -> None:
    """FLOPs, MACs and memory of a recurrent stack, per layer, direction and step.

    FILES are config files as for summary (YAML, JSON, TOML, JSONL, Keras model JSON; - for
    stdin), including models with an embedding and dense heads; flags override their fields.

    \b
    Examples:
      rnncalc cost -c lstm -i 300 -H 512 -l 2 --bi -b 32 -t 100
      rnncalc cost -c gru -i 80 -H 256 --lengths 12,30,7 -f json
      rnncalc cost examples/sentiment.yaml -b 32 -t 200
    """
    from rnncalc.cost.model import DType, Optimizer
    from rnncalc.cost.model import cost as compute
    from rnncalc.cost.render import CostFormat, render_many

    subjects: list[Any] = _models(files, given_fields(flags)) if files else [spec_from_flags(flags)]
    lengths = _parse_lengths(lengths_text)
    try:
        reports = [
            compute(subject, lengths, DType(dtype.lower()), Optimizer(optimizer.lower()), framework_names)
            for subject in subjects
        ]
    except SpecError as error:
        raise _usage(error) from None
    emit(render_many(reports, CostFormat(fmt.lower())))


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
@files_argument
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
    "gradients + optimizer state + the activations saved for backward.",
)
@_lengths_option
@_dtype_option
@_optimizer_option
@format_option(("table", "json"), help=_FORMAT_HELP)
def solve(
    files: tuple[str, ...],
    fmt: str,
    dtype: str,
    optimizer: str,
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
    fits and the count at H+1 does not. FILES are config files as for summary; in a model with
    several recurrent layers H is the hidden size of every one of them. Exit 0 when a hidden
    size fits every budget, 1 when none does (one line on stderr says which budget even the
    smallest H exceeds, and by how much).

    \b
    Examples:
      rnncalc solve --cell lstm -i 300 -l 2 --bi --max-params 1M --framework keras
      rnncalc solve -c gru -i 80 -b 32 -t 200 --max-flops 50G --max-memory 512MiB
      rnncalc solve examples/sentiment.yaml --max-params 3M
    """
    from rnncalc.cost.model import DType, Optimizer
    from rnncalc.cost.render import CostFormat, render_many, why_nothing_fits
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
    subjects: list[Any]
    if files:
        subjects = _models(files, given_fields(flags))
    else:
        placeholder = (flags.get("proj_size") or 0) + 1
        subjects = [spec_from_flags({**flags, "hidden_size": placeholder})]
    lengths = _parse_lengths(lengths_text)
    try:
        solutions = [
            solve_hidden(
                subject,
                framework.lower(),
                budgets,
                lengths,
                DType(dtype.lower()),
                MemoryKind(memory_kind.lower()),
                Optimizer(optimizer.lower()),
            )
            for subject in subjects
        ]
    except SpecError as error:
        if error.field == "hidden_size":  # the solved size (or the one after it) is beyond the limits
            raise click.UsageError(
                f"the budgets allow a hidden size beyond what rnncalc accepts ({error.message}); "
                "give smaller budgets"
            ) from None
        raise _usage(error) from None
    emit(render_many(solutions, CostFormat(fmt.lower())))
    reasons = [reason for reason in map(why_nothing_fits, solutions) if reason]
    for reason in reasons:
        message(f"rnncalc: {reason}")
    if reasons:
        raise SystemExit(1)


@click.command(cls=RnncalcCommand)
@files_argument
@click.option(
    "--cell",
    "-c",
    "cells_text",
    metavar="CELLS",
    help="Comma-separated cells: rnn,lstm,gru (required without FILES; with FILES, replaces every "
    "recurrent layer's cell).",
)
@click.option(
    "--hidden",
    "-H",
    "hidden_text",
    required=True,
    metavar="SIZES",
    help="Hidden sizes: 32,64,128, 64:1024:x2 (geometric) or 64:256:+64 (arithmetic); with FILES, "
    "every recurrent layer's.",
)
@spec_options_without("cell", "hidden_size")
@_framework_option
@_lengths_option
@_dtype_option
@_optimizer_option
@format_option(("table", "json", "csv"), help=_SWEEP_FORMAT_HELP)
@quiet_option
def sweep(
    files: tuple[str, ...],
    fmt: str,
    quiet: bool,
    dtype: str,
    optimizer: str,
    lengths_text: str | None,
    framework: str,
    cells_text: str | None,
    hidden_text: str,
    **flags: Any,
) -> None:
    """Parameters, FLOPs and memory across a grid of cells and hidden sizes.

    FILES are config files as for summary: each model is swept with H as the hidden size of
    every recurrent layer (and --cell, if given, as every layer's cell).

    \b
    Examples:
      rnncalc sweep --cell rnn,lstm,gru --hidden 32,64,128,256 -i 100
      rnncalc sweep -c lstm,gru -H 64:1024:x2 -i 100 -b 32 -t 50 -f csv
      rnncalc sweep examples/sentiment.yaml -H 32:256:x2 -b 32 -t 200
    """
    from rnncalc.core.spec import parse_cell
    from rnncalc.core.units import parse_int_range
    from rnncalc.cost.model import DType, Optimizer
    from rnncalc.cost.model import cost as compute
    from rnncalc.cost.render import (
        SweepFormat,
        SweepRow,
        describe_hidden_h,
        describe_optimizer,
        describe_workload,
        render_sweeps,
    )
    from rnncalc.cost.solve import with_hidden

    try:
        names = (cells_text or "").split(",")
        cells = list(dict.fromkeys(parse_cell(name) for name in names if name.strip()))
        sizes = parse_int_range("hidden_size", hidden_text, limit=MAX_SWEEP_ROWS)
    except SpecError as error:
        raise _usage(error) from None
    if not cells and not files:
        raise click.UsageError("--cell: give at least one of rnn, lstm, gru")
    lengths = _parse_lengths(lengths_text)
    chosen = framework.lower()
    element = DType(dtype.lower())
    state = Optimizer(optimizer.lower())
    # (base, cell override) per table: flags make one base per cell, files one per model.
    bases: list[tuple[Any, dict[str, Any]]]
    if files:
        models = _models(files, given_fields(flags))
        bases = [(model, {"cell": cell}) for model in models for cell in cells]
        bases += [(model, {}) for model in models if not cells]
    else:
        bases = [(None, {"cell": cell}) for cell in cells]
    total = len(bases) * len(sizes)
    _check_sweep_size(total, len(lengths or ()), bool(files))
    tables: list[tuple[str, list[SweepRow]]] = []
    with progress(quiet) as status:
        for block, (base, fields) in enumerate(bases):
            rows = []
            for index, size in enumerate(sizes, start=block * len(sizes) + 1):
                status.count(index, total, what="specs")
                try:
                    if base is None:
                        subject: Any = spec_from_flags({**flags, **fields, "hidden_size": size})
                    else:
                        subject = with_hidden(_override(base, fields), size)
                    report = compute(subject, lengths, element, names=(chosen,))
                except SpecError as error:
                    raise _usage(error) from None
                rows.append(SweepRow(subject, report.framework(chosen), element, state))
            if base is None and tables:  # flag sweeps: one table, a block of rows per cell
                tables[0][1].extend(rows)
                continue
            first = rows[0]
            described = describe_hidden_h(first.spec)
            if base is None:
                described = described.replace(f"{fields['cell'].value}, ", "", 1)
            head = (
                described
                + f"; {framework}; "
                + describe_workload(first.cost.workload)
                + f"; {element.value}"
                + describe_optimizer(state)
            )
            tables.append((head, rows))
    emit(render_sweeps(tables, SweepFormat(fmt.lower())))


def _override(model: Model, fields: dict[str, Any]) -> Model:
    from rnncalc.core.model import override

    return override(model, fields) if fields else model


def _check_sweep_size(rows: int, lengths: int, from_files: bool) -> None:
    """Refuse a sweep whose rows, or rows times lengths (each row costs every length), exceed
    the bounds of :mod:`rnncalc.core.limits` (about a second of work)."""
    if rows > MAX_SWEEP_ROWS:
        made_by = "models x --cell x --hidden" if from_files else "--cell x --hidden"
        raise click.UsageError(f"{made_by} make {rows:,} rows; at most {MAX_SWEEP_ROWS:,}")
    if rows * lengths > MAX_SWEEP_WORK:
        raise click.UsageError(
            f"--lengths: {rows:,} rows x {lengths:,} lengths is more than {MAX_SWEEP_WORK:,}; "
            "sweep fewer sizes or give fewer lengths"
        )
