"""``rnncalc check``: judge budgets and expectations analytically, then cross-check the real
frameworks. Exit 0 when everything holds, 1 when something failed, 2 for bad input."""

from __future__ import annotations

from typing import Any

import click

from rnncalc.check.render import CheckFormat
from rnncalc.cli.command import RnncalcCommand
from rnncalc.cli.options import (
    FrameworkList,
    emit,
    files_argument,
    flag_for,
    frameworks_option,
    given_fields,
    max_file_size_option,
    message,
    spec_options_many,
    specs_from_flags,
)
from rnncalc.cli.progress import Progress, progress, quiet_option
from rnncalc.core.errors import SpecError
from rnncalc.core.limits import DEFAULT_MAX_FILE_SIZE
from rnncalc.core.units import parse_bytes, parse_count


class SizeType(click.ParamType):  # type: ignore[type-arg]
    """A count (``1M``, ``250k``, ``1_000_000``) or a byte size (``512MiB``, ``2GB``)."""

    def __init__(self, name: str, parse: Any, metavar: str) -> None:
        self.name = name
        self._parse = parse
        self._metavar = metavar

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self._metavar

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return int(self._parse(self.name, value))
        except SpecError as error:
            self.fail(error.message, param, ctx)


@click.command(cls=RnncalcCommand)
@files_argument
@spec_options_many
@click.option(
    "--against",
    type=FrameworkList(allow_none=True, registry_order=False),
    default=None,
    help="Real frameworks to cross-check: a comma list, all, or none (analytic checks only, "
    "imports no framework)  [default: every installed one of -F; all of -F with --require]",
)
@frameworks_option
@click.option(
    "--require",
    is_flag=True,
    help="Fail when a requested framework is skipped (not installed, or over --max-memory); for CI.",
)
@click.option(
    "--max-params",
    type=SizeType("max_params", parse_count, "N"),
    help="Parameter budget for every framework, e.g. 1M, 250k, 1_000_000.",
)
@click.option(
    "--max-memory",
    type=SizeType("max_memory", parse_bytes, "SIZE"),
    default="1GiB",
    show_default=True,
    help="Above this, frameworks with a meta device (PyTorch) build without memory, the others are "
    "skipped (512MiB, 2GB...).",
)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice([member.value for member in CheckFormat], case_sensitive=False),
    default=None,
    help="Output format: table (per-model detail), lines (one line per model), json (one "
    "document), jsonl (one object per model, streamed), github (Actions annotations)  "
    "[default: table for flags, lines for files]",
)
@quiet_option
@max_file_size_option
def check(
    files: tuple[str, ...],
    against: tuple[str, ...] | None,
    framework_names: tuple[str, ...],
    require: bool,
    max_params: int | None,
    max_memory: int,
    fmt: str | None,
    quiet: bool,
    max_file_size: int,
    **flags: Any,
) -> None:
    """Check a recurrent stack: budgets analytically, then every number against the real
    frameworks (total params, each weight's name and shape, each output and state shape).

    \b
    Examples:
      rnncalc check --cell lstm -i 300 -H 512 -l 2 --bi --against torch,keras
      rnncalc check --cell gru -i 10 -H 3 --against keras --format json
      rnncalc check -c lstm -i 300 -H 512 --max-params 2M --against none
      rnncalc check -c gru -i 32 -H 64,128,256 -l 1,2 --max-params 1M

    Several --input/--hidden/--layers values check every combination in one run
    (each framework is imported once).

    FILES are config files (YAML, JSON, TOML, JSONL, Keras model JSON; - for stdin), each
    holding one or more models with optional expect: blocks; flags override their fields as
    in summary. Every model is checked in one process; a bad input (a file, or one line of
    JSONL) is reported and the others still run. Exit 2 if any input was bad, else 1 if any
    check failed, else 0.
    """
    from rnncalc import frameworks as backends
    from rnncalc.check.model import CheckTarget, Expectations
    from rnncalc.check.render import render_check
    from rnncalc.check.run import CheckOptions, run_check
    from rnncalc.core.spec import describe_spec

    expectations = Expectations.budget(max_params) if max_params is not None else Expectations()
    if against is None:  # by default every installed one of -F; under --require, all of -F
        installed = backends.installed()
        against = tuple(name for name in framework_names if require or name in installed)
    status = progress(quiet)
    modules = [backends.get(name).module for name in against if backends.get(name).is_installed()]
    if files:
        options = CheckOptions(against, require, max_memory, framework_names)
        with status:
            status.importing(modules)
            code = check_files(
                files, flags, expectations, options, CheckFormat(fmt or "lines"), status, max_file_size
            )
        click.get_current_context().exit(code)
    fmt = fmt or "table"
    targets = [CheckTarget(describe_spec(spec), spec, None, expectations) for spec in specs_from_flags(flags)]
    frameworks = against
    options = CheckOptions(frameworks, require, max_memory, framework_names)
    try:
        with status:
            status.importing(modules)
            report = run_check(status.track(targets, "checked"), options)
    except SpecError as error:
        raise click.UsageError(f"{flag_for(error.field)}: {error.message}") from None
    text = render_check(report, CheckFormat(fmt))
    if text:
        emit(text)
    failures = report.failures()
    for line in failures:
        message(f"rnncalc: FAILED {line}")
    failed = sum(result.failed(report.require) for result in report.results)
    if failed:
        message(f"rnncalc: check failed: {failed} of {len(report.results)} model(s)")
    if not frameworks:
        message("rnncalc: no real framework checked (--against none or none installed)")
    click.get_current_context().exit(report.exit_code)


def file_overrides(flags: dict[str, Any]) -> dict[str, Any]:
    """Flag values that override the files' fields; several-valued flags take one value here."""
    fields = given_fields(flags)
    for name, value in list(fields.items()):
        if isinstance(value, tuple):
            numbers = [
                number for group in value for number in (group if isinstance(group, tuple) else (group,))
            ]
            if len(numbers) > 1:
                raise click.UsageError(f"{flag_for(name)}: takes one value with files, got {len(numbers)}")
            if numbers:
                fields[name] = numbers[0]
            else:
                del fields[name]
    return fields


def check_files(
    files: tuple[str, ...],
    flags: dict[str, Any],
    budget: Any,
    options: Any,
    fmt: CheckFormat,
    status: Progress | None = None,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
) -> int:
    """Check every model of every file in one process; return the exit status (0, 1 or 2).

    Lines, JSONL and GitHub output are written as each model is checked; table and JSON after
    the last. A bad file or JSONL line becomes an error record and the run goes on.
    """
    import json

    from rnncalc.check.model import CheckReport, CheckTarget, TargetResult
    from rnncalc.check.render import github_annotations, github_command, render_check, render_error_line
    from rnncalc.check.run import check_target
    from rnncalc.core.model import override
    from rnncalc.io.config import BadEntry, ConfigError, ModelEntry, iter_source
    from rnncalc.summary.render import to_json

    fields = file_overrides(flags)
    results: list[TargetResult] = []  # kept for the table and JSON formats only
    errors: list[ConfigError] = []
    checked = failed = 0
    streaming = fmt in (CheckFormat.LINES, CheckFormat.JSONL, CheckFormat.GITHUB)

    # Without a real framework each model takes microseconds: write the streamed lines in
    # batches (one flush per batch, not per line as click.echo does); with a framework, each
    # line as soon as its model is checked.
    pending: list[str] = []
    batched = streaming and not options.against and "-" not in files  # stdin: as results come

    status = status or Progress(enabled=False)

    def write(text: str) -> None:
        status.clear()
        if not batched:
            emit(text)
            return
        pending.append(text)
        if len(pending) >= _BATCH_LINES:
            emit("\n".join(pending))
            pending.clear()

    def bad(error: ConfigError) -> None:
        errors.append(error)
        where = f"{error.file}:{error.line}" if error.line is not None else error.file
        text = f"{error.key}: {error.message}" if error.key else error.message
        if fmt is CheckFormat.LINES:
            write(render_error_line(where, text))
        elif fmt is CheckFormat.JSONL:
            write(json.dumps(_error_record(error)))
        elif fmt is CheckFormat.GITHUB:
            write(github_command(error.file if error.file != "<stdin>" else None, error.line, text))
        else:
            message(f"rnncalc: error: {error}")

    for source in files:
        try:
            entries = iter_source(source, max_bytes=max_file_size)
        except ConfigError as error:
            bad(error)
            continue
        for entry in entries:
            if isinstance(entry, BadEntry):
                bad(entry.error)
                continue
            assert isinstance(entry, ModelEntry)
            try:
                model = override(entry.model, fields)
                target = CheckTarget(
                    entry.label,
                    model.layers[0],
                    entry.source,
                    entry.expectations().merged(budget),
                    None if model.is_flat else model,
                )
                result = check_target(target, options)
            except SpecError as error:
                key = (
                    f"{entry.key}.{error.field}"
                    if entry.key and not entry.key.startswith("line")
                    else error.field
                )
                bad(ConfigError(entry.file, entry.line, key, error.message))
                continue
            checked += 1
            status.count(checked, what="checked")
            failed += result.failed(options.require)
            if not streaming:
                results.append(result)
            if fmt is CheckFormat.LINES:
                from rnncalc.check.render import render_line

                write(render_line(result, options.require))
            elif fmt is CheckFormat.JSONL:
                write(json.dumps(result.to_dict(options.require)))
            elif fmt is CheckFormat.GITHUB:
                file = entry.file if entry.file != "<stdin>" else None
                lines = dict(entry.expect_lines)
                for line in github_annotations(result, options.require, file, entry.line, lines):
                    write(line)
    if pending:
        emit("\n".join(pending))
    report = CheckReport(tuple(results), options.require)
    if fmt is CheckFormat.JSON:
        document = report.to_dict()
        document["ok"] = document["ok"] and not errors
        document["errors"] = [_error_record(error) for error in errors]
        emit(to_json(document))
    elif not streaming and results:
        emit(render_check(report, fmt))
    total = checked + len(errors)
    if errors:
        message(f"rnncalc: {len(errors)} of {total} input(s) could not be checked")
    if failed:
        message(f"rnncalc: check failed: {failed} of {checked} model(s)")
    if not options.against:
        message("rnncalc: no real framework checked (--against none or none installed)")
    return 2 if errors else 1 if failed else 0


#: Streamed lines written per flush when no real framework is checked.
_BATCH_LINES = 256


def _error_record(error: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "file": error.file,
        "line": error.line,
        "key": error.key,
        "message": error.message,
        "error": str(error),
    }
